"""Spend reports (LiteLLM's ``/spend/logs``, ``/spend/tags``, ``/global/spend/report``),
read from the spend records. The admin reads everything; a virtual key reads
its own spend logs only, whatever it asks for. Dates are ISO dates or
date-times (UTC when no zone is given); spend logs page by a keyset cursor.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ...errors import BadRequestError
from ..http import context
from .responses import json_response


def make_spend_routes(run, records, require_admin, paging, token_hash) -> list[tuple[str, Any, list[str], str]]:
    """The routes, given the management module's database runner and helpers."""

    async def spend_logs(request: Request) -> Response:
        principal = context(request.scope).principal
        query = request.query_params
        api_key = query.get("api_key")
        if principal is not None and not principal.is_admin:
            api_key = principal.key_hash  # a key sees its own spend, whatever it asks
        page, size = paging(request)
        start, end = _date(query.get("start_date"), "start_date"), _date(query.get("end_date"), "end_date")
        rows = await run(lambda: records().spend_logs(
            api_key=token_hash(api_key) if api_key else None, user_id=query.get("user_id"),
            team_id=query.get("team_id"), end_user=query.get("end_user"), start=start, end=end,
            request_id=query.get("request_id") or None, model=query.get("model") or None, page=page, size=size,
            after=_cursor(query.get("after"))))
        response = json_response(rows)
        if len(rows) == size:  # keyset paging: pass this back as ?after= for the next page
            last = rows[-1]
            response.headers["x-polyrelay-next-cursor"] = f"{last['start_time'].isoformat()}|{last['request_id']}"
        return response

    async def spend_tags(request: Request) -> Response:
        require_admin(request)
        query = request.query_params
        rows = await run(lambda: records().spend_by_tag(start=_date(query.get("start_date"), "start_date"),
                                                      end=_date(query.get("end_date"), "end_date")))
        return json_response(rows)

    async def spend_report(request: Request) -> Response:
        require_admin(request)
        query = request.query_params
        group_by = {"team": "team_id", "customer": "end_user", "api_key": "api_key", "user": "user_id",
                    "model": "model_group"}.get(query.get("group_by", "team"))
        if group_by is None:
            raise BadRequestError("group_by must be one of team, customer, api_key, user, model", param="group_by")
        rows = await run(lambda: records().spend_report(group_by=group_by, start=_date(query.get("start_date"),
                                                                                      "start_date"),
                                                      end=_date(query.get("end_date"), "end_date")))
        return json_response(rows)

    return [
        ("/spend/tags", spend_tags, ["GET"], "Spend and request counts per tag"),
        ("/spend/logs", spend_logs, ["GET"],
         "Spend records (filter by request id, key, user, team, end user, model, dates)"),
        ("/global/spend/report", spend_report, ["GET"], "Spend totals grouped by team, customer, key, user or model"),
    ]


def _cursor(value: str | None) -> tuple[datetime, str] | None:
    """``?after=<start_time>|<request_id>``, as the x-polyrelay-next-cursor header gave it."""
    if not value:
        return None
    at, sep, request_id = value.partition("|")
    parsed = _date(at, "after") if sep and request_id else None
    if parsed is None:
        raise BadRequestError("after must be the x-polyrelay-next-cursor header of the previous page", param="after")
    return parsed, request_id


def _date(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise BadRequestError(f"{name} must be a date (YYYY-MM-DD) or ISO date-time", param=name) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
