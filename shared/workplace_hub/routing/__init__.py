"""From WORKPLACE events to work: the router and the pure per-recipient delivery plan."""
