"""Employees linking their accounts: the OAuth flows, the one-time state, the callback pages and LINE follow events."""
