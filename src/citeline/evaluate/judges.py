"""LLM judges: typed prompts in, validated 1–5 scores out.

A reply that does not parse into the expected shape is a failure the run counts and reports
(``MetricResult(None, "unparseable ...")``), never a silent score. An endpoint that stays down
after the provider's retries raises, so the runner can stop the run where it is, resumable.
"""

from __future__ import annotations

import json
import re

from pydantic import BaseModel, Field, ValidationError

from citeline.answer.response import AnswerResponse
from citeline.contracts import MetricResult
from citeline.errors import ModelResponseError
from citeline.evaluate.dataset import Example
from citeline.evaluate.metrics import NOT_ANSWERED

PROMPT_VERSION = "judges-v1"

_SYSTEM = ("You are a strict, consistent evaluator of answers given by a company document assistant. "
           "Reply with one JSON object only, no prose before or after it.")

CORRECTNESS = """Grade how correct the ANSWER is compared with the REFERENCE answer to the QUESTION.
5 = same facts as the reference, nothing wrong; 4 = correct but missing a minor detail;
3 = partly correct or missing an important detail; 2 = mostly wrong or misleading; 1 = wrong or no answer.
Ignore style, length and citation markers like [1].

QUESTION: {question}
REFERENCE: {reference}
ANSWER: {answer}

Reply as {{"score": <1-5>, "reason": "<one sentence>"}}"""

FAITHFULNESS = """Grade how faithful the ANSWER is to the SOURCES: is every claim in it stated by the sources?
5 = every claim is in the sources; 4 = one minor claim goes beyond them; 3 = some claims are not in the sources;
2 = most claims are not in the sources; 1 = contradicts the sources or invents facts.
Do not use your own knowledge.

QUESTION: {question}
SOURCES:
{sources}
ANSWER: {answer}

Reply as {{"score": <1-5>, "unsupported": ["<claim not in the sources>", ...], "reason": "<one sentence>"}}"""


class Verdict(BaseModel):
    score: int = Field(ge=1, le=5)
    reason: str = ""
    unsupported: list[str] = Field(default_factory=list)


def parse_verdict(text: str) -> Verdict:
    """The first JSON object in ``text`` (fenced or bare) as a Verdict; raises ValueError."""
    m = re.search(r"\{.*\}", text or "", re.S)
    if not m:
        raise ValueError("no JSON object in the reply")
    try:
        data = json.loads(m.group(0))
    except json.JSONDecodeError as e:
        raise ValueError(f"invalid JSON ({e.msg})") from None
    if isinstance(data, dict) and isinstance(data.get("score"), str) and data["score"].strip().isdigit():
        data["score"] = int(data["score"].strip())
    try:
        return Verdict.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        raise ValueError(f"{'.'.join(map(str, first['loc'])) or 'reply'}: {first['msg']}") from None


class _Judge:
    higher_is_better = True
    template = ""

    def __init__(self, provider):
        self.provider = provider
        self.failures = 0
        self.model = getattr(getattr(provider, "settings", None), "model", None)

    def _ask(self, prompt: str) -> MetricResult:
        try:
            reply = self.provider.chat([{"role": "system", "content": _SYSTEM}, {"role": "user", "content": prompt}])
        except ModelResponseError as e:
            if e.status is not None and 400 <= e.status < 500:
                raise  # a refused request (key, model name) will not get better: stop the run
            self.failures += 1
            return MetricResult(None, f"unparseable judge reply ({e})")
        try:
            verdict = parse_verdict(reply.text)
        except ValueError as e:
            self.failures += 1
            return MetricResult(None, f"unparseable judge reply ({e}): {reply.text[:120]!r}")
        extra = f" unsupported: {'; '.join(verdict.unsupported)[:200]}" if verdict.unsupported else ""
        return MetricResult(float(verdict.score), (verdict.reason + extra).strip())


class CorrectnessJudge(_Judge):
    name = "correctness"

    def score(self, example: Example, output: AnswerResponse) -> MetricResult:
        if not example.reference or example.should_decline:
            return MetricResult(None, "no reference answer")
        if output.decision in NOT_ANSWERED:
            return MetricResult(1.0, f"{output.decision} an answerable question")
        return self._ask(CORRECTNESS.format(question=example.question, reference=example.reference,
                                            answer=output.answer))


class FaithfulnessJudge(_Judge):
    name = "faithfulness"

    def score(self, example: Example, output: AnswerResponse) -> MetricResult:
        if output.decision in NOT_ANSWERED or not output.answer.strip():
            return MetricResult(None, "no answer")
        if not output.citations:
            return MetricResult(1.0, "the answer cites no sources")
        sources = "\n".join(f"[{c.n}] {c.quote}" for c in output.citations)
        return self._ask(FAITHFULNESS.format(question=example.question, sources=sources, answer=output.answer))
