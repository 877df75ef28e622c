"""One error tree. Every error says which stage raised it and what to do about it.

The HTTP layer (later) maps these types to status codes in one function; the CLI prints
``str(error)`` and exits non-zero.
"""

from __future__ import annotations


class CitelineError(Exception):
    """Root of every error citeline raises on purpose."""

    stage: str = "citeline"

    def __init__(self, message: str, *, stage: str | None = None, request_id: str | None = None):
        super().__init__(message)
        if stage is not None:
            self.stage = stage
        self.request_id = request_id

    def __str__(self) -> str:
        return super().__str__()


class ConfigError(CitelineError):
    stage = "config"


class StoreError(CitelineError):
    stage = "store"


class NotFoundError(CitelineError):
    stage = "store"


class ExtractionError(CitelineError):
    """A file could not be turned into text. The message is the one-line reason stored."""

    stage = "extract"


class EncryptedFileError(ExtractionError):
    pass


class UnsupportedFileError(ExtractionError):
    pass


class FileTooLargeError(ExtractionError):
    pass


class MissingDependencyError(CitelineError):
    """An optional package or model is not installed; the message names what to install."""

    stage = "setup"


class EmbeddingError(CitelineError):
    stage = "embed"


class ModelError(CitelineError):
    """A language-model endpoint failed; the answer falls back to the extractive path.

    ``status`` is the HTTP status when the server answered. Messages never hold the API key.
    """

    stage = "model"

    def __init__(self, message: str, *, status: int | None = None, stage: str | None = None,
                 request_id: str | None = None):
        super().__init__(message, stage=stage, request_id=request_id)
        self.status = status


class ModelTimeoutError(ModelError):
    """No complete answer within ``llm.timeout_s`` (after retries)."""


class ModelUnavailableError(ModelError):
    """Cannot connect, or the server kept answering 429/5xx after retries."""


class ModelResponseError(ModelError):
    """The server refused the request (4xx) or answered with something that is not a chat completion."""


class RequestError(CitelineError):
    """A request the server refuses; ``status`` is the HTTP status it maps to."""

    stage = "server"
    status = 400


class AuthError(RequestError):
    """No credentials, or an unknown, malformed or revoked key."""

    status = 401


class ForbiddenError(RequestError):
    status = 403


class RateLimitError(RequestError):
    status = 429

    def __init__(self, message: str, *, retry_after_s: float, **kw):
        super().__init__(message, **kw)
        self.retry_after_s = retry_after_s


class PayloadTooLargeError(RequestError):
    status = 413


class UnsupportedMediaError(RequestError):
    status = 415


class EvalError(CitelineError):
    """A dataset, run, label file or comparison that cannot be used; the message says where and why."""

    stage = "evaluate"
