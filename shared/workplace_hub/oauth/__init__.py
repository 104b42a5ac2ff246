"""Employee account linking: OAuth clients per provider, the one-time state store, callback pages."""
