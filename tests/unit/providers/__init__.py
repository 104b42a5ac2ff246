"""Unit tests of the provider senders (one module per provider)."""
