from __future__ import annotations

import pytest

from citeline.config import load_settings
from citeline.ingest.pipeline import IngestPipeline
from citeline.store import SqliteStore
from tests.conftest import DEMO

POLICY = DEMO / "policy.toml"


@pytest.fixture(scope="session")
def detector():
    """One PII detector (spaCy loads once per session)."""
    from citeline.guard.pii import PiiDetector

    d = PiiDetector()
    d.find("Warm Up Person")
    return d


@pytest.fixture(scope="session")
def demo_policy():
    from citeline.guard.policy import load_policy

    return load_policy(POLICY)


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory, embedder):
    """The demo corpus ingested once, with the demo guard policy (document guard included)."""
    root = tmp_path_factory.mktemp("guard-demo")
    settings = load_settings(data_dir=root / "data", ingest={"workers": 2, "ocr": False}, guard={"policy": POLICY})
    store = SqliteStore(settings.db_path)
    IngestPipeline(settings, store, embedder).run([str(DEMO / "corpus")], acl=["everyone"])
    yield settings, store
    store.close()
