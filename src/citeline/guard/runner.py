"""Run the guards of a policy: input guards before retrieval, output guards after answering.

Every verdict is kept (it goes into the response, so into the stored trace, and into /metrics);
an enforced ``block`` stops the request with the policy's message. Shadow-mode guards only
record. A guard that raises fails closed: its verdict is ``block`` with rule ``guard-error``
and the error in ``detail`` (a shadow guard's error is recorded, never enforced).
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from citeline.contracts import Guard, GuardVerdict, Principal
from citeline.guard.policy import GuardPolicy, load_policy

log = logging.getLogger("citeline.guard")


class CachingEmbedder:
    """The guards embed the same question several times; keep the last few vectors."""

    def __init__(self, embedder, size: int = 512):
        self.inner = embedder
        self.name = embedder.name
        self.dim = embedder.dim
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._size = size

    def warm_up(self) -> None:
        self.inner.warm_up()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            for t, v in zip(missing, self.inner.embed(missing), strict=True):
                self._cache[t] = v
                if len(self._cache) > self._size:
                    self._cache.popitem(last=False)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            v = self._cache.get(t)
            out[i] = v if v is not None else self.inner.embed([t])[0]
        return out


@dataclass(slots=True)
class GuardOutcome:
    verdicts: list[GuardVerdict] = field(default_factory=list)
    blocked: GuardVerdict | None = None  # the enforced block that stops the request
    message: str | None = None  # what the caller is told instead of an answer

    @property
    def reason(self) -> str | None:
        if self.blocked is None:
            return None
        b = self.blocked
        score = f", score {b.score:.2f}" + (f" ≥ {b.threshold:g}" if b.threshold is not None and b.rule in
                                           ("classifier",) else "")
        return f"blocked by the {b.guard} guard ({b.rule}{score})" + (f": {b.detail}" if b.detail else "")


def _action(v: GuardVerdict) -> str:
    if v.verdict == "allow":
        return "none"
    if v.mode == "shadow":
        return "logged"
    return {"block": "blocked", "redact": "redacted", "flag": "flagged"}[v.verdict]


class GuardRunner:
    """Builds the guards a policy turns on; cheap to construct, models load on :meth:`warm_up`
    or first use. ``extra`` guards (anything with the :class:`~citeline.contracts.Guard` shape)
    run after the built-in input guards."""

    def __init__(self, policy: GuardPolicy, embedder=None, *, extra: Sequence[Guard] = ()):
        from citeline.guard.injection import InjectionGuard
        from citeline.guard.output import OutputGuard
        from citeline.guard.pii import PiiDetector, PiiGuard
        from citeline.guard.topic import CompetitorGuard, PoliticsGuard, TopicGuard

        self.policy = policy
        self.embedder = CachingEmbedder(embedder) if embedder is not None else None
        self.detector = PiiDetector(policy.pii.entities, names=policy.pii.names)
        guards: list[Guard] = []
        if policy.injection.mode != "off":
            guards.append(InjectionGuard(policy, self.embedder))
        if policy.pii.mode != "off":
            guards.append(PiiGuard(policy, self.detector))
        if policy.politics.mode != "off" and not policy.politics.allow_opinions:
            guards.append(PoliticsGuard(policy))
        if policy.competitors.mode != "off" and policy.competitors.names:
            guards.append(CompetitorGuard(policy))
        if policy.topic.mode != "off" and self.embedder is not None and (
                policy.allowed_topics or policy.blocked_topics or not policy.politics.allow_opinions):
            guards.append(TopicGuard(policy, self.embedder))
        guards.extend(extra)
        self.input_guards = guards
        self.output = OutputGuard(policy, self.detector) if policy.output.mode != "off" else None

    @classmethod
    def from_settings(cls, settings, embedder=None) -> GuardRunner:
        return cls(load_policy(settings.guard.policy), embedder)

    def warm_up(self) -> None:
        for g in self.input_guards:
            w = getattr(g, "warm_up", None)
            if w is not None:
                w()

    # ------------------------------------------------------------------------------------
    def _run(self, guard, text: str, principal: Principal | None) -> GuardVerdict:
        t0 = time.perf_counter()
        mode = "enforce"
        try:
            v = guard.check(text, principal=principal)
        except Exception as e:  # fail closed: a broken guard must not let the request through
            shadow = getattr(self.policy, guard.name, None)
            mode = "shadow" if getattr(shadow, "mode", "enforce") == "shadow" else "enforce"
            log.warning("guard %s failed, blocking: %s: %s", guard.name, type(e).__name__, e)
            v = GuardVerdict(guard=guard.name, verdict="block", score=1.0, rule="guard-error", mode=mode,
                             stage=getattr(guard, "stage", "input"), detail=f"{type(e).__name__}: {e}"[:300],
                             latency_ms=(time.perf_counter() - t0) * 1000)
        v.action = _action(v)
        return v

    def check_input(self, text: str, principal: Principal | None = None, *, all_guards: bool = False) -> GuardOutcome:
        """Verdicts of the input guards; stops at the first enforced block unless ``all_guards``."""
        out = GuardOutcome()
        for g in self.input_guards:
            v = self._run(g, text, principal)
            out.verdicts.append(v)
            if v.verdict == "block" and v.mode == "enforce" and out.blocked is None:
                out.blocked = v
                out.message = self.message_for(v)
                if not all_guards:
                    break
        self._log(out.verdicts, text)
        return out

    def check_output(self, response, principal: Principal | None = None) -> GuardOutcome:
        """Output verdicts for an answered response (PII in it redacted in place when enforced)."""
        out = GuardOutcome()
        if self.output is None or response.decision not in ("answered", "fallback"):
            return out
        t0 = time.perf_counter()
        try:
            verdicts = self.output.check_response(response, principal)
        except Exception as e:
            log.warning("output guard failed, blocking: %s: %s", type(e).__name__, e)
            verdicts = [GuardVerdict(guard="output", verdict="block", score=1.0, rule="guard-error",
                                     mode="shadow" if self.policy.output.mode == "shadow" else "enforce",
                                     stage="output", detail=f"{type(e).__name__}: {e}"[:300],
                                     latency_ms=(time.perf_counter() - t0) * 1000)]
        for v in verdicts:
            v.action = _action(v)
            out.verdicts.append(v)
            if v.verdict == "block" and v.mode == "enforce" and out.blocked is None:
                out.blocked = v
                out.message = self.message_for(v)
        self._log(out.verdicts, response.answer)
        return out

    def message_for(self, v: GuardVerdict) -> str:
        m = self.policy.messages
        rule = v.rule or ""
        if rule == "guard-error":
            text = m.guard_error
        elif v.guard == "injection" or (v.guard == "unsafe-markup"):
            text = m.injection if v.stage == "input" else m.refusal
        elif rule == "off-topic":
            text = m.off_topic
        elif rule.startswith("politics") or v.guard == "politics":
            text = m.politics
        elif rule.startswith("blocked-topic"):
            text = m.blocked_topic
        elif v.guard == "competitor":
            text = m.competitor
        elif rule.startswith("pii-request"):
            text = m.pii_request
        elif rule.startswith("pii-input"):
            text = m.pii_input
        else:
            text = m.refusal
        return f"{text} {m.handoff}".strip() if m.handoff else text

    # ------------------------------------------------------------------------------------
    def redact(self, text: str | None) -> str | None:
        if not text or self.policy.pii.mode == "off":
            return text
        return self.detector.redact(text)

    def redact_trace(self, data: dict) -> dict:
        """A response dict (``AnswerResponse.model_dump``) with PII redacted in its texts, for storage."""
        if not self.policy.pii.redact_traces or self.policy.pii.mode == "off":
            return data
        texts = [data.get("question") or "", data.get("answer") or "", data.get("reason") or "",
                 *(c.get("quote") or "" for c in data.get("citations", []))]
        red = self.detector.redact_many(texts)
        out = dict(data)
        out["question"], out["answer"] = red[0], red[1]
        out["reason"] = red[2] if data.get("reason") is not None else None
        out["citations"] = [dict(c, quote=q) for c, q in zip(data.get("citations", []), red[3:], strict=True)]
        return out

    def _log(self, verdicts: list[GuardVerdict], text: str) -> None:
        hits = [v for v in verdicts if v.verdict != "allow"]
        if not hits or not log.isEnabledFor(logging.INFO):
            return
        shown = self.redact(text) if self.policy.pii.redact_logs else text
        for v in hits:
            log.info("guard=%s verdict=%s mode=%s action=%s rule=%s score=%.3f text=%r", v.guard, v.verdict, v.mode,
                     v.action, v.rule, v.score, (shown or "")[:200])
