"""Credentials the hub holds for others: employees' OAuth grants (refreshed and stored)."""
