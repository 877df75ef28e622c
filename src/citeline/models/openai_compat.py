"""Any OpenAI-compatible chat-completions endpoint: hosted APIs, vLLM, llama.cpp, Ollama.

``POST {base_url}/chat/completions``, JSON or server-sent events. Connect errors, timeouts,
429 and 5xx are retried ``llm.max_retries`` times with exponential backoff and jitter (a
``Retry-After`` header is respected up to :data:`RETRY_AFTER_CAP_S`); other 4xx are not.
``llm.timeout_s`` bounds each request, and a whole stream from first byte to ``[DONE]``.
The API key is sent as a Bearer token only; it never appears in an error, a repr or a log.
"""

from __future__ import annotations

import email.utils
import json
import logging
import queue
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx

from citeline.config import LLMSettings
from citeline.errors import (
    ConfigError,
    ModelError,
    ModelResponseError,
    ModelTimeoutError,
    ModelUnavailableError,
)

log = logging.getLogger("citeline.models")

BACKOFF_BASE_S = 0.25  # first retry after ~0.25 s, then 0.5, 1, … (each times a jitter of 0.5–1.0)
BACKOFF_CAP_S = 8.0
RETRY_AFTER_CAP_S = 30.0  # a longer Retry-After is waited this long, then retried
SNIPPET_CHARS = 200
_RETRY_STATUS = {408, 429}  # plus every 5xx
_HINTS = {401: " (check llm.api_key)", 403: " (check llm.api_key)", 404: " (check llm.base_url and llm.model)"}


@dataclass(slots=True)
class ChatResult:
    text: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str | None = None
    latency_ms: float = 0.0


class ChatStream(Iterator[str]):
    """Text deltas of one streamed completion; once exhausted, :attr:`result` holds the whole
    text, the model and the token usage (when the server sent it)."""

    def __init__(self, provider: OpenAICompatProvider, messages: list[dict]):
        self.result: ChatResult | None = None
        self._gen = provider._stream(messages, self)

    def __next__(self) -> str:
        return next(self._gen)

    def close(self) -> None:
        self._gen.close()


def _validate_url(value: str | None) -> str:
    if not value:
        raise ConfigError("llm.base_url is not set: point it at an OpenAI-compatible endpoint, "
                          "e.g. http://localhost:8080/v1")
    try:
        url = httpx.URL(value)
    except Exception:
        url = None
    if url is None or url.scheme not in ("http", "https") or not url.host:
        shown = value if url is None or not url.password else value.replace(url.password, "***")
        raise ConfigError(f"llm.base_url={shown!r} is not an http(s) URL; use e.g. http://localhost:8080/v1")
    return value.rstrip("/")


class OpenAICompatProvider:
    """Cheap to construct (settings are checked, nothing is connected); one ``httpx.Client``
    per provider, created on first use and released by :meth:`close`."""

    name = "openai-compat"

    def __init__(self, settings: LLMSettings, *, sleep=time.sleep):
        self.settings = settings
        self.base_url = _validate_url(settings.base_url)
        self.url = self.base_url + "/chat/completions"
        self.model = settings.model
        key = settings.api_key.get_secret_value() if settings.api_key is not None else ""
        self._key = key  # only ever placed in the Authorization header and used to redact
        self._sleep = sleep
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"OpenAICompatProvider(base_url={self.base_url!r}, model={self.model!r})"

    # ------------------------------------------------------------------------- lifecycle
    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    t = self.settings.timeout_s
                    headers = {"Accept": "application/json"}
                    if self._key:
                        headers["Authorization"] = f"Bearer {self._key}"
                    self._client = httpx.Client(timeout=httpx.Timeout(t, connect=min(t, 10.0)), headers=headers,
                                                follow_redirects=False)
        return self._client

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def __enter__(self) -> OpenAICompatProvider:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------------- public
    def chat(self, messages: list[dict]) -> ChatResult:
        t0 = time.perf_counter()
        resp = self._send(self._payload(messages, stream=False), stream=False)
        body = resp.text
        try:
            data = json.loads(body)
        except ValueError:
            raise ModelResponseError(f"model endpoint returned invalid JSON (HTTP {resp.status_code}): "
                                     f"{self._snippet(body)}", status=resp.status_code) from None
        try:
            return self._parse_completion(data, body, resp.status_code, t0)
        except (AttributeError, TypeError, ValueError):
            raise ModelResponseError(f"model response is not a chat completion: {self._snippet(body)}",
                                     status=resp.status_code) from None

    def stream(self, messages: list[dict]) -> ChatStream:
        """Iterate for text deltas; ``.result`` has the usage afterwards."""
        return ChatStream(self, messages)

    # ------------------------------------------------------------------------- internals
    def _payload(self, messages: list[dict], *, stream: bool) -> dict:
        s = self.settings
        payload = {"model": s.model, "messages": messages, "temperature": s.temperature, "max_tokens": s.max_tokens}
        if stream:
            payload["stream"] = True
            payload["stream_options"] = {"include_usage": True}
        return payload

    def _snippet(self, text: str) -> str:
        text = " ".join(text.split())
        if self._key:
            text = text.replace(self._key, "***")
        return text[:SNIPPET_CHARS] + ("…" if len(text) > SNIPPET_CHARS else "")

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), RETRY_AFTER_CAP_S)
        return min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**attempt) * random.uniform(0.5, 1.0)

    @staticmethod
    def _retry_after(resp: httpx.Response) -> float | None:
        value = resp.headers.get("retry-after")
        if not value:
            return None
        try:
            return float(value)
        except ValueError:
            pass
        try:
            return email.utils.parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError, IndexError):
            return None

    def _send(self, payload: dict, *, stream: bool) -> httpx.Response:
        """POST with retries; returns a 2xx response (unread when ``stream``)."""
        attempts = self.settings.max_retries + 1
        error: ModelError | None = None
        for attempt in range(attempts):
            retry_after = None
            try:
                request = self.client.build_request("POST", self.url, json=payload)
                resp = self.client.send(request, stream=stream)
            except httpx.TimeoutException:
                error = ModelTimeoutError(f"model endpoint timed out after {self.settings.timeout_s:g} s "
                                          f"({attempt + 1} attempt{'s' if attempt else ''})")
            except httpx.RequestError as e:  # connect, protocol, decoding errors
                what = "cannot connect" if isinstance(e, httpx.ConnectError) else "connection failed"
                error = ModelUnavailableError(f"model endpoint unavailable: {what} ({type(e).__name__}) "
                                              f"after {attempt + 1} attempt{'s' if attempt else ''}")
            else:
                if resp.status_code < 300:
                    return resp
                try:
                    body = resp.read().decode("utf-8", "replace")
                except httpx.HTTPError:
                    body = ""
                finally:
                    resp.close()
                status = resp.status_code
                if status not in _RETRY_STATUS and status < 500:
                    raise ModelResponseError(f"model endpoint rejected the request: HTTP {status}"
                                             f"{_HINTS.get(status, '')}: {self._snippet(body)}", status=status)
                retry_after = self._retry_after(resp)
                error = ModelUnavailableError(f"model endpoint unavailable: HTTP {status} after {attempt + 1} "
                                              f"attempt{'s' if attempt else ''}: {self._snippet(body)}",
                                              status=status)
            if attempt + 1 < attempts:
                wait = self._backoff(attempt, retry_after)
                log.warning("model call to %s failed (%s); retry %d/%d in %.2f s", self.base_url, error,
                            attempt + 1, attempts - 1, wait)
                self._sleep(wait)
        assert error is not None
        raise error

    def _parse_completion(self, data, body: str, status: int, t0: float) -> ChatResult:
        if isinstance(data, dict) and "error" in data and not data.get("choices"):
            raise ModelResponseError(f"model endpoint returned an error: {self._snippet(json.dumps(data['error']))}",
                                     status=status)
        choices = data.get("choices") if isinstance(data, dict) else None
        if not choices or not isinstance(choices, list) or not isinstance(choices[0], dict):
            raise ModelResponseError(f"model response has no choices: {self._snippet(body)}", status=status)
        message = choices[0].get("message") or {}
        text = message.get("content") if isinstance(message, dict) else None
        if not isinstance(text, str):
            raise ModelResponseError(f"model response has no message content: {self._snippet(body)}", status=status)
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        return ChatResult(text=text, model=str(data.get("model") or self.model),
                          prompt_tokens=_int(usage.get("prompt_tokens")),
                          completion_tokens=_int(usage.get("completion_tokens")),
                          finish_reason=choices[0].get("finish_reason"),
                          latency_ms=round((time.perf_counter() - t0) * 1000, 3))

    def _stream(self, messages: list[dict], sink: ChatStream) -> Iterator[str]:
        t0 = time.perf_counter()
        resp = self._send(self._payload(messages, stream=True), stream=True)
        deadline = time.monotonic() + self.settings.timeout_s
        if not resp.headers.get("content-type", "").startswith("text/event-stream"):
            try:  # a server that ignores "stream" sends one JSON reply
                body = resp.read().decode("utf-8", "replace")
            except httpx.TimeoutException:
                raise ModelTimeoutError(f"model endpoint timed out after {self.settings.timeout_s:g} s") from None
            except httpx.HTTPError as e:
                raise ModelUnavailableError(f"model endpoint unavailable: connection failed ({type(e).__name__})") \
                    from None
            finally:
                resp.close()
            try:
                result = self._parse_completion(json.loads(body), body, resp.status_code, t0)
            except ValueError:
                raise ModelResponseError(f"model endpoint returned neither events nor JSON: {self._snippet(body)}",
                                         status=resp.status_code) from None
            sink.result = result
            if result.text:
                yield result.text
            return
        parts: list[str] = []
        model, finish, usage = self.model, None, {}
        done = False
        for line in _lines_before(resp, deadline, self.settings.timeout_s):
            if not line.startswith("data:"):
                continue  # comments (": ping"), event names, ids
            data = line[5:].strip()
            if data == "[DONE]":
                done = True
                break
            try:
                event = json.loads(data)
            except ValueError:
                raise ModelResponseError(f"model stream sent invalid JSON: {self._snippet(data)}") from None
            if not isinstance(event, dict):
                raise ModelResponseError(f"model stream sent an unexpected event: {self._snippet(data)}")
            if "error" in event:
                raise ModelResponseError(f"model stream reported an error: {self._snippet(json.dumps(event['error']))}")
            try:
                model = event.get("model") or model
                usage = event.get("usage") or usage
                deltas = []
                for choice in event.get("choices") or []:
                    finish = choice.get("finish_reason") or finish
                    deltas.append((choice.get("delta") or {}).get("content"))
            except (AttributeError, TypeError):
                raise ModelResponseError(f"model stream sent an unexpected event: {self._snippet(data)}") from None
            for delta in deltas:
                if isinstance(delta, str) and delta:
                    parts.append(delta)
                    yield delta
        if not done and finish is None:
            raise ModelUnavailableError("model stream ended before [DONE]")
        tokens = usage if isinstance(usage, dict) else {}
        sink.result = ChatResult(text="".join(parts), model=str(model), prompt_tokens=_int(tokens.get("prompt_tokens")),
                                 completion_tokens=_int(tokens.get("completion_tokens")), finish_reason=finish,
                                 latency_ms=round((time.perf_counter() - t0) * 1000, 3))


_END = object()


def _int(value) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _lines_before(resp: httpx.Response, deadline: float, timeout_s: float) -> Iterator[str]:
    """Lines of a streamed response, raising :class:`ModelTimeoutError` at ``deadline``.

    A reader thread owns the response (reads, then closes it), so a server that trickles bytes
    cannot stretch the stream past the deadline: the caller stops waiting, and the thread ends
    at its next line or read timeout.
    """
    lines: queue.SimpleQueue = queue.SimpleQueue()
    stop = threading.Event()

    def pump() -> None:
        try:
            for line in resp.iter_lines():
                if stop.is_set():
                    break
                lines.put(line)
            lines.put(_END)
        except BaseException as e:  # noqa: BLE001 — handed to the caller
            lines.put(e)
        finally:
            resp.close()

    threading.Thread(target=pump, name="citeline-sse", daemon=True).start()
    try:
        while True:
            try:
                item = lines.get(timeout=max(deadline - time.monotonic(), 0.0))
            except queue.Empty:
                raise ModelTimeoutError(f"model endpoint timed out after {timeout_s:g} s (stream)") from None
            if item is _END:
                return
            if isinstance(item, httpx.TimeoutException):
                raise ModelTimeoutError(f"model endpoint timed out after {timeout_s:g} s (stream)") from None
            if isinstance(item, httpx.HTTPError):
                raise ModelUnavailableError(f"model stream broke off ({type(item).__name__})") from None
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
