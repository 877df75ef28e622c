"""Output guards: checks on an answer before the caller sees it.

* **competitor** — a sentence naming a competitor with a favourable or recommending cue
  ("Nest is better", "we recommend ecobee") blocks the answer;
* **politics** — a political or religious subject stated as an opinion blocks it;
* **pii-leak** — card numbers, IBANs, SSNs (``pii.answer_entities``) are redacted in the
  answer and its citation quotes, unless the caller is in a group of ``pii.visible_to``;
* **unsafe-markup** — exfiltration image links and script tags in an answer block it;
* **groundedness** — records the answer's support from the answer stage (the answerer
  already removed unsupported sentences or declined).
"""

from __future__ import annotations

import re
import time

from citeline.answer.response import AnswerResponse
from citeline.contracts import GuardVerdict, Principal
from citeline.guard.injection import RULES
from citeline.guard.pii import PiiDetector, apply_redaction
from citeline.guard.policy import GuardPolicy
from citeline.guard.topic import _POLITICAL, competitor_pattern

_SENTENCE = re.compile(r"[^.!?\n]+[.!?]?")
_FAVOURABLE = re.compile(
    r"\b(?:better|best|superior|prefer(?:red|able)?|recommend(?:ed|s)?|cheaper|great|excellent|outperforms?|beats?|"
    r"switch to|go with|choose|pick|buy|more reliable|more accurate|easier|nicer|worth it|top choice|"
    r"leading|winner|wins)\b", re.I)
_OPINION_VOICE = re.compile(
    r"\b(?:i|we) (?:think|believe|feel|support|oppose|prefer|agree|disagree)\b|\bin my (?:opinion|view)\b|"
    r"\byou should (?:vote|support|oppose)\b|\b(?:is|are|was|were) (?:right|wrong|evil|good|bad|justified|a mistake)\b"
    r"|\bthe (?:best|worst) (?:party|candidate|president|leader|religion)\b", re.I)
_MARKUP = [(name, rx) for name, rx in RULES if name in ("exfiltration-link", "script-tag")]


def _v(guard: str, verdict: str, mode: str, t0: float, score: float = 0.0, rule: str | None = None,
       detail: str | None = None, threshold: float | None = None) -> GuardVerdict:
    return GuardVerdict(guard=guard, verdict=verdict, score=score, threshold=threshold, rule=rule, mode=mode,
                        stage="output", detail=detail, latency_ms=(time.perf_counter() - t0) * 1000)


class OutputGuard:
    """Runs every output check on an answer; :meth:`check_response` may redact the response."""

    name = "output"
    stage = "output"

    def __init__(self, policy: GuardPolicy, detector: PiiDetector | None = None):
        self.policy = policy
        self.competitors = competitor_pattern(policy)
        self.detector = detector or PiiDetector(policy.pii.entities, names=policy.pii.names)

    def _mode(self, own: str) -> str:
        return "shadow" if "shadow" in (own, self.policy.output.mode) else "enforce"

    def check(self, text: str, *, principal: Principal | None = None) -> GuardVerdict:
        """The first violating verdict for a bare answer text (``citeline guard check`` uses it)."""
        for v in self.check_text(text, principal):
            if v.verdict != "allow":
                return v
        return _v(self.name, "allow", self._mode("enforce"), time.perf_counter())

    def check_text(self, text: str, principal: Principal | None = None) -> list[GuardVerdict]:
        p = self.policy
        out: list[GuardVerdict] = []
        sentences = [m.group(0).strip() for m in _SENTENCE.finditer(text) if m.group(0).strip()]
        t0 = time.perf_counter()
        if self.competitors is not None and p.competitors.mode != "off":
            mode = self._mode(p.competitors.mode)
            found = None
            for s in sentences:
                name = self.competitors.search(s)
                if name and _FAVOURABLE.search(s):
                    found = (name.group(0), s)
                    break
            out.append(_v("competitor", "block", mode, t0, 1.0, "competitor:favourable",
                          f"favourable mention of {found[0]!r}: {found[1][:120]!r}") if found
                       else _v("competitor", "allow", mode, t0))
        t0 = time.perf_counter()
        if not p.politics.allow_opinions and p.politics.mode != "off":
            mode = self._mode(p.politics.mode)
            found = next((s for s in sentences if _POLITICAL.search(s) and _OPINION_VOICE.search(s)), None)
            out.append(_v("politics", "block", mode, t0, 1.0, "politics:opinion", found[:120]) if found
                       else _v("politics", "allow", mode, t0))
        t0 = time.perf_counter()
        mode = self._mode("enforce")
        bad = next((name for name, rx in _MARKUP if rx.search(text)), None)
        out.append(_v("unsafe-markup", "block", mode, t0, 1.0, f"markup:{bad}") if bad
                   else _v("unsafe-markup", "allow", mode, t0))
        return out

    def pii_visible(self, principal: Principal | None) -> bool:
        return principal is not None and bool(set(principal.groups) & set(self.policy.pii.visible_to))

    def check_response(self, response: AnswerResponse, principal: Principal | None) -> list[GuardVerdict]:
        """All output verdicts for an answered response; PII in it is redacted in place when enforced."""
        verdicts = self.check_text(response.answer, principal)
        p = self.policy.pii
        t0 = time.perf_counter()
        if p.mode != "off" and p.answer_entities:
            mode = self._mode(p.mode)
            texts = [response.answer, *(c.quote for c in response.citations)]
            found = self.detector.find_many(texts, p.answer_entities)
            n = sum(len(s) for s in found)
            if n and self.pii_visible(principal):
                verdicts.append(_v("pii-leak", "allow", mode, t0, 1.0, "pii-visible-to-caller",
                                   f"{n} PII spans shown: the caller is in pii.visible_to"))
            elif n:
                kinds = sorted({s.entity for spans in found for s in spans})
                verdicts.append(_v("pii-leak", "redact", mode, t0, 1.0, "pii-leak:" + ",".join(kinds),
                                   f"{n} PII spans in the answer"))
                if mode == "enforce":
                    response.answer = apply_redaction(response.answer, found[0])
                    for c, spans in zip(response.citations, found[1:], strict=True):
                        c.quote = apply_redaction(c.quote, spans)
            else:
                verdicts.append(_v("pii-leak", "allow", mode, t0))
        verdicts.append(GuardVerdict(guard="groundedness", verdict="allow", score=response.confidence,
                                     threshold=None, rule="answer-stage", mode="enforce", stage="output",
                                     detail="unsupported sentences are removed by the answerer"))
        return verdicts
