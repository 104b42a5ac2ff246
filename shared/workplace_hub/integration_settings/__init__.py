"""What an admin can configure per integration: each vendor's fields, their checks and masking, the admin's
updates and the settings as they apply now."""
