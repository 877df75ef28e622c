"""``citeline guard check`` and ``citeline redteam``: tune a policy, attack the live pipeline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from citeline.errors import CitelineError

guard_app = typer.Typer(no_args_is_help=True, help="Guardrails: check inputs against the guard policy.")
out = Console()
err = Console(stderr=True)


def _settings(policy: Path | None):
    from citeline.cli import _settings as cli_settings

    settings = cli_settings()
    if policy is not None:
        settings = settings.model_copy(update={"guard": settings.guard.model_copy(update={"policy": policy})})
    return settings


def _inputs(text: str | None, file: Path | None) -> list[str]:
    if file is not None:
        try:
            return [line for line in file.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
        except OSError as e:
            raise CitelineError(f"cannot read {file}: {e.strerror}") from None
    if text is None:
        raise CitelineError("give a text, or --file with one input per line")
    return [text]


@guard_app.command("check")
def check(
    text: Annotated[Optional[str], typer.Argument(help="The input to check.")] = None,
    file: Annotated[Optional[Path], typer.Option("--file", help="One input per line; writes JSON Lines.")] = None,
    policy: Annotated[Optional[Path], typer.Option("--policy", help="Guard policy file (default guard.policy).")] = None,
    output: Annotated[bool, typer.Option("--output", help="Check as an answer (output guards) instead.")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Run every input guard on TEXT and print each guard's verdict, score, threshold and rule."""
    from citeline.guard.policy import load_policy
    from citeline.guard.runner import GuardRunner
    from citeline.ingest.embed import OnnxMiniLMEmbedder

    settings = _settings(policy)
    texts = _inputs(text, file)
    runner = GuardRunner(load_policy(settings.guard.policy), OnnxMiniLMEmbedder(settings.embedding))
    runner.warm_up()
    runner.detector.find("Warm Up")  # loads spaCy now, so latencies below are per input
    rows = []
    for t in texts:
        if output:
            verdicts = runner.output.check_text(t) if runner.output is not None else []
            for v in verdicts:
                v.action = "blocked" if v.verdict == "block" and v.mode == "enforce" else v.action
            blocked = next((v for v in verdicts if v.verdict == "block" and v.mode == "enforce"), None)
            outcome = {"blocked": blocked is not None, "message": runner.message_for(blocked) if blocked else None}
        else:
            res = runner.check_input(t, all_guards=True)
            verdicts = res.verdicts
            outcome = {"blocked": res.blocked is not None, "message": res.message}
        rows.append({"input": t, **outcome, "verdicts": [v.to_json() for v in verdicts]})
    if as_json or file is not None:
        for r in rows:
            print(json.dumps(r, ensure_ascii=False))
        return
    r = rows[0]
    table = Table(title=("[red]blocked[/]: " + (r["message"] or "")) if r["blocked"] else "[green]allowed[/]")
    for col in ("guard", "verdict", "score", "threshold", "rule", "mode", "action", "ms"):
        table.add_column(col, no_wrap=True)
    table.add_column("detail", overflow="fold")
    colors = {"allow": "green", "flag": "yellow", "redact": "yellow", "block": "red"}
    for v in r["verdicts"]:
        table.add_row(v["guard"], f"[{colors[v['verdict']]}]{v['verdict']}[/]", f"{v['score']:.2f}",
                      "" if v["threshold"] is None else f"{v['threshold']:g}", v["rule"] or "", v["mode"], v["action"],
                      f"{v['latency_ms']:.1f}", v["detail"] or "")
    out.print(table)


def redteam(
    suite: Annotated[Optional[list[str]], typer.Option("--suite", help="Built-in suite name or JSONL file; repeat "
                                                      "for several (default: every built-in suite).")] = None,
    profile: Annotated[Optional[Path], typer.Option("--profile", "--policy", help="Guard policy file to attack "
                                                    "(default guard.policy).")] = None,
    llm: Annotated[bool, typer.Option("--llm", help="Answer with the configured language model.")] = False,
    tenant: Annotated[Optional[str], typer.Option("--tenant")] = None,
    fail_under: Annotated[Optional[float], typer.Option("--fail-under", help="Exit 1 when the overall pass rate is "
                                                        "below this (0–1).")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Run attack suites (off-topic, competitor and political baiting, PII extraction, direct and
    indirect injection, permission probing) against the live pipeline; pass rates per category
    with 95% Wilson intervals, and the failing cases."""
    from citeline.answer.service import AskService
    from citeline.cli import _store
    from citeline.guard.redteam import builtin_suites, load_cases, run_redteam

    settings = _settings(profile)
    cases = load_cases(suite)
    store = _store(settings)
    try:
        service = AskService(settings, store)
        if llm:
            service.with_llm()
        if not as_json:
            err.print(f"red team: {len(cases)} cases from {', '.join(suite or sorted(builtin_suites()))}")
        report = run_redteam(service, cases, tenant=tenant, use_llm=llm)
    finally:
        store.close()
    data = report.to_json()
    if as_json:
        print(json.dumps(data, ensure_ascii=False))
    else:
        table = Table(title=f"red team: {data['passed']}/{data['n']} passed ({data['pass_rate']:.0%}, 95% CI "
                            f"{data['ci95'][0]:.0%}–{data['ci95'][1]:.0%})")
        for col in ("category", "cases", "passed", "pass rate", "95% CI"):
            table.add_column(col, justify="right" if col != "category" else "left")
        for name, c in data["categories"].items():
            table.add_row(name, str(c["n"]), str(c["passed"]), f"{c['pass_rate']:.0%}",
                          f"{c['ci95'][0]:.0%}–{c['ci95'][1]:.0%}")
        out.print(table)
        if data["failures"]:
            ft = Table(title="failing cases", title_style="red")
            for col in ("id", "input", "decision", "why"):
                ft.add_column(col, overflow="fold")
            for f in data["failures"]:
                ft.add_row(f["id"], f["input"][:120], f["decision"], f["why"])
            out.print(ft)
    if fail_under is not None and data["pass_rate"] < fail_under:
        raise typer.Exit(1)
