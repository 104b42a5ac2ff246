"""The deliveries table as the functions use it: one object for its claims, its log and its listings.

One record per event × recipient × channel (storage/delivery_records.py); claims make sending at-most-once
(delivery_claims.py), the log records what became of each (delivery_log.py), the API pages through it
(delivery_listing.py).
"""

from __future__ import annotations

from workplace_hub.storage.delivery_claims import DeliveryClaims
from workplace_hub.storage.delivery_listing import DeliveryListing
from workplace_hub.storage.delivery_log import DeliveryLog


class DeliveriesRepository(DeliveryClaims, DeliveryLog, DeliveryListing):
    """Reads and writes the deliveries table; the table resource is injected."""
