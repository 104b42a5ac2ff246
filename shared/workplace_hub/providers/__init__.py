"""One interface per kind of provider: messengers (`messenger.py`) and employees' OAuth clients (`oauth.py`)."""
