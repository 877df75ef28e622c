"""Evaluation runs through the server: JSON API and the report page, admins of the tenant only."""

from __future__ import annotations

import json

import httpx

from citeline.answer.service import AskService
from citeline.config import load_settings
from citeline.evaluate.dataset import load_dataset
from citeline.evaluate.runner import EvalRunner
from citeline.store import SqliteStore
from tests.conftest import DEMO


def small_run(demo_data, embedder, tmp_path, label: str):
    """A stored run of five demo questions (four answerable, one to decline) in the live server's store."""
    rows = [json.loads(line) for line in (DEMO / "eval.jsonl").read_text().splitlines()]
    keep = rows[:4] + [next(r for r in rows if r["should_decline"])]
    path = tmp_path / "five.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in keep))
    settings = load_settings(data_dir=demo_data)
    store = SqliteStore(settings.db_path)
    try:
        return EvalRunner(settings, store, AskService(settings, store, embedder)).run(load_dataset(path), label=label)
    finally:
        store.close()


def test_eval_runs_api_and_report_page(live, demo_data, embedder, tmp_path):
    base, admin, member = live
    run = small_run(demo_data, embedder, tmp_path, "srv")
    store = SqliteStore(demo_data / "citeline.db")
    try:
        other_admin = store.create_api_key(tenant="acme", role="admin", groups=["everyone"], name="acme")[1]
    finally:
        store.close()

    def get(url, key):
        return httpx.get(base + url, headers={"Authorization": f"Bearer {key}"}, timeout=30)

    listed = get("/api/evals", admin)
    assert listed.status_code == 200 and run.id in [r["id"] for r in listed.json()["runs"]]
    one = get(f"/api/evals/{run.id}", admin).json()
    assert one["summary"]["metrics"]["decision_correct"]["n"] == 5 and one["label"] == "srv"
    assert get("/api/evals", member).status_code == 403
    assert get(f"/api/evals/{run.id}", other_admin).status_code == 404
    assert run.id not in get("/api/evals", other_admin).text
    assert httpx.get(base + "/api/evals", timeout=10).status_code == 401

    page = get(f"/admin/evals/{run.id}?compare={run.id}", admin)
    assert page.status_code == 200 and run.id in page.text and "<svg" in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "Paired difference" in page.text
    index = get("/admin/evals", admin)
    assert index.status_code == 200 and f'href="/admin/evals/{run.id}"' in index.text
    assert get("/admin/evals", member).status_code == 403
    assert get(f"/admin/evals/{run.id}", other_admin).status_code == 404
