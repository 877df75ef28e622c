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


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory, embedder) -> Path:
    """Data directory with the whole demo corpus ingested (readable by everyone), built once per session.

    Shared by the live server and the evaluation tests; each adds its own rows (keys, traces, runs)."""
    from citeline.ingest.pipeline import IngestPipeline

    data = tmp_path_factory.mktemp("demo") / "data"
    settings = load_settings(data_dir=data, ingest={"workers": 2, "ocr": False})
    store = SqliteStore(settings.db_path)
    report = IngestPipeline(settings, store, embedder).run([str(DEMO / "corpus")], acl=["everyone"])
    assert report.counts["failed"] == 0
    store.close()
    return data


@pytest.fixture(scope="module")
def stub():
    """A local server speaking the OpenAI chat-completions protocol (streaming and errors included), one
    per test module; tests script its replies with ``push`` / ``default`` and ``reset`` it."""
    from tests.answer.openai_stub import OpenAIStub

    s = OpenAIStub().start()
    yield s
    s.stop()
