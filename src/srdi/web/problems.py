"""RFC 9457 problem details: every error the web app answers is one of these (never a trace)."""
from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

PROBLEM_TYPE = "application/problem+json"

_TITLES = {400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 409: "Conflict",
           413: "Content Too Large", 415: "Unsupported Media Type", 422: "Unprocessable Content",
           429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}


def problem(status: int, detail: str, *, title: str | None = None, errors: list[dict] | None = None,
            type_: str = "about:blank", headers: dict | None = None, **extra: Any) -> Response:
    body: dict[str, Any] = {"type": type_, "title": title or _TITLES.get(status, "Error"), "status": status,
                            "detail": detail}
    if errors is not None:
        body["errors"] = errors
    body.update(extra)
    return Response(json.dumps(body, ensure_ascii=False, default=str), status_code=status,
                    media_type=PROBLEM_TYPE, headers=headers)


def field_error(path: str, detail: str, detail_zh: str | None = None) -> dict:
    """One entry of ``errors``: the JSON path of the field (dotted, from the request body root)."""
    return {"path": path, "detail": detail, "detail_zh": detail_zh or detail}
