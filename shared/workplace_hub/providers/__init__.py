"""One interface per kind of provider: messengers (`messenger.py`) and OAuth token sets (`oauth.py`)."""
