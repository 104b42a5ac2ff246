"""Delivering send jobs: the sender worker, the registry of senders and the AlimTalk results worker."""
