"""`/admin/failures`: a company's permanently failed deliveries and dead-lettered messages, and their replay.

A failure is replayable when the stage that gave up kept what to try again: a failed delivery (any reason
but `outcome_unknown`, which may have been sent) or a dead letter that was not the message's own fault.
Replay is idempotent: it takes each failure with a conditional write, so a delivery already replayed, sent
since, or replayed twice at once is put back on its queue once at most; the senders' claims do the rest.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from workplace_hub.api.auth import require_admin
from workplace_hub.api.errors import ADMIN, BODY, responses
from workplace_hub.api.services import ApiServices
from workplace_hub.clock import utc_iso
from workplace_hub.events import EVENT_ID_PATTERN, ITEM_PATTERN, Timestamp
from workplace_hub.observability import logger
from workplace_hub.storage.delivery_records import DeliveryKey, DeliveryStatus

Limit = Annotated[int, Query(ge=1, le=200)]
EventId = Annotated[str | None, Query(pattern=EVENT_ID_PATTERN)]
Item = Annotated[str | None, Query(pattern=ITEM_PATTERN)]
Channel = Annotated[str | None, Query(pattern=r"^[a-z_]{1,40}$")]
Moment = Annotated[Timestamp | None, Query()]  # RFC 3339 text, not a Unix time
NextToken = Annotated[str | None, Query(max_length=2048)]
REPLAY_PAGE = 100


class ReplayRequest(BaseModel):
    """Which failures to replay; all filters together (none: every replayable failure, newest first)."""

    model_config = ConfigDict(extra="forbid")

    event_id: str | None = Field(default=None, pattern=EVENT_ID_PATTERN)
    item: str | None = Field(default=None, pattern=ITEM_PATTERN)
    channel: str | None = Field(default=None, pattern=r"^[a-z_]{1,40}$", description="a channel or a stage")
    since: Timestamp | None = None
    until: Timestamp | None = None
    dry_run: StrictBool = Field(default=False, description="only say what would be replayed")
    limit: int = Field(default=100, ge=1, le=1000, description="replay at most this many")


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else utc_iso(moment)


def _key(company_id: str, failure: dict[str, Any]) -> DeliveryKey:
    return DeliveryKey(company_id, failure["event_id"], failure["user_id"], failure["channel"])


def register(app: APIGatewayHttpResolver, services: ApiServices) -> None:
    @app.get("/admin/failures", tags=["admin"], responses=responses(400, *ADMIN))
    def list_failures(
        event_id: EventId = None,
        item: Item = None,
        channel: Channel = None,
        since: Moment = None,
        until: Moment = None,
        limit: Limit = 50,
        next_token: NextToken = None,
    ) -> dict:
        """Failed deliveries (`status: failed`) and dead letters (`status: dead_lettered`, `channel:
        dead_letter:<stage>:<id>`), newest first, each with its reason and whether it can be replayed."""
        admin = require_admin(app, services.token_verifier)
        failures, token = services.deliveries.failures(
            admin.company_id,
            event_id=event_id,
            item=item,
            channel=channel,
            since=_iso(since),
            until=_iso(until),
            limit=limit,
            next_token=next_token,
        )
        return {"failures": failures, "next_token": token}

    @app.post("/admin/failures/replay", tags=["admin"], responses=responses(*ADMIN, *BODY))
    def replay_failures(request: ReplayRequest) -> dict:
        """Put the matching replayable failures back on their queues (or, with `dry_run`, list them)."""
        admin = require_admin(app, services.token_verifier)
        chosen: list[dict[str, Any]] = []
        not_replayable = 0
        token: str | None = None
        while len(chosen) < request.limit:
            page, token = services.deliveries.failures(
                admin.company_id,
                event_id=request.event_id,
                item=request.item,
                channel=request.channel,
                since=_iso(request.since),
                until=_iso(request.until),
                limit=REPLAY_PAGE,
                next_token=token,
            )
            for failure in page:
                if not failure.get("replayable"):
                    not_replayable += 1
                elif len(chosen) < request.limit:
                    chosen.append(failure)
            if token is None:
                break
        replayed: list[dict[str, Any]] = []
        if not request.dry_run:
            replayed = [f for f in chosen if _replay_one(services, admin.company_id, f)]
        logger.info(
            "failures replayed",
            extra={"matched": len(chosen), "replayed": len(replayed), "dry_run": request.dry_run},
        )
        listed = chosen if request.dry_run else replayed
        return {
            "dry_run": request.dry_run,
            "matched": len(chosen),
            "replayed": len(replayed),
            "not_replayable": not_replayable,
            "failures": [
                {name: f.get(name) for name in ("event_id", "user_id", "channel", "item", "reason")} for f in listed
            ],
        }


def _replay_one(services: ApiServices, company_id: str, failure: dict[str, Any]) -> bool:
    """Take the failure (conditional) and enqueue its replay; False when another replay took it first."""
    key = _key(company_id, failure)
    replay = services.deliveries.reopen(key)
    if replay is None:
        return False
    try:
        services.replay_queues.send(replay.queue, replay.body)
    except Exception:
        # Not enqueued: the failure stays a failure, replayable, with the reason the replay did not go.
        status = DeliveryStatus(failure["status"])
        services.deliveries.restore(key, status, failure.get("reason") or "replay_failed", replay)
        logger.exception("replay not enqueued", extra={"channel": failure["channel"]})
        return False
    return True
