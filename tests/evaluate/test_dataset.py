"""Datasets: the three formats agree; every bad row is reported by line and field."""

from __future__ import annotations

import json

import pytest

from citeline.errors import EvalError
from citeline.evaluate.dataset import SourceResolver, load_dataset
from citeline.store import SqliteStore
from tests.conftest import DEMO

ROWS = [
    {"id": "a1", "question": "When are employees paid?", "answer": "On the 15th.",
     "sources": [{"document": "handbook/employee-handbook.pdf", "page": 5}], "tags": ["pay"]},
    {"id": "a2", "question": "What is the moon made of?", "should_decline": True,
     "principal": {"groups": ["everyone", "hr"]}},
]


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_jsonl_csv_yaml_give_the_same_examples(tmp_path):
    a = load_dataset(_jsonl(tmp_path / "set.jsonl", ROWS))
    (tmp_path / "set.csv").write_text(
        "id,question,answer,sources,should_decline,tags,groups\n"
        "a1,When are employees paid?,On the 15th.,handbook/employee-handbook.pdf#5,,pay,\n"
        'a2,What is the moon made of?,,,yes,,"everyone,hr"\n')
    (tmp_path / "set.yaml").write_text(
        "examples:\n"
        "  - id: a1\n    question: When are employees paid?\n    answer: On the 15th.\n"
        "    sources: [{document: handbook/employee-handbook.pdf, page: 5}]\n    tags: [pay]\n"
        "  - id: a2\n    question: What is the moon made of?\n    should_decline: true\n"
        "    principal: {groups: [everyone, hr]}\n")
    b, c = load_dataset(tmp_path / "set.csv"), load_dataset(tmp_path / "set.yaml")
    assert a.hash == b.hash == c.hash
    assert a.examples[0].reference == "On the 15th." and a.examples[0].sources[0].page == 5
    assert a.examples[1].principal_for("t").groups == ("everyone", "hr")
    assert c.lines == {"a1": 2, "a2": 7}


def test_bad_rows_are_reported_by_line_and_field(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join([
        json.dumps({"id": "ok", "question": "fine?"}),
        "{not json",
        json.dumps({"id": "q2"}),
        json.dumps({"id": "q3", "question": "x", "sources": [{"document": "a.pdf", "page": 0}]}),
        json.dumps({"id": "ok", "question": "again?"}),
        json.dumps({"id": "q5", "question": "x", "should_decline": "maybe"}),
        json.dumps({"id": "q6", "question": "x", "colour": "red"}),
        json.dumps(["a", "list"]),
    ]) + "\n")
    with pytest.raises(EvalError) as e:
        load_dataset(path)
    msg = str(e.value)
    assert "7 problem(s)" in msg
    for expected in ("line 2: not valid JSON", "line 3: question: Field required", "line 4: sources.0.page",
                     "line 5: id: duplicate id 'ok' (first on line 1)", "line 6: should_decline",
                     "line 7: colour: Extra inputs", "line 8: a row must be an object"):
        assert expected in msg, (expected, msg)


@pytest.mark.parametrize("text,expected", [
    ("", "the dataset is empty"),
    ("\n\n", "the dataset is empty"),
    ("id,question\n", "the dataset is empty"),
])
def test_empty_datasets_are_errors(tmp_path, text, expected):
    path = tmp_path / ("e.csv" if text.startswith("id") else "e.jsonl")
    path.write_text(text)
    with pytest.raises(EvalError, match=expected):
        load_dataset(path)


def test_unknown_formats_and_missing_files_are_clear(tmp_path):
    with pytest.raises(EvalError, match="cannot read dataset"):
        load_dataset(tmp_path / "nope.jsonl")
    (tmp_path / "x.txt").write_text("q")
    with pytest.raises(EvalError, match="unknown dataset format '.txt'"):
        load_dataset(tmp_path / "x.txt")
    (tmp_path / "x.csv").write_text("foo,bar\n1,2\n")
    with pytest.raises(EvalError, match="line 1: a CSV dataset needs a header"):
        load_dataset(tmp_path / "x.csv")
    (tmp_path / "x.yaml").write_text("a: [1\n")
    with pytest.raises(EvalError, match="not valid YAML"):
        load_dataset(tmp_path / "x.yaml")


def test_demo_dataset_references_resolve_and_unknown_ones_fail(tmp_path, demo_data):
    store = SqliteStore(demo_data / "citeline.db")
    try:
        demo = load_dataset(DEMO / "eval.jsonl")
        assert len(demo) == 120
        mapping = SourceResolver(store, "default").check(demo)
        assert len(set(mapping.values())) >= 20
        rows = ROWS + [{"id": "a3", "question": "x?", "sources": [{"document": "handbook/missing.pdf"}]},
                       {"id": "a4", "question": "y?", "sources": [{"document": "handbook/employee-handbook.pdf",
                                                                    "page": 999}]}]
        bad = load_dataset(_jsonl(tmp_path / "refs.jsonl", rows))
        with pytest.raises(EvalError) as e:
            SourceResolver(store, "default").check(bad)
        assert "line 3: sources.0.document: no ingested document matches 'handbook/missing.pdf'" in str(e.value)
        assert "line 4: sources.0.page" in str(e.value) and "not 999" in str(e.value)
    finally:
        store.close()


def test_committed_baseline_run_matches_the_demo_dataset():
    """CI gates the demo set against demo/eval-baseline.json; it must be a run of this very dataset."""
    from citeline.evaluate.runner import RunData

    baseline = RunData.from_file(DEMO / "eval-baseline.json")
    demo = load_dataset(DEMO / "eval.jsonl")
    assert baseline.record.dataset_hash == demo.hash, "demo/eval.jsonl changed: run `make eval-baseline`"
    assert baseline.record.status == "done" and sorted(baseline.examples) == sorted(e.id for e in demo.examples)
    assert {"decision_correct", "token_f1", "recall@5", "citation_precision"} <= set(baseline.metrics)
