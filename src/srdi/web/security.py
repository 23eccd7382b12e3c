"""Hardening: security headers and request-size limits (pure ASGI middleware)."""
from __future__ import annotations

import json

# No inline scripts or styles anywhere: every script and stylesheet is a file under /static.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
       "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
       "frame-ancestors 'none'")

# The cultivation workflow's server-rendered pages (/cycle, srdi.workflow.web) carry inline styles:
# there, and only there, inline styles (never scripts) are allowed.
CSP_INLINE_STYLES = CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
INLINE_STYLE_PREFIXES = ("/cycle",)

SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]

_SECURITY_NAMES = frozenset(h for h, _ in SECURITY_HEADERS)

# Request bodies: 1 MiB for JSON and forms; uploads have their own (larger) limit.
MAX_BODY = 1 * 1024 * 1024
MAX_UPLOAD_BODY = 10 * 1024 * 1024 + 64 * 1024  # the file limit plus multipart overhead
UPLOAD_PATHS = ("/api/v1/batch",)


class SecurityHeaders:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in _SECURITY_NAMES]
                if scope["path"].startswith(INLINE_STYLE_PREFIXES):
                    headers.append((b"content-security-policy", CSP_INLINE_STYLES.encode()))
                    headers.extend(h for h in SECURITY_HEADERS if h[0] != b"content-security-policy")
                else:
                    headers.extend(SECURITY_HEADERS)
                if scope["path"].startswith("/api/"):
                    headers.append((b"cache-control", b"no-store"))
                elif scope["path"].startswith("/static/vendor/"):
                    headers.append((b"cache-control", b"public, max-age=86400"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_wrapper)


async def _send_413(send, limit: int):
    body = json.dumps({"type": "about:blank", "title": "Content Too Large", "status": 413,
                       "detail": f"request body larger than {limit} bytes"}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")] + SECURITY_HEADERS})
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """Refuse bodies over the limit: by Content-Length up front, and by counting as they stream."""

    def __init__(self, app, max_body: int = MAX_BODY, max_upload: int = MAX_UPLOAD_BODY):
        self.app = app
        self.max_body = max_body
        self.max_upload = max_upload

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.max_upload if scope["path"].rstrip("/") in UPLOAD_PATHS else self.max_body
        for k, v in scope.get("headers", []):
            if k == b"content-length":
                try:
                    n = int(v)
                except ValueError:
                    n = limit + 1
                if n > limit:
                    return await _send_413(send, limit)
        seen = 0
        over = False
        replaced = False

        async def receive_wrapper():
            nonlocal seen, over
            if over:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    over = True
                    return {"type": "http.disconnect"}
            return message

        async def send_wrapper(message):
            nonlocal replaced
            if over:
                # Whatever the app answers to a cut-off body, the client gets a 413 problem.
                if not replaced and message["type"] == "http.response.start":
                    replaced = True
                    await _send_413(send, limit)
                return
            await send(message)

        try:
            await self.app(scope, receive_wrapper, send_wrapper)
        except Exception:
            if over:
                if not replaced:
                    await _send_413(send, limit)
                return
            raise
