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
