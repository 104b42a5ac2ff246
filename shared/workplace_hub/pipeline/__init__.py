"""The event pipeline: the router (events → delivery records + send jobs) and the delivery workers."""
