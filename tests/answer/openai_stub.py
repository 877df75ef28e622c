"""A real local HTTP server that speaks the OpenAI chat-completions protocol, scripted per test.

Each POST to ``/v1/chat/completions`` takes the next scripted :class:`Reply` (or a function of
the recorded request that returns one); when the script is empty the default reply is used.
Every request is recorded (path, headers, JSON body) for assertions.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Reply:
    kind: str = "json"  # json | sse | status | hang | raw
    text: str = ""
    status: int = 200
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    chunks: list[str] = field(default_factory=list)
    usage: dict | None = None
    hang_s: float = 0.0  # hang: before answering; sse: after the first chunk
    content_type: str = "application/json"


def completion(text: str, *, prompt_tokens: int = 120, completion_tokens: int = 30) -> Reply:
    return Reply("json", text=text, usage={"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                                           "total_tokens": prompt_tokens + completion_tokens})


def sse(chunks: list[str], *, usage: dict | None = None, hang_after_first_s: float = 0.0) -> Reply:
    return Reply("sse", chunks=chunks, usage=usage, hang_s=hang_after_first_s)


def status(code: int, body: str = '{"error": {"message": "scripted failure"}}', **headers: str) -> Reply:
    return Reply("status", status=code, body=body, headers=headers)


def hang(seconds: float) -> Reply:
    return Reply("hang", hang_s=seconds, text="too late")


def raw(body: str, content_type: str = "application/json") -> Reply:
    return Reply("raw", body=body, content_type=content_type)


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: dict

    @property
    def user_prompt(self) -> str:
        return next(m["content"] for m in self.body["messages"] if m["role"] == "user")

    @property
    def system_prompt(self) -> str:
        return next(m["content"] for m in self.body["messages"] if m["role"] == "system")

    def source_number(self, needle: str) -> int:
        """The [n] of the first prompt source whose text contains ``needle``."""
        for block in self.user_prompt.split("\n\n["):
            m = re.match(r"\[?(\d+)\] ", block)
            if m and needle.lower() in block.lower():
                return int(m.group(1))
        raise AssertionError(f"no source in the prompt contains {needle!r}")


Script = Reply | Callable[[Recorded], Reply]


class OpenAIStub:
    MODEL = "stub-model-1"

    def __init__(self) -> None:
        self.script: deque[Script] = deque()
        self.default: Script = completion("NOT_IN_SOURCES")
        self.requests: list[Recorded] = []
        self._stop = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> OpenAIStub:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()

    def reset(self) -> None:
        self.script.clear()
        self.requests.clear()
        self.default = completion("NOT_IN_SOURCES")

    def push(self, *replies: Script) -> None:
        self.script.extend(replies)

    # --------------------------------------------------------------------------------
    def _next(self, req: Recorded) -> Reply:
        item = self.script.popleft() if self.script else self.default
        return item(req) if callable(item) else item

    def _handler(self):
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def do_POST(self) -> None:  # noqa: N802 — http.server's naming
                data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body = json.loads(data)
                except ValueError:
                    body = {}
                req = Recorded(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                stub.requests.append(req)
                if self.path != "/v1/chat/completions":
                    return self._send(404, json.dumps({"error": {"message": f"no route {self.path}"}}))
                reply = stub._next(req)
                try:
                    self._play(reply, body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeouts): fine

            def _send(self, code: int, body: str, content_type: str = "application/json",
                      headers: dict[str, str] | None = None) -> None:
                raw_body = body.encode()
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(raw_body)))
                for k, v in (headers or {}).items():
                    self.send_header(k.replace("_", "-"), v)
                self.end_headers()
                self.wfile.write(raw_body)

            def _play(self, r: Reply, body: dict) -> None:
                model = stub.MODEL
                if r.kind == "hang":
                    stub._stop.wait(r.hang_s)
                    r = completion(r.text)
                if r.kind in ("json", "hang"):
                    doc = {"id": "chatcmpl-1", "object": "chat.completion", "created": int(time.time()), "model": model,
                           "choices": [{"index": 0, "message": {"role": "assistant", "content": r.text},
                                        "finish_reason": "stop"}], "usage": r.usage}
                    return self._send(200, json.dumps(doc))
                if r.kind == "status":
                    return self._send(r.status, r.body, headers=r.headers)
                if r.kind == "raw":
                    return self._send(200, r.body, r.content_type)
                # sse
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.end_headers()
                self.wfile.write(b": keep-alive\n\n")
                for i, piece in enumerate(r.chunks):
                    event = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": model,
                             "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
                    self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                    self.wfile.flush()
                    if i == 0 and r.hang_s:
                        stub._stop.wait(r.hang_s)
                end = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": model,
                       "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
                self.wfile.write(f"data: {json.dumps(end)}\n\n".encode())
                if r.usage and (body.get("stream_options") or {}).get("include_usage"):
                    last = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": model, "choices": [],
                            "usage": r.usage}
                    self.wfile.write(f"data: {json.dumps(last)}\n\n".encode())
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()

        return Handler
