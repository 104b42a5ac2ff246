"""Credentials the hub holds and opens: companies' integration credentials and employees' OAuth grants."""
