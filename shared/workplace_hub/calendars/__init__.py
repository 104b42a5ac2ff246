"""Absence calendar registration: one client module per calendar provider."""
