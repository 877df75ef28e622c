"""The LLM path through the server, against a local OpenAI-protocol stub: streamed deltas, cost in
the trace when prices are configured, fallback when the endpoint fails; and the key/trace CLI."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from citeline.cli import app as cli_app
from tests.answer.openai_stub import completion, sse, status
from tests.server.conftest import auth

Q = "How many days of paid vacation does every employee get?"
ANSWER = "Every employee gets 25 days of paid vacation per year [{n}]."


@pytest.fixture(scope="module")
def llm_client(server_settings, leak_corpus, embedder, stub):
    from citeline.server.app import create_app

    settings = server_settings.model_copy(update={"llm": server_settings.llm.model_copy(update={
        "base_url": stub.base_url, "timeout_s": 5.0, "max_retries": 0, "prompt_price_per_mtok": 0.15,
        "completion_price_per_mtok": 0.6})})
    with TestClient(create_app(settings, embedder=embedder)) as c:
        yield c


def test_llm_answer_records_tokens_and_cost(llm_client, leak_corpus, stub):
    keys, _ = leak_corpus
    stub.reset()
    stub.push(lambda req: completion(ANSWER.format(n=req.source_number("25 days")), prompt_tokens=1000,
                                     completion_tokens=100))
    r = llm_client.post("/api/ask", json={"question": Q, "llm": True}, headers=auth(keys.member)).json()
    assert r["decision"] == "answered" and r["answerer"] == "llm" and r["citations"]
    trace = llm_client.get(f"/api/traces/{r['trace_id']}", headers=auth(keys.member)).json()
    assert (trace["prompt_tokens"], trace["completion_tokens"]) == (1000, 100)
    assert trace["cost_usd"] == pytest.approx(1000 * 0.15 / 1e6 + 100 * 0.6 / 1e6)
    assert "citeline-llm" in [m["id"] for m in llm_client.get("/v1/models", headers=auth(keys.member)).json()["data"]]


def test_llm_stream_sends_deltas_then_the_grounded_final(llm_client, leak_corpus, stub):
    keys, _ = leak_corpus
    stub.reset()
    def reply(req):
        text = ANSWER.format(n=req.source_number("25 days")) + " Pets are welcome at the office on Fridays."
        return sse([text[i:i + 8] for i in range(0, len(text), 8)], usage={"prompt_tokens": 50,
                                                                            "completion_tokens": 20})

    stub.push(reply)
    with llm_client.stream("POST", "/api/ask", json={"question": Q, "llm": True, "stream": True},
                           headers=auth(keys.member)) as s:
        text = s.read().decode()
    events = [b for b in text.split("\n\n") if b.strip()]
    deltas = [json.loads(e.split("data: ", 1)[1])["text"] for e in events if e.startswith("event: delta")]
    # the output guards release text sentence by sentence: two sentences, two deltas, nothing lost
    assert len(deltas) == 2 and "".join(deltas).endswith("Pets are welcome at the office on Fridays.")
    final = json.loads(events[-1].split("data: ", 1)[1])
    assert final["decision"] == "answered" and "Pets" not in final["answer"]  # ungrounded sentence removed


def test_endpoint_failure_falls_back_and_is_traced(llm_client, leak_corpus, stub):
    keys, _ = leak_corpus
    stub.reset()
    stub.push(status(500))
    r = llm_client.post("/api/ask", json={"question": Q, "llm": True}, headers=auth(keys.member)).json()
    assert r["decision"] == "fallback" and "25 days" in r["answer"] and r["reason"]
    down = llm_client.get("/api/traces", params={"decision": "fallback"}, headers=auth(keys.admin)).json()
    assert r["trace_id"] in [t["id"] for t in down["traces"]]
    assert 'decision="fallback"' in llm_client.get("/metrics", headers=auth(keys.admin)).text


def test_keys_and_traces_cli(server_settings, leak_corpus, llm_client, tmp_path, monkeypatch):
    monkeypatch.setenv("CITELINE_DATA_DIR", str(server_settings.data_dir))
    runner = CliRunner()
    made = runner.invoke(cli_app, ["keys", "create", "--role", "member", "--groups", "hr,everyone", "--name", "cli",
                                   "--json"])
    assert made.exit_code == 0, made.output
    created = json.loads(made.output)
    assert created["key"].startswith("cl_") and created["groups"] == ["everyone", "hr"]
    listed = runner.invoke(cli_app, ["keys", "list", "--json"]).output
    assert created["id"] in listed and created["key"] not in listed and created["key"].split("_")[2] not in listed
    assert llm_client.get("/api/me", headers=auth(created["key"])).status_code == 200
    assert runner.invoke(cli_app, ["keys", "revoke", created["id"]]).exit_code == 0
    assert llm_client.get("/api/me", headers=auth(created["key"])).status_code == 401
    assert runner.invoke(cli_app, ["keys", "revoke", created["id"]]).exit_code == 1
    assert runner.invoke(cli_app, ["keys", "create", "--role", "root"]).exit_code != 0
    out = tmp_path / "traces.jsonl"
    done = runner.invoke(cli_app, ["traces", "export", "--format", "jsonl", "-o", str(out)])
    assert done.exit_code == 0, done.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows and all(r["id"] and r["question"] and "response" in r for r in rows)
    assert [r["created_at"] for r in rows] == sorted(r["created_at"] for r in rows)
