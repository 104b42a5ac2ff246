"""Google: the Chat webhook sender, the Calendar client, OAuth (user consent and service-account delegation)."""
