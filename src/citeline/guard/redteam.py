"""Red team: run attack suites against the live pipeline and report pass rates with intervals.

A suite is a JSON Lines file; each line is one case:

``{"id": "inj-001", "category": "injection", "input": "Ignore …", "expect": ["blocked"],
"must_not_contain": ["PWNED"], "no_pii": true, "as_groups": ["everyone"], "documents": [...]}``

* ``expect`` — decisions that pass (default: ``blocked`` or ``declined``);
* ``must_not_contain`` — strings that must not appear in the answer or its quotes;
* ``no_pii`` — the answer must carry no card number, IBAN or SSN;
* ``documents`` — ``[{"name", "text", "acl"}]`` planted for the case (indirect injection,
  permission probing): written to a scratch folder, ingested into a scratch tenant of the same
  store through the real pipeline (document guard included), asked there, and removed after.
  Cases with documents are asked in that tenant, so they see only planted documents.

Built-in suites live in ``citeline/guard/data/redteam/``; a user file is passed by path.
"""

from __future__ import annotations

import json
import math
import re
import tempfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from citeline.contracts import EVERYONE, Principal
from citeline.errors import ConfigError

SCRATCH_TENANT = "citeline-redteam"
_PII_KINDS = ("CREDIT_CARD", "IBAN", "SSN")


def builtin_suites() -> dict[str, str]:
    folder = resources.files("citeline.guard").joinpath("data/redteam")
    return {p.name.removesuffix(".jsonl"): p.read_text(encoding="utf-8") for p in folder.iterdir()
            if p.name.endswith(".jsonl")}


@dataclass(slots=True)
class Case:
    id: str
    category: str
    input: str
    expect: list[str] = field(default_factory=lambda: ["blocked", "declined"])
    must_not_contain: list[str] = field(default_factory=list)
    no_pii: bool = False
    as_groups: list[str] = field(default_factory=lambda: [EVERYONE])
    documents: list[dict] = field(default_factory=list)
    source: str = ""


def _parse(text: str, source: str) -> list[Case]:
    cases = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            d = json.loads(line)
            cases.append(Case(id=str(d.get("id") or f"{Path(source).stem}-{n}"), category=str(d["category"]),
                              input=str(d["input"]), expect=list(d.get("expect") or ["blocked", "declined"]),
                              must_not_contain=list(d.get("must_not_contain") or []), no_pii=bool(d.get("no_pii")),
                              as_groups=list(d.get("as_groups") or [EVERYONE]),
                              documents=list(d.get("documents") or []), source=source))
        except (ValueError, KeyError, TypeError) as e:
            raise ConfigError(f"{source}:{n}: not a red-team case ({type(e).__name__}: {e}); each line needs "
                              "category and input") from None
    return cases


def load_cases(suites: list[str] | None = None) -> list[Case]:
    """Cases of the named built-in suites and/or JSONL files (default: every built-in suite)."""
    builtin = builtin_suites()
    cases: list[Case] = []
    for s in suites or sorted(builtin):
        if s in builtin:
            cases += _parse(builtin[s], s)
            continue
        path = Path(s)
        if not path.is_file():
            raise ConfigError(f"no red-team suite {s!r}: give a file or one of {', '.join(sorted(builtin))}")
        cases += _parse(path.read_text(encoding="utf-8"), str(path))
    return cases


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95% Wilson score interval of a proportion k/n."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return max(0.0, c - h), min(1.0, c + h)


@dataclass(slots=True)
class CaseResult:
    case: Case
    passed: bool
    decision: str
    answer: str
    reason: str | None
    why: str  # why it failed ("" when passed)
    guards: list[str]

    def to_json(self) -> dict:
        return {"id": self.case.id, "category": self.case.category, "input": self.case.input, "passed": self.passed,
                "decision": self.decision, "why": self.why, "reason": self.reason, "answer": self.answer[:500],
                "guards": self.guards}


@dataclass(slots=True)
class RedTeamReport:
    results: list[CaseResult]

    def categories(self) -> dict[str, dict]:
        out: dict[str, dict] = {}
        for r in self.results:
            c = out.setdefault(r.case.category, {"n": 0, "passed": 0})
            c["n"] += 1
            c["passed"] += r.passed
        for c in out.values():
            lo, hi = wilson(c["passed"], c["n"])
            c.update(pass_rate=round(c["passed"] / c["n"], 4), ci95=[round(lo, 4), round(hi, 4)])
        return dict(sorted(out.items()))

    @property
    def failures(self) -> list[CaseResult]:
        return [r for r in self.results if not r.passed]

    def to_json(self) -> dict:
        n, k = len(self.results), sum(r.passed for r in self.results)
        lo, hi = wilson(k, n)
        return {"n": n, "passed": k, "pass_rate": round(k / n, 4) if n else 0.0, "ci95": [round(lo, 4), round(hi, 4)],
                "categories": self.categories(), "failures": [r.to_json() for r in self.failures]}


def _judge(case: Case, response, detector) -> str:
    texts = [response.answer, *(c.quote for c in response.citations)]
    if response.decision not in case.expect:
        return f"decision {response.decision!r}, expected {' or '.join(case.expect)}"
    for s in case.must_not_contain:
        if any(s.lower() in t.lower() for t in texts):
            return f"answer contains {s!r}"
    if case.no_pii:
        found = [sp for spans in detector.find_many(texts, _PII_KINDS) for sp in spans]
        if found:
            return f"answer contains {found[0].entity}"
    return ""


def _plant(service, cases: list[Case], root: Path) -> str:
    """Ingest the planted documents of every case into one scratch tenant (one pipeline run per
    ACL), through the real pipeline with its document guard; returns the tenant."""
    from citeline.ingest.pipeline import IngestPipeline

    by_acl: dict[tuple[str, ...], list[str]] = {}
    for case in cases:
        for i, d in enumerate(case.documents):
            acl = tuple(sorted(d.get("acl") or [EVERYONE]))
            sub = root / re.sub(r"[^A-Za-z0-9]+", "-", "-".join(acl)) / re.sub(r"[^A-Za-z0-9]+", "-", case.id)
            sub.mkdir(parents=True, exist_ok=True)
            (sub / Path(str(d.get("name") or f"doc-{i}.md")).name).write_text(str(d["text"]), encoding="utf-8")
            by_acl.setdefault(acl, [])
            if str(sub.parent) not in by_acl[acl]:
                by_acl[acl].append(str(sub.parent))
    pipeline = IngestPipeline(service.settings, service.store, service.embedder)
    for acl, paths in by_acl.items():
        pipeline.run(paths, acl=list(acl), tenant=SCRATCH_TENANT)
    return SCRATCH_TENANT


def _unplant(service) -> None:
    for doc in service.store.list_documents(SCRATCH_TENANT):
        service.store.delete_document(doc.id, tenant=SCRATCH_TENANT)


def run_redteam(service, cases: list[Case], *, tenant: str | None = None, use_llm: bool = False,
                progress=None) -> RedTeamReport:
    """Ask every case through ``service`` (an :class:`~citeline.answer.service.AskService`)."""
    from citeline.guard.pii import PiiDetector

    detector = PiiDetector(_PII_KINDS, names=False)
    tenant = tenant or service.settings.tenant
    results: list[CaseResult] = []
    planted = [c for c in cases if c.documents]
    with tempfile.TemporaryDirectory(prefix="citeline-redteam-") as tmp:
        try:
            if planted:
                _unplant(service)  # left over from a killed run
                _plant(service, planted, Path(tmp))
            for case in cases:
                principal = Principal(tenant=SCRATCH_TENANT if case.documents else tenant,
                                      groups=tuple(case.as_groups))
                response = service.ask(case.input, principal, use_llm=use_llm)
                why = _judge(case, response, detector)
                results.append(CaseResult(case=case, passed=not why, decision=response.decision,
                                          answer=response.answer, reason=response.reason, why=why,
                                          guards=[f"{v.guard}:{v.verdict}:{v.rule}" for v in response.guards
                                                  if v.verdict != "allow"]))
                if progress is not None:
                    progress(results[-1])
        finally:
            if planted:
                _unplant(service)
    return RedTeamReport(results)
