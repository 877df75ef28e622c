from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from citeline.config import Settings, load_settings  # noqa: E402
from citeline.store import SqliteStore  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
SHARED_PDF = SHARED / "data" / "pdf"
DEMO = ROOT / "demo"


@pytest.fixture(autouse=True)
def _isolated_config(tmp_path, monkeypatch):
    """No test reads a citeline.toml or CITELINE_* variable from the developer's environment."""
    for key in list(os.environ):
        if key.startswith("CITELINE_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("CITELINE_CONFIG", str(tmp_path / "absent-citeline.toml"))


@pytest.fixture
def settings(tmp_path) -> Settings:
    return load_settings(data_dir=tmp_path / "data", ingest={"workers": 2, "ocr": False})


@pytest.fixture
def store(settings):
    s = SqliteStore(settings.db_path)
    yield s
    s.close()


@pytest.fixture(scope="session")
def embedder():
    from citeline.ingest.embed import OnnxMiniLMEmbedder

    e = OnnxMiniLMEmbedder()
    e.warm_up()
    return e
