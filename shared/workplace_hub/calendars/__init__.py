"""Absence calendar registration: reconciling one absence, the writers, the worker, options and admin checks."""
