"""citeline: a self-hosted document assistant that answers with citations.

The public API is what ``__all__`` lists; everything else is internal. Heavy modules load on
first use, so ``import citeline`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Settings": "citeline.config",
    "load_settings": "citeline.config",
    "CitelineError": "citeline.errors",
    "Principal": "citeline.contracts",
    "Chunk": "citeline.contracts",
    "DocumentRecord": "citeline.contracts",
    "SearchHit": "citeline.contracts",
    "Store": "citeline.contracts",
    "Embedder": "citeline.contracts",
    "SqliteStore": "citeline.store.sqlite",
    "open_store": "citeline.store",
    "IngestPipeline": "citeline.ingest.pipeline",
    "IngestReport": "citeline.ingest.pipeline",
    "OnnxMiniLMEmbedder": "citeline.ingest.embed",
    "StructuredChunker": "citeline.ingest.chunk",
    "extractor_for": "citeline.ingest.extract",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'citeline' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return __all__
