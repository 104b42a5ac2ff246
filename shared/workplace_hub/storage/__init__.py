"""DynamoDB repositories, one module per table (settings, links, absences, deliveries, rate limits) and their keys."""
