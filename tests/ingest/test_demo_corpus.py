"""The bundled demo corpus ingests cleanly and every eval citation points at a real page whose
extracted text holds the answer's numbers: page provenance holds across all formats."""

from __future__ import annotations

import json
import re

from citeline.ingest.pipeline import IngestPipeline
from citeline.store import SqliteStore
from tests.conftest import DEMO

NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def test_demo_corpus_and_eval_set(settings):
    store = SqliteStore(settings.db_path)
    report = IngestPipeline(settings, store, None).run([str(DEMO / "corpus")], embed=False)
    assert report.counts["failed"] == 0 and report.counts["new"] >= 30
    docs = {d.source_uri: d for d in store.list_documents(settings.tenant)}
    types = {d.doc_type for d in docs.values()}
    assert {"pdf", "docx", "html", "markdown"} <= types
    assert max(d.page_count for d in docs.values() if d.doc_type == "pdf") >= 8

    questions = [json.loads(line) for line in (DEMO / "eval.jsonl").read_text().splitlines() if line.strip()]
    assert len(questions) >= 40 and sum(q["should_decline"] for q in questions) >= 10
    missing = []
    for q in questions:
        for src in q["sources"][:1]:
            doc = docs.get(str(DEMO / "corpus" / src["document"]))
            assert doc is not None, src
            page = store.get_page(doc.id, src["page"], tenant=settings.tenant)
            assert page is not None, (q["id"], src)
            text = page.text.replace(",", "")
            for num in NUMBER.findall(q["answer"] or ""):
                if num.replace(",", "") not in text:
                    missing.append((q["id"], src["document"], src["page"], num))
    assert not missing, missing[:10]
    store.close()
