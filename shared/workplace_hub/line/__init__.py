"""LINE: the Messaging API sender, LINE Login and the webhook events format."""
