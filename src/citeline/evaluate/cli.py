"""``citeline eval ...``: init, run, list, show, compare, gate, calibrate, report, export."""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from citeline.errors import EvalError
from citeline.evaluate.stats import fmt

eval_app = typer.Typer(no_args_is_help=True, help="Evaluate with statistics: datasets, runs, comparisons, a release "
                                                  "gate, judge calibration, reports.")
out = Console()
err = Console(stderr=True)


def _ctx():
    from citeline import cli

    return cli


def _overrides(items: list[str] | None) -> dict:
    """``--set answer.decline_threshold=0.6`` → {"answer": {"decline_threshold": 0.6}}."""
    merged: dict = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise EvalError(f"--set takes SECTION.KEY=VALUE (e.g. retrieval.rerank=false), not {item!r}")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        node = merged
        parts = key.strip().split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    return merged


@contextmanager
def _opened(overrides: dict | None = None):
    """(cli module, settings, open store) for one command; the store is closed after."""
    cli = _ctx()
    settings = cli._settings(**(overrides or {}))
    store = cli._store(settings)
    try:
        yield cli, settings, store
    finally:
        store.close()


def _provider(settings, flag: str):
    """The configured OpenAI-compatible model, for ``--llm`` / ``--judge``."""
    if not settings.llm.base_url:
        raise EvalError(f"{flag} needs a model endpoint: set llm.base_url (or CITELINE_LLM__BASE_URL)")
    from citeline.models.openai_compat import OpenAICompatProvider

    return OpenAICompatProvider(settings.llm)


def _load(store, ref: str, tenant: str):
    """A run by id (``latest`` = the newest done run) or an exported run file."""
    from citeline.evaluate.runner import RunData, load_run

    path = Path(ref)
    if ref.endswith(".json") or path.is_file():
        return RunData.from_file(path)
    if ref == "latest":
        done = [r for r in store.list_eval_runs(tenant, limit=200) if r.status == "done"]
        if not done:
            raise EvalError("no finished evaluation run yet (citeline eval run DATASET)")
        ref = done[0].id
    return load_run(store, ref, tenant)


def print_summary(run) -> None:
    s = run.summary
    table = Table(title=f"eval run {run.id} · {run.dataset_name} · {s.get('n_examples', 0)} examples"
                        f"{f' × {run.repeats}' if run.repeats > 1 else ''} · config {run.config_hash}")
    for col, just in (("metric", "left"), ("mean", "right"), ("95% interval", "right"), ("n", "right")):
        table.add_column(col, justify=just)
    for name, m in s.get("metrics", {}).items():
        arrow = "↑" if m.get("higher_is_better", True) else "↓"
        table.add_row(f"{name} {arrow}", fmt(m["value"]), f"[{fmt(m['low'])}, {fmt(m['high'])}]", str(m["n"]))
    d = s.get("decline", {})
    for key in ("precision", "recall"):
        if key in d:
            table.add_row(f"decline {key} ↑", fmt(d[key]["value"]), f"[{fmt(d[key]['low'])}, {fmt(d[key]['high'])}]",
                          str(d[key]["n"]))
    out.print(table)
    out.print(f"decisions: {', '.join(f'{k} {v}' for k, v in s.get('decisions', {}).items())}")
    for name, n in s.get("unscored", {}).items():
        out.print(f"[yellow]{name}: {n} judge replies could not be parsed and are not scored[/]")


@eval_app.command("init")
def eval_init(
    output: Annotated[Path, typer.Option("--output", "-o", help="Dataset file to write.")] = Path("eval.jsonl"),
    n: Annotated[int, typer.Option("-n", help="How many questions.")] = 5,
    llm: Annotated[bool, typer.Option("--llm", help="Let the configured model phrase the questions.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a starter dataset: questions drawn from passages of your own documents, to edit."""
    from citeline.evaluate.starter import starter_rows

    if not 1 <= n <= 50:
        raise EvalError(f"-n must be between 1 and 50, not {n}")
    if output.exists() and not force:
        raise EvalError(f"{output} exists; pass --force to overwrite it")
    with _opened() as (_, settings, store):
        rows = starter_rows(store, settings.tenant, n=n, provider=_provider(settings, "--llm") if llm else None)
    output.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    for r in rows:
        out.print(f"[bold]{r['id']}[/] {r['question']}  [dim]({r['sources'][0]['document']} p.{r['sources'][0]['page']})[/]")
    out.print(f"wrote {len(rows)} questions to {output}: edit the questions and answers, add questions your documents "
              "cannot answer with \"should_decline\": true, then run [bold]citeline eval run " + str(output) + "[/]")


@eval_app.command("run")
def eval_run(
    dataset: Annotated[Path, typer.Argument(help="JSONL, CSV or YAML dataset.")],
    config: Annotated[Optional[Path], typer.Option("--config", help="Settings file for this run (the profile to "
                                                   "evaluate); default: the global --config.")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Override a setting for this run: "
                                                      "SECTION.KEY=VALUE (repeatable).")] = None,
    repeats: Annotated[int, typer.Option("--repeats", help="Ask every question k times (separates run-to-run "
                                         "noise from differences between examples).")] = 1,
    label: Annotated[str, typer.Option("--label", help="A name for this run (e.g. the branch).")] = "",
    llm: Annotated[bool, typer.Option("--llm", help="Answer with the configured language model.")] = False,
    judge: Annotated[bool, typer.Option("--judge", help="Also score correctness and faithfulness with the "
                                        "configured model (llm.base_url).")] = False,
    resume: Annotated[Optional[str], typer.Option("--resume", help="Continue a stopped run.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Run a dataset through the pipeline, score every example and store the run."""
    from citeline.answer.service import AskService
    from citeline.evaluate.dataset import load_dataset
    from citeline.evaluate.runner import EvalRunner

    ds = load_dataset(dataset)
    if config is not None:
        _ctx().state.config = config
    try:
        with _opened(_overrides(set_)) as (cli, settings, store):
            service = AskService(settings, store)
            if llm:
                service.with_llm()
            judges = []
            if judge:
                from citeline.evaluate.judges import CorrectnessJudge, FaithfulnessJudge

                provider = _provider(settings, "--judge")
                judges = [CorrectnessJudge(provider), FaithfulnessJudge(provider)]
            runner = EvalRunner(settings, store, service, use_llm=llm, judges=judges)
            show = not as_json and err.is_terminal
            with Progress(TextColumn("[bold]eval[/]"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                          console=err, disable=not show, transient=True) as bar:
                task = bar.add_task("eval", total=len(ds) * repeats)
                run = runner.run(ds, repeats=repeats, label=label, resume=resume,
                                 progress=lambda done, total: bar.update(task, completed=done, total=total))
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/]: results so far are kept; resume with --resume (see citeline eval list)")
        raise typer.Exit(130) from None
    if as_json:
        cli._emit_json([run.to_json()])
        return
    print_summary(run)


@eval_app.command("list")
def eval_list(
    limit: Annotated[int, typer.Option("--limit")] = 20,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List stored runs: id, dataset, config hash, status."""
    with _opened() as (cli, settings, store):
        runs = store.list_eval_runs(settings.tenant, limit)
    if as_json:
        cli._emit_json(r.to_json() | {"summary": None} for r in runs)
        return
    table = Table(title=f"{len(runs)} evaluation runs")
    for col in ("id", "created", "dataset", "label", "config", "examples", "status"):
        table.add_column(col)
    for r in runs:
        table.add_row(r.id, r.created_at[:19], r.dataset_name, r.label, r.config_hash,
                      f"{r.n_examples}{f'×{r.repeats}' if r.repeats > 1 else ''}",
                      r.status + (f" ({r.error})" if r.error else ""))
    out.print(table)


@eval_app.command("show")
def eval_show(run_id: str, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Show one run's summary (``latest`` for the newest)."""
    with _opened() as (cli, settings, store):
        data = _load(store, run_id, settings.tenant)
    if as_json:
        cli._emit_json([data.record.to_json()])
        return
    print_summary(data.record)


@eval_app.command("compare")
def eval_compare(
    run_a: Annotated[str, typer.Argument(help="Baseline run id or exported run file.")],
    run_b: Annotated[str, typer.Argument(help="Candidate run id or exported run file.")],
    effect: Annotated[Optional[float], typer.Option("--effect", help="Also say how many examples are needed to "
                                                    "detect a true difference this large.")] = None,
    metric: Annotated[Optional[list[str]], typer.Option("--metric", help="Only these metrics.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Paired differences B − A per metric with 95% intervals, Holm-corrected p-values and power."""
    from citeline.evaluate.compare import compare

    with _opened() as (cli, settings, store):
        a, b = _load(store, run_a, settings.tenant), _load(store, run_b, settings.tenant)
    rows = compare(a, b, metrics=metric, effect=effect)
    if as_json:
        cli._emit_json(r.to_json() for r in rows)
        return
    table = Table(title=f"{b.record.id} − {a.record.id}, paired by example")
    cols = ["metric", "n", "A", "B", "B − A", "95% CI", "p Holm", "+/−", "MDE"] + (["n for effect"] if effect else [])
    for col in cols:
        table.add_column(col, justify="left" if col == "metric" else "right", no_wrap=True)
    for r in rows:
        color = "" if not r.significant else ("green" if (r.diff > 0) == r.higher_is_better else "red")
        diff = f"{r.diff:+.3f}"
        cells = [r.metric + (" ↑" if r.higher_is_better else " ↓"), str(r.n), fmt(r.a), fmt(r.b),
                 f"[{color}]{diff}[/]" if color else diff, f"{fmt(r.low)}, {fmt(r.high)}", fmt(r.p_holm),
                 f"{r.better}/{r.worse}", fmt(r.mde)] + ([str(r.n_for_effect or "–")] if effect else [])
        table.add_row(*cells)
    out.print(table)
    out.print("[dim]+/− = examples better/worse in B; MDE = smallest true difference detected 80% of the time at "
              "this n (α = 0.05, two-sided); intervals are per metric, p-values Holm-corrected across metrics[/]")
    if any(r.variance for r in rows):
        for r in rows:
            if r.variance:
                va, vb = r.variance["a"], r.variance["b"]
                out.print(f"[dim]{r.metric}: run-to-run noise share A {va['noise_share']:.0%}, "
                          f"B {vb['noise_share']:.0%}[/]")


@eval_app.command("gate")
def eval_gate(
    baseline: Annotated[str, typer.Option("--baseline", help="Run id or exported run file (e.g. committed).")],
    candidate: Annotated[str, typer.Option("--candidate", help="Run id, exported file, or latest.")] = "latest",
    max_drop: Annotated[Optional[list[str]], typer.Option("--max-drop", help="METRIC=MARGIN: the largest drop "
                                                          "accepted (repeatable).")] = None,
    markdown: Annotated[Optional[Path], typer.Option("--markdown", help="Write a summary for a pull-request "
                                                     "comment.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Fail (exit 1) only when a drop beyond a margin is statistically supported."""
    from citeline.evaluate.compare import gate, gate_markdown, parse_margins

    margins = parse_margins(max_drop or [])
    with _opened() as (cli, settings, store):
        base, cand = _load(store, baseline, settings.tenant), _load(store, candidate, settings.tenant)
        calibrations = {m: c for m in margins if (c := store.latest_calibration(m))}
    result = gate(base, cand, margins, calibrations=calibrations)
    text = gate_markdown(result, base.record.label, cand.record.label)
    if markdown:
        markdown.write_text(text, encoding="utf-8")
    if as_json:
        cli._emit_json([result.to_json()])
    else:
        sys.stdout.write(text)
    if not result.passed:
        raise typer.Exit(1)


@eval_app.command("calibrate")
def eval_calibrate(
    labels: Annotated[Path, typer.Option("--labels", help="JSONL rows {id, human: 1-5[, judge: 1-5]}.")],
    run: Annotated[Optional[str], typer.Option("--run", help="Take judge scores from this run.")] = None,
    judge: Annotated[str, typer.Option("--judge", help="Which judge: correctness or faithfulness.")] = "correctness",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Measure a judge against a person's 1–5 scores and store the calibration later gates use."""
    from citeline.evaluate.calibrate import attach_judge_scores, calibrate, load_labels
    from citeline.store.sql import now

    rows = load_labels(labels)
    with _opened() as (cli, settings, store):
        if run:
            rows = attach_judge_scores(rows, _load(store, run, settings.tenant), judge)
        cal = calibrate(rows, judge=judge)
        cid = store.put_calibration(judge=judge, model=settings.llm.model, n=cal.n,
                                    stats=cal.stats | {"pairs": cal.pairs},
                                    mapping=cal.mapping, trusted=cal.trusted, created_at=now())
    if as_json:
        cli._emit_json([cal.to_json() | {"id": cid}])
        return
    table = Table(title=f"judge {judge} vs people · {cal.n} labels · calibration {cid}")
    for col in ("agreement", "value", "95% interval"):
        table.add_column(col, justify="left" if col == "agreement" else "right")
    for name, e in cal.stats.items():
        table.add_row(name, fmt(e["value"]), f"[{fmt(e['low'])}, {fmt(e['high'])}]")
    out.print(table)
    m = cal.mapping
    out.print("judge → expected human: " + ", ".join(f"{k}→{v:.2f}" for k, v in m["expected_human"].items()))
    t = m["good_if_judge_at_least"]
    out.print(f"human ≥ {m['good_means_human_at_least']} is best predicted by judge ≥ {t['threshold']} "
              f"(balanced accuracy {t['balanced_accuracy']:.2f})")
    for w in cal.warnings:
        err.print(f"[yellow]warning[/]: {w}")
    out.print("[green]trusted[/]: gates on this judge use the mapping" if cal.trusted else
              "[yellow]not trusted[/]: gates on this judge will warn")


@eval_app.command("report")
def eval_report(
    run_id: Annotated[str, typer.Argument(help="Run id, exported run file, or latest.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="HTML file to write.")] = Path("eval-report.html"),
    against: Annotated[Optional[str], typer.Option("--compare", help="Also show paired differences vs this run.")] = None,
    json_out: Annotated[Optional[Path], typer.Option("--json-out", help="Also write the report data as JSON.")] = None,
) -> None:
    """Write a self-contained HTML report (intervals, distributions, coverage–accuracy, judge calibration)."""
    from citeline.evaluate.compare import compare
    from citeline.evaluate.report import render, report_json

    with _opened() as (_, settings, store):
        data = _load(store, run_id, settings.tenant)
        other = _load(store, against, settings.tenant) if against else None
        calibration = store.latest_calibration("correctness") if "correctness" in data.metrics else None
    comparison = compare(other, data) if other else None
    output.write_text(render(data, comparison=comparison, other=other, calibration=calibration), encoding="utf-8")
    if json_out:
        json_out.write_text(json.dumps(report_json(data, comparison, calibration), indent=1), encoding="utf-8")
    err.print(f"wrote {output}" + (f" and {json_out}" if json_out else ""))


@eval_app.command("export")
def eval_export(
    run_id: str,
    output: Annotated[Path, typer.Option("--output", "-o", help="JSON file to write.")],
) -> None:
    """Write a run (summary and per-example results) to a file, e.g. to commit as a gate baseline."""
    with _opened() as (_, settings, store):
        data = _load(store, run_id, settings.tenant)
    data.to_file(output)
    err.print(f"wrote run {data.record.id} ({len(data.examples)} examples) to {output}")
