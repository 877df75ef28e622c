from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from citeline.cli import app
from tests.ingest.test_pipeline import small_corpus

runner = CliRunner()


def cli(data: Path, *args: str):
    result = runner.invoke(app, ["--data-dir", str(data), *args], catch_exceptions=False)
    return result


def jsonl(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_ingest_list_show_rm_json(tmp_path):
    corpus = small_corpus(tmp_path / "c")
    (corpus / "broken.pdf").write_bytes(b"%PDF-1.4 garbage")
    data = tmp_path / "d"
    r = cli(data, "ingest", str(corpus), "--no-embed", "--json", "--acl", "staff,hr")
    assert r.exit_code == 0, r.output
    report = jsonl(r.stdout)[0]
    assert report["new"] == 4 and report["failed"] == 1
    assert report["failures"][0]["source_path"].endswith("broken.pdf")

    listed = jsonl(cli(data, "docs", "list", "--json").stdout)
    assert len(listed) == 5
    for item in listed:
        assert {"id", "source_path", "status", "pages", "chunks", "error"} <= set(item)
    failed = jsonl(cli(data, "docs", "list", "--failed", "--json").stdout)
    assert [Path(f["source_path"]).name for f in failed] == ["broken.pdf"] and failed[0]["error"]

    pdf = next(i for i in listed if i["source_path"].endswith("manual.pdf"))
    assert pdf["acl"] == ["hr", "staff"] and pdf["pages"] == 2
    shown = jsonl(cli(data, "docs", "show", pdf["id"], "--chunks", "--json").stdout)[0]
    assert shown["chunk_list"] and {c["page"] for c in shown["chunk_list"]} == {1, 2}

    human = cli(data, "docs", "list")
    assert "5 documents" in human.stdout and "failed" in human.stdout and pdf["id"] in human.stdout

    rm = cli(data, "docs", "rm", pdf["id"], "nope", "--json")
    assert rm.exit_code == 1
    assert jsonl(rm.stdout) == [{"id": pdf["id"], "removed": True}, {"id": "nope", "removed": False}]
    assert len(jsonl(cli(data, "docs", "list", "--json").stdout)) == 4

    runs = jsonl(cli(data, "runs", "list", "--json").stdout)
    assert runs[0]["status"] == "finished" and runs[0]["new"] == 4 and runs[0]["config_hash"]


def test_search_respects_groups(tmp_path):
    corpus = small_corpus(tmp_path / "c")
    data = tmp_path / "d"
    cli(data, "ingest", str(corpus), "--no-embed", "--acl", "hr")
    assert jsonl(cli(data, "search", "warranty", "--json").stdout) == []
    hits = jsonl(cli(data, "search", "warranty months", "--as", "hr", "--json").stdout)
    assert hits and hits[0]["page"] == 2 and "36 months" in hits[0]["text"]


def test_error_is_one_clear_line_and_nonzero(tmp_path):
    exe = Path(sys.executable).parent / "citeline"
    env = {**os.environ, "CITELINE_INGEST__WORKERS": "-1"}
    proc = subprocess.run([str(exe), "--data-dir", str(tmp_path), "docs", "list"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 1
    assert "ingest.workers" in proc.stderr and "Traceback" not in proc.stderr
    proc = subprocess.run([str(exe), "--data-dir", str(tmp_path), "docs", "show", "missing"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 1 and "no document 'missing'" in proc.stderr


def test_ask_and_search_batch_files(tmp_path):
    corpus = small_corpus(tmp_path / "c")
    data = tmp_path / "d"
    assert cli(data, "ingest", str(corpus)).exit_code == 0
    qfile = tmp_path / "q.txt"
    qfile.write_text("How long does the warranty last?\n\nWhat colour is the sky on Mars?\n")
    answers = jsonl(cli(data, "ask", "--file", str(qfile)).stdout)
    assert [a["question"] for a in answers] == ["How long does the warranty last?", "What colour is the sky on Mars?"]
    assert answers[0]["decision"] == "answered" and "36 months" in answers[0]["answer"]
    assert answers[0]["citations"][0]["page"] == 2
    assert answers[1]["decision"] == "declined"
    found = jsonl(cli(data, "search", "--file", str(qfile), "-k", "2").stdout)
    assert len(found) == 2 and found[0]["hits"][0]["source_path"].endswith("manual.pdf")
    human = cli(data, "ask", "How long does the warranty last?")
    assert "36 months" in human.stdout and "[1]" in human.stdout


def test_ask_llm_without_endpoint_is_a_clear_error(tmp_path):
    exe = Path(sys.executable).parent / "citeline"
    proc = subprocess.run([str(exe), "--data-dir", str(tmp_path), "ask", "hello", "--llm"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 1 and "CITELINE_LLM__BASE_URL" in proc.stderr and "Traceback" not in proc.stderr
