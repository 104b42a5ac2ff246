"""DynamoDB repositories: company settings, employee links and the delivery log."""
