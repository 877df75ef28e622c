import citeline

PINNED = [
    "Chunk", "CitelineError", "DocumentRecord", "Embedder", "IngestPipeline", "IngestReport", "OnnxMiniLMEmbedder",
    "Principal", "SearchHit", "Settings", "SqliteStore", "Store", "StructuredChunker", "extractor_for",
    "load_settings", "open_store", "__version__",
]


def test_public_api_is_pinned():
    assert citeline.__all__ == PINNED
    for name in PINNED:
        assert getattr(citeline, name) is not None


def test_store_implements_protocol(tmp_path):
    from citeline.contracts import Store

    s = citeline.SqliteStore(tmp_path / "x.db")
    assert isinstance(s, Store)
    s.close()
