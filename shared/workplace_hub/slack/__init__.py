"""Slack: the chat.postMessage sender."""
