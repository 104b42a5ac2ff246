"""WORKPLACE integration hub: delivers WORKPLACE workflow events to messengers and calendars."""
