"""NAVER WORKS API 1.0 bot push and its daily push quota (429 `QUOTA_EXCEEDED` past it until 00:00 JST)."""

from __future__ import annotations

from typing import Any

from infra.sandbox.base import ControlError, Request, Response
from infra.sandbox.naver_works.bots import content_error
from infra.sandbox.naver_works.state import NaverWorksState, legacy_error
from infra.sandbox.naver_works.tenants import Tenant, jst_day


class LegacyApi(NaverWorksState):
    """`legacy/r/{apiId}/message/v1/bot/{botId}/message/push` and the `legacy_quota` control route."""

    def _legacy_push(self, request: Request, tenant: Tenant, params: dict[str, str]) -> Response:
        if params["api_id"] != tenant.api_id or request.header("consumerKey") != tenant.consumer_key:
            return legacy_error(401, "UNAUTHORIZED", "invalid API ID or consumerKey")
        if self._bot(tenant, params["bot_id"]) is None:
            return legacy_error(400, "NONEXISTENT_BOT", "Bot not found")
        body = self._json(request)
        account = body.get("accountId")
        if account not in tenant.users:
            return legacy_error(400, "BAD_REQUEST", f'Bad Request Parameters: Cannot find "{account}"')
        problem = content_error(body.get("content"))
        if problem:
            return legacy_error(400, "BAD_REQUEST", problem)
        with self._lock:
            day = jst_day()
            if tenant.legacy_pushes.get(day, 0) >= tenant.legacy_daily_quota():
                return legacy_error(429, "QUOTA_EXCEEDED", "daily message push quota exceeded")
            tenant.legacy_pushes[day] = tenant.legacy_pushes.get(day, 0) + 1
        self._deliver("1.0", tenant, params["bot_id"], account, body["content"])
        return Response(200)

    def _legacy_quota(self, data: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            tenant = self.tenants.get(str(data.get("domain_id") or ""))
            if tenant is None:
                raise ControlError("domain_id of a registered tenant is required")
            if "quota" in data:
                quota = data["quota"]
                if quota is not None and (isinstance(quota, bool) or not isinstance(quota, int) or quota < 0):
                    raise ControlError("quota must be a non-negative integer or null")
                tenant.legacy_quota = quota
            if data.get("reset"):
                tenant.legacy_pushes.clear()
            return {"quota": tenant.legacy_daily_quota(), "used": tenant.legacy_pushes.get(jst_day(), 0)}
