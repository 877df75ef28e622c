"""``citeline eval init`` on the demo corpus: five valid questions from five documents."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from citeline.cli import app
from citeline.errors import EvalError
from citeline.evaluate.dataset import SourceResolver, load_dataset
from citeline.store import SqliteStore
from tests.answer.openai_stub import OpenAIStub, completion

runner = CliRunner()


def test_init_writes_a_valid_starter_set_from_the_corpus(demo_data, tmp_path):
    out = tmp_path / "starter.jsonl"
    r = runner.invoke(app, ["--data-dir", str(demo_data), "eval", "init", "-o", str(out)], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    ds = load_dataset(out)
    assert len(ds) == 5
    store = SqliteStore(demo_data / "citeline.db")
    try:
        SourceResolver(store, "default").check(ds)  # every source is a real document and page
        for ex in ds.examples:
            doc = SourceResolver(store, "default").resolve(ex.sources[0].document)
            page = store.get_page(doc.id, ex.sources[0].page, tenant="default")
            # the reference answer is a sentence of the cited page, whitespace aside
            assert " ".join(ex.reference.split())[:60] in " ".join(page.text.split())
    finally:
        store.close()
    assert len({ex.sources[0].document for ex in ds.examples}) == 5
    assert all(ex.question.endswith("?") and "template" in ex.tags for ex in ds.examples)
    with pytest.raises(EvalError, match="exists; pass --force"):
        runner.invoke(app, ["--data-dir", str(demo_data), "eval", "init", "-o", str(out)], catch_exceptions=False)


def test_init_with_a_model_uses_its_questions_and_falls_back_on_bad_replies(demo_data, tmp_path, monkeypatch):
    stub = OpenAIStub().start()
    try:
        stub.push(completion('{"question": "How much does Fernhill put into my HSA?", "answer": "$750 a year."}'),
                  completion("Sure! Here is a question: what is the plan?"))
        stub.default = completion('{"question": "Which network does it join?", "answer": "2.4 GHz Wi-Fi."}')
        monkeypatch.setenv("CITELINE_LLM__BASE_URL", stub.base_url)
        out = tmp_path / "llm.jsonl"
        r = runner.invoke(app, ["--data-dir", str(demo_data), "eval", "init", "--llm", "-o", str(out)],
                          catch_exceptions=False)
        assert r.exit_code == 0, r.output
    finally:
        stub.stop()
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows[0]["question"] == "How much does Fernhill put into my HSA?" and "llm" in rows[0]["tags"]
    assert "template" in rows[1]["tags"]  # the unparseable reply fell back to the template
    assert sum("llm" in r["tags"] for r in rows) == 4
    assert "PASSAGE" in stub.requests[0].user_prompt
