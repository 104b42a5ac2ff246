"""Unit tests of the absence calendar clients (one module per calendar provider)."""
