"""Eval runs end to end on the demo corpus: the real AskService over a real SQLite store, real
judges over HTTP against a local server speaking the OpenAI protocol, the real CLI."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from citeline.answer.service import AskService
from citeline.cli import app
from citeline.config import load_settings
from citeline.errors import EvalError
from citeline.evaluate.compare import gate
from citeline.evaluate.dataset import load_dataset
from citeline.evaluate.judges import CorrectnessJudge, FaithfulnessJudge, parse_verdict
from citeline.evaluate.runner import EvalRunner, load_run
from citeline.models.openai_compat import OpenAICompatProvider
from citeline.store import SqliteStore
from tests.answer.openai_stub import completion, status
from tests.conftest import DEMO

runner = CliRunner()


@pytest.fixture(scope="module")
def subset(tmp_path_factory):
    """20 answerable and 6 unanswerable demo questions."""
    rows = [json.loads(line) for line in (DEMO / "eval.jsonl").read_text().splitlines()]
    keep = [r for r in rows if not r["should_decline"]][:20] + [r for r in rows if r["should_decline"]][:6]
    path = tmp_path_factory.mktemp("ds") / "subset.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in keep))
    return path


@pytest.fixture
def env(demo_data, embedder, stub):
    stub.reset()
    settings = load_settings(data_dir=demo_data, llm={"base_url": stub.base_url, "max_retries": 0, "timeout_s": 5})
    store = SqliteStore(settings.db_path)
    yield settings, store, AskService(settings, store, embedder)
    store.close()


def judge_reply(score: int):
    return lambda req: completion(json.dumps({"score": score, "reason": "scripted"}))


def cli(data, *args):
    return runner.invoke(app, ["--data-dir", str(data), *args], catch_exceptions=False)


def test_run_scores_every_example_and_stores_a_summary(env, subset):
    settings, store, service = env
    ds = load_dataset(subset)
    seen = []
    record = EvalRunner(settings, store, service).run(ds, label="t", progress=lambda d, t: seen.append((d, t)))
    assert record.status == "done" and record.n_examples == 26 and seen[-1] == (26, 26)
    data = load_run(store, record.id)
    assert len(data.examples) == 26
    s = record.summary
    assert s["n_examples"] == 26
    for name in ("recall@5", "mrr", "token_f1", "exact_match", "semantic_similarity", "decision_correct",
                 "citation_precision", "unsupported_rate", "latency_ms"):
        m = s["metrics"][name]
        assert m["low"] <= m["value"] <= m["high"], name
    assert s["metrics"]["decision_correct"]["n"] == 26 and s["metrics"]["token_f1"]["n"] == 20
    assert s["metrics"]["recall@5"]["value"] > 0.7
    assert sum(s["decisions"].values()) == 26
    assert {"tp", "fp", "fn", "tn"} <= set(s["decline"])
    # a metric that does not apply is None with a reason, not zero
    decline_q = next(e.id for e in ds.examples if e.should_decline)
    assert data.values["token_f1"][decline_q] == [None]


def test_a_judge_endpoint_failing_mid_run_leaves_a_resumable_run(env, subset, stub):
    settings, store, service = env
    ds = load_dataset(subset)
    provider = OpenAICompatProvider(settings.llm)
    judges = [CorrectnessJudge(provider), FaithfulnessJudge(provider)]
    stub.push(*[judge_reply(4)] * 6)
    stub.default = status(503)
    with pytest.raises(EvalError, match=r"stopped after \d+ of 26 results .*--resume ev_") as e:
        EvalRunner(settings, store, service, judges=judges).run(ds)
    run_id = re.search(r"--resume (ev_\w+)", str(e.value)).group(1)
    stopped = store.get_eval_run(run_id)
    assert stopped.status == "interrupted" and "ModelUnavailableError" in stopped.error
    kept = len(store.done_eval_keys(run_id))
    assert 0 < kept < 26
    assert stopped.summary == {}  # never summarised half-done

    stub.default = judge_reply(5)
    done = EvalRunner(settings, store, service, judges=judges).run(ds, resume=run_id)
    assert done.id == run_id and done.status == "done"
    assert len(list(store.eval_results(run_id))) == 26  # nothing asked twice, nothing lost
    assert done.summary["metrics"]["correctness"]["n"] == 20
    with pytest.raises(EvalError, match="already complete"):
        EvalRunner(settings, store, service, judges=judges).run(ds, resume=run_id)


def test_unparseable_judge_replies_are_counted_never_scored(env, subset, stub):
    settings, store, service = env
    ds = load_dataset(subset)
    stub.default = completion("I would say this deserves a four.")
    judge = CorrectnessJudge(OpenAICompatProvider(settings.llm))
    record = EvalRunner(settings, store, service, judges=[judge]).run(ds)
    answered = sum(1 for o in load_run(store, record.id).outputs.values()
                   if o["decision"] == "answered" and not o["should_decline"])
    assert record.summary["unscored"] == {"correctness": answered}
    assert judge.failures == answered
    with pytest.raises(ValueError, match="score"):
        parse_verdict('{"score": 9}')
    assert parse_verdict('```json\n{"score": "3", "reason": "x"}\n```').score == 3


def test_resume_refuses_another_dataset_or_config(env, subset, tmp_path):
    settings, store, service = env
    ds = load_dataset(subset)
    first = EvalRunner(settings, store, service).run(ds)
    store.finish_eval_run(first.id, status="interrupted")
    other = tmp_path / "other.jsonl"
    other.write_text(subset.read_text().replace("?", " ?", 1))
    with pytest.raises(EvalError, match="different dataset"):
        EvalRunner(settings, store, service).run(load_dataset(other), resume=first.id)
    changed = load_settings(data_dir=settings.data_dir, answer={"decline_threshold": 0.9})
    with pytest.raises(EvalError, match="made with config"):
        EvalRunner(changed, store, service).run(ds, resume=first.id)


def test_cli_run_list_compare_export_gate(demo_data, subset, tmp_path):
    r = cli(demo_data, "eval", "run", str(subset), "--label", "base", "--json")
    assert r.exit_code == 0, r.output
    base = json.loads(r.stdout)["id"]
    r = cli(demo_data, "eval", "run", str(subset), "--label", "strict", "--set", "answer.decline_threshold=0.99",
            "--json")
    assert r.exit_code == 0, r.output
    strict = json.loads(r.stdout)
    assert strict["config_hash"] != json.loads(cli(demo_data, "eval", "show", base, "--json").stdout)["config_hash"]
    listed = [json.loads(line) for line in cli(demo_data, "eval", "list", "--json").stdout.splitlines()]
    assert {base, strict["id"]} <= {x["id"] for x in listed}
    assert all({"id", "dataset", "config_hash", "status"} <= set(x) for x in listed)

    rows = {x["metric"]: x for x in map(json.loads, cli(demo_data, "eval", "compare", base, strict["id"],
                                                        "--effect", "0.1", "--json").stdout.splitlines())}
    dc = rows["decision_correct"]
    assert dc["diff"] < 0 and dc["low"] <= dc["diff"] <= dc["high"] and dc["worse"] > dc["better"]
    assert 0 <= dc["p"] <= dc["p_holm"] <= 1 and dc["n_for_effect"] > 1
    table = cli(demo_data, "eval", "compare", base, strict["id"]).stdout
    assert "decision_correct" in table and "95% CI" in table

    exported = tmp_path / "baseline.json"
    assert cli(demo_data, "eval", "export", base, "-o", str(exported)).exit_code == 0
    same = cli(demo_data, "eval", "run", str(subset), "--json")
    ok = cli(demo_data, "eval", "gate", "--baseline", str(exported), "--candidate", json.loads(same.stdout)["id"],
             "--max-drop", "decision_correct=0.02", "--max-drop", "token_f1=0.02", "--markdown", str(tmp_path / "ok.md"))
    assert ok.exit_code == 0, ok.output
    assert "gate passed" in (tmp_path / "ok.md").read_text()
    bad = cli(demo_data, "eval", "gate", "--baseline", str(exported), "--candidate", strict["id"],
              "--max-drop", "decision_correct=0.0", "--markdown", str(tmp_path / "bad.md"))
    assert bad.exit_code == 1
    md = (tmp_path / "bad.md").read_text()
    assert "gate failed" in md and "**regression**" in md and "| decision_correct |" in md

    for args, message in ((["--max-drop", "token_f1"], "METRIC=MARGIN"),
                          (["--max-drop", "nonsense=0.1"], "not in both runs")):
        with pytest.raises(EvalError, match=message):
            cli(demo_data, "eval", "gate", "--baseline", str(exported), "--candidate", strict["id"], *args)

    # last: load_settings keeps a --config file for the rest of the process
    toml = tmp_path / "strict.toml"
    toml.write_text("[answer]\ndecline_threshold = 0.99\n")
    via_file = cli(demo_data, "eval", "run", str(subset), "--config", str(toml), "--json")
    assert json.loads(via_file.stdout)["config_hash"] == strict["config_hash"]  # a profile file = the same overrides


def test_runs_of_different_datasets_cannot_be_compared(env, subset, tmp_path):
    settings, store, service = env
    a = EvalRunner(settings, store, service).run(load_dataset(subset))
    small = tmp_path / "small.jsonl"
    small.write_text("".join(subset.read_text().splitlines(keepends=True)[:5]))
    b = EvalRunner(settings, store, service).run(load_dataset(small))
    with pytest.raises(EvalError, match="different datasets"):
        gate(load_run(store, a.id), load_run(store, b.id), {"token_f1": 0.02})


def test_calibration_is_stored_and_used_by_gates(env, subset, demo_data, tmp_path, stub):
    settings, store, service = env
    ds = load_dataset(subset)
    stub.default = judge_reply(4)
    run = EvalRunner(settings, store, service, judges=[CorrectnessJudge(OpenAICompatProvider(settings.llm))]).run(ds)
    scored = load_run(store, run.id).per_example("correctness")
    labels = tmp_path / "human.jsonl"
    labels.write_text("".join(json.dumps({"id": ex, "human": 4 if v >= 4 else 2}) + "\n" for ex, v in scored.items()))
    r = cli(demo_data, "eval", "calibrate", "--labels", str(labels), "--run", run.id, "--json")
    assert r.exit_code == 0, r.output
    cal = json.loads(r.stdout)
    assert set(cal["stats"]) == {"kappa_quadratic", "spearman", "mae", "exact_agreement"}
    assert all(e["low"] <= e["value"] <= e["high"] for e in cal["stats"].values() if e["low"] == e["low"])
    assert store.latest_calibration("correctness")["id"] == cal["id"]
    data = load_run(store, run.id)
    result = gate(data, data, {"correctness": 0.1}, calibrations={"correctness": store.latest_calibration("correctness")})
    assert result.passed and result.checks[0].calibrated == cal["id"]

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "q001", "human": 4, "judge": 3}\n{"id": "q002", "human": 6, "judge": 3}\n'
                   '{"id": "q003", "human": 2.5, "judge": 1}\n{"id": "q001", "human": 1, "judge": 1}\n')
    with pytest.raises(EvalError) as e:
        cli(demo_data, "eval", "calibrate", "--labels", str(bad))
    msg = str(e.value)
    assert "line 2: human: a score is a whole number from 1 to 5, not 6" in msg
    assert "line 3: human" in msg and "line 4: id: duplicate id 'q001'" in msg


def test_repeats_separate_run_to_run_noise(env, subset, tmp_path):
    settings, store, service = env
    small = tmp_path / "small.jsonl"
    small.write_text("".join(subset.read_text().splitlines(keepends=True)[:6]))
    ds = load_dataset(small)
    a = EvalRunner(settings, store, service).run(ds, repeats=3)
    assert len(list(store.eval_results(a.id))) == 18
    var = a.summary["metrics"]["decision_correct"]["variance"]
    assert var["within"] == 0.0 and var["noise_share"] == 0.0  # extractive answers do not change run to run
    assert a.summary["metrics"]["latency_ms"]["variance"]["within"] > 0  # timings do
    from citeline.evaluate.compare import compare

    rows = {r.metric: r for r in compare(load_run(store, a.id), load_run(store, a.id))}
    assert rows["token_f1"].diff == 0 and rows["token_f1"].variance["a"]["noise_share"] == 0.0
    with pytest.raises(EvalError, match="--repeats must be between 1 and 20"):
        EvalRunner(settings, store, service).run(ds, repeats=0)


def test_a_killed_run_resumes_where_it_stopped(demo_data, subset):
    """SIGKILL the real CLI mid-run; the results written so far are kept and --resume finishes it."""
    import os
    import signal
    import sqlite3
    import subprocess
    import sys
    import time

    env = {k: v for k, v in os.environ.items() if not k.startswith("CITELINE_")}
    proc = subprocess.Popen([sys.executable, "-m", "citeline", "--data-dir", str(demo_data), "eval", "run",
                             str(subset), "--label", "killed"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    con = sqlite3.connect(demo_data / "citeline.db", timeout=30)
    try:
        deadline = time.monotonic() + 120
        run_id, done = None, 0
        while time.monotonic() < deadline and done < 3:
            row = con.execute("SELECT id FROM eval_runs WHERE label = 'killed'").fetchone()
            if row:
                run_id = row[0]
                done = con.execute("SELECT count(*) FROM eval_results WHERE run_id = ?", (run_id,)).fetchone()[0]
            time.sleep(0.05)
        assert run_id and done >= 3, proc.stderr.read().decode()[-2000:] if proc.poll() is not None else "too slow"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
        kept = con.execute("SELECT count(*) FROM eval_results WHERE run_id = ?", (run_id,)).fetchone()[0]
    finally:
        con.close()
    assert 3 <= kept < 26
    # nobody marked it: the dead owner process is noticed on read, in the list and the API's record
    r = cli(demo_data, "eval", "list", "--json")
    listed = {x["id"]: x for x in map(json.loads, r.stdout.splitlines())}[run_id]
    assert listed["status"] == "interrupted" and f"pid {proc.pid}" in listed["error"], listed
    r = cli(demo_data, "eval", "run", str(subset), "--resume", run_id, "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["status"] == "done"
    store = SqliteStore(demo_data / "citeline.db")
    try:
        assert len(list(store.eval_results(run_id))) == 26
    finally:
        store.close()


def test_a_run_owned_by_a_live_process_is_running_and_cannot_be_resumed_twice(env, subset, tmp_path):
    """A second process owns a run; while it lives the run is running and a resume is refused; once it
    is gone the run reads as interrupted and resumes."""
    import subprocess
    import sys

    settings, store, svc = env
    code = (
        "import sys, time\n"
        "from citeline.store import SqliteStore\n"
        "s = SqliteStore(sys.argv[1])\n"
        "r = s.create_eval_run(tenant=sys.argv[2], dataset_name='subset', dataset_hash=sys.argv[3],"
        " config_hash=sys.argv[4], n_examples=26, created_at='2026-01-01T00:00:00Z')\n"
        "s.close(); print(r.id, flush=True); time.sleep(60)\n"
    )
    ds = load_dataset(subset)
    child = subprocess.Popen([sys.executable, "-c", code, str(settings.db_path), settings.tenant, ds.hash,
                              settings.config_hash()], stdout=subprocess.PIPE, text=True)
    try:
        run_id = child.stdout.readline().strip()
        assert run_id.startswith("ev_")
        assert store.get_eval_run(run_id).status == "running"
        with pytest.raises(EvalError, match=f"still running \\(pid {child.pid} on "):
            EvalRunner(settings, store, svc).run(ds, resume=run_id)
    finally:
        child.kill()
        child.wait(30)
    gone = store.get_eval_run(run_id)
    assert gone.status == "interrupted" and f"pid {child.pid}" in gone.error
    done = EvalRunner(settings, store, svc).run(ds, resume=run_id)
    assert done.status == "done" and done.owner is None
