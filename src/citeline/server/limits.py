"""ASGI middleware: a request id on every request and response, and request-body size limits.

Bodies are limited while they arrive (``Content-Length`` is checked first, then the bytes
actually received), so an oversized upload is refused with 413 before it fills a disk.
"""

from __future__ import annotations

import json
import uuid

from citeline.errors import PayloadTooLargeError


def _limit_text(n_bytes: int) -> str:
    return f"{n_bytes / 1024 / 1024:g} MB" if n_bytes >= 1024 * 1024 else f"{n_bytes // 1024} KB"


class RequestIdMiddleware:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        rid = incoming if incoming.isalnum() and len(incoming) <= 64 else uuid.uuid4().hex[:16]
        scope.setdefault("state", {})["request_id"] = rid

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        await self.app(scope, receive, send_wrapper)


class BodyLimitMiddleware:
    def __init__(self, app, *, default_kb: int, upload_mb: float, upload_paths: tuple[str, ...]):
        self.app = app
        self.default = default_kb * 1024
        self.upload = int(upload_mb * 1024 * 1024)
        self.upload_paths = upload_paths

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        is_upload = scope["path"] in self.upload_paths
        limit = self.upload + 64 * 1024 if is_upload else self.default  # multipart framing on top of the file
        shown = self.upload if is_upload else self.default
        what = "upload" if is_upload else "request body"
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            await _reject(send, f"{what} is larger than the limit of {_limit_text(shown)}")
            return
        received = 0

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise PayloadTooLargeError(f"{what} is larger than the limit of {_limit_text(shown)}")
            return message

        await self.app(scope, limited_receive, send)


async def _reject(send, message: str) -> None:
    body = json.dumps({"error": {"type": "PayloadTooLargeError", "message": message, "stage": "server"}}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
