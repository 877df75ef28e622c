"""A small corpus built to tempt leaks: near-identical documents with different ACLs and tenants.

Each restricted document carries a unique marker string; tests assert that no response a
caller gets (answer, citation, search hit, trace, document list, page, error) contains the
marker of a document it may not read.
"""

from __future__ import annotations

from dataclasses import dataclass

import socket
import threading
import time

import pytest
from fastapi.testclient import TestClient

from citeline.config import load_settings
from citeline.ingest.pipeline import IngestPipeline
from citeline.store import SqliteStore
from tests.conftest import DEMO

DOCS = {
    # (tenant, acl): {filename: text}
    ("default", "everyone"): {
        "careers.md": "# Career ladder\n\nThe career ladder describes expectations for each engineering level. "
                      "A Senior Engineer leads projects across teams and mentors others. Promotions are reviewed "
                      "twice a year by the engineering committee.\n\n# Travel\n\nEmployees book travel through "
                      "the travel desk. Economy class is the default for flights under six hours.",
        "benefits.md": "# Benefits\n\nEvery employee gets 25 days of paid vacation per year. The company matches "
                       "retirement contributions up to 5 percent of salary. Health insurance starts on the first day.",
    },
    ("default", "hr"): {
        "salary-bands.md": "# Salary bands\n\nThe salary band for a Senior Engineer is 145,000 to 170,000 dollars "
                           "per year, reference ZEBRA-HR-7731. Promotions to Senior Engineer raise pay by 12 percent. "
                           "Salary bands are reviewed twice a year by the compensation committee.",
    },
    ("default", "legal"): {
        "litigation.md": "# Pending litigation\n\nThe company is defending a patent claim filed by Orion Labs, "
                         "matter LEGAL-QUASAR-4410. Settlement talks are scheduled for March. Travel to the court "
                         "in Delaware is booked through the travel desk.",
    },
    ("acme", "everyone"): {
        "acme-salaries.md": "# Salary bands\n\nAt Acme the salary band for a Senior Engineer is 99,000 to 120,000 "
                            "dollars per year, reference ACME-OTTER-5512. Every employee gets 25 days of paid "
                            "vacation per year.",
    },
}
MARKERS = {"hr": "ZEBRA-HR-7731", "legal": "LEGAL-QUASAR-4410", "acme": "ACME-OTTER-5512"}
# distinctive phrases of the restricted documents, besides the markers
PHRASES = {"hr": ["145,000", "170,000"], "legal": ["Orion Labs", "Delaware"], "acme": ["99,000", "Acme"]}


@dataclass
class Keys:
    admin: str
    member: str  # everyone
    hr: str  # everyone + hr
    member2: str  # another member of the default tenant
    acme_admin: str
    revoked: str


@pytest.fixture(scope="module")
def server_settings(tmp_path_factory):
    root = tmp_path_factory.mktemp("server")
    return load_settings(data_dir=root / "data", ingest={"workers": 1, "ocr": False},
                         server={"rate_limit_per_minute": 0, "max_upload_mb": 1})


@pytest.fixture(scope="module")
def leak_corpus(server_settings, embedder, tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    store = SqliteStore(server_settings.db_path)
    try:
        for (tenant, acl), files in DOCS.items():
            folder = root / tenant / acl
            folder.mkdir(parents=True)
            for name, text in files.items():
                (folder / name).write_text(text)
            IngestPipeline(server_settings, store, embedder).run([str(folder)], acl=[acl], tenant=tenant)
        keys = Keys(
            admin=store.create_api_key(tenant="default", role="admin", groups=["everyone"], name="admin")[1],
            member=store.create_api_key(tenant="default", role="member", groups=["everyone"], name="member")[1],
            hr=store.create_api_key(tenant="default", role="member", groups=["everyone", "hr"], name="hr")[1],
            member2=store.create_api_key(tenant="default", role="member", groups=["everyone"], name="m2")[1],
            acme_admin=store.create_api_key(tenant="acme", role="admin", groups=["everyone"], name="acme")[1],
            revoked=store.create_api_key(tenant="default", role="member", groups=["everyone"], name="old")[1],
        )
        store.revoke_api_key(keys.revoked.split("_")[1])
        docs = {d.source_uri.rsplit("/", 1)[-1]: d.id for t in ("default", "acme") for d in store.list_documents(t)}
    finally:
        store.close()
    return keys, docs


@pytest.fixture(scope="module")
def client(server_settings, leak_corpus, embedder):
    from citeline.server.app import create_app

    with TestClient(create_app(server_settings, embedder=embedder)) as c:
        yield c


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


# ---------------------------------------------------------------- a real server on the demo corpus
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def live(demo_data, embedder):
    """(base URL, admin key, member key) of a uvicorn server on the demo corpus, for the session."""
    import uvicorn

    from citeline.config import load_settings
    from citeline.server.app import create_app
    from citeline.store import SqliteStore

    settings = load_settings(data_dir=demo_data, ingest={"workers": 2, "ocr": False})
    store = SqliteStore(settings.db_path)
    admin = store.create_api_key(tenant="default", role="admin", groups=["everyone"], name="ada (admin)")[1]
    member = store.create_api_key(tenant="default", role="member", groups=["everyone"], name="max (member)")[1]
    store.close()
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings, embedder=embedder), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", admin, member
    server.should_exit = True
    thread.join(10)
