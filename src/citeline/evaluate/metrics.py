"""Metrics: every one is ``score(example, output) -> MetricResult(value, reason)``.

``output`` is the :class:`~citeline.answer.response.AnswerResponse` the pipeline gave. A value of
None means the metric does not apply to this example (it has no reference answer, no expected
sources, ...); such examples are left out of that metric's mean, never counted as zero.
"""

from __future__ import annotations

import re
import string
from collections import Counter

import numpy as np

from citeline.answer.response import AnswerResponse
from citeline.contracts import MetricResult
from citeline.evaluate.dataset import Example

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation)
_MARKERS = re.compile(r"\[\d+(?:\s*[,;]\s*\d+)*\]")
NOT_ANSWERED = ("declined", "blocked")


def normalize(text: str) -> list[str]:
    """SQuAD-style answer normalisation: lower case, no punctuation, articles or citation markers."""
    text = _MARKERS.sub(" ", text.lower())
    return _ARTICLES.sub(" ", text.translate(_PUNCT)).split()


def _answered(output: AnswerResponse) -> bool:
    return output.decision not in NOT_ANSWERED


class TokenF1:
    name, higher_is_better = "token_f1", True

    def score(self, example: Example, output: AnswerResponse) -> MetricResult:
        if not example.reference or example.should_decline:
            return MetricResult(None, "no reference answer")
        if not _answered(output):
            return MetricResult(0.0, f"{output.decision} an answerable question")
        pred, ref = normalize(output.answer), normalize(example.reference)
        common = sum((Counter(pred) & Counter(ref)).values())
        if not pred or not ref or common == 0:
            return MetricResult(0.0, "no token in common with the reference")
        p, r = common / len(pred), common / len(ref)
        return MetricResult(2 * p * r / (p + r), f"precision {p:.2f}, recall {r:.2f}")


class ExactMatch:
    name, higher_is_better = "exact_match", True

    def score(self, example: Example, output: AnswerResponse) -> MetricResult:
        if not example.reference or example.should_decline:
            return MetricResult(None, "no reference answer")
        same = _answered(output) and normalize(output.answer) == normalize(example.reference)
        return MetricResult(float(same), "same words as the reference" if same else "differs from the reference")


class SemanticSimilarity:
    """Cosine similarity of answer and reference embeddings (0 when the question was declined)."""

    name, higher_is_better = "semantic_similarity", True

    def __init__(self, embedder):
        self.embedder = embedder

    def score(self, example: Example, output: AnswerResponse) -> MetricResult:
        if not example.reference or example.should_decline:
            return MetricResult(None, "no reference answer")
        if not _answered(output):
            return MetricResult(0.0, f"{output.decision} an answerable question")
        a, b = np.asarray(self.embedder.embed([_MARKERS.sub("", output.answer), example.reference]), np.float32)
        cos = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) or 1.0))
        return MetricResult(max(0.0, cos), f"cosine {cos:.3f}")


class DecisionCorrect:
    """1 when the system answered an answerable question or declined one the documents cannot answer."""

    name, higher_is_better = "decision_correct", True

    def score(self, example: Example, output: AnswerResponse) -> MetricResult:
        if example.should_decline is None:
            return MetricResult(None, "should_decline not labelled")
        declined = not _answered(output)
        if example.should_decline:
            return MetricResult(float(declined), "declined as expected" if declined else "answered; should decline")
        return MetricResult(float(not declined), "answered" if not declined else f"{output.decision}: {output.reason}")


class _Retrieval:
    higher_is_better = True

    def __init__(self, doc_ids: dict[str, str], k: int = 5):
        self.doc_ids, self.k = doc_ids, k

    def _expected(self, example: Example) -> list[tuple[str, int | None]]:
        return [(self.doc_ids.get(s.document, s.document), s.page) for s in example.sources]

    @staticmethod
    def _match(exp: tuple[str, int | None], doc: str, page: int) -> bool:
        return exp[0] == doc and (exp[1] is None or exp[1] == page)


class RecallAtK(_Retrieval):
    """Share of the expected (document, page) sources among the top k retrieved chunks."""

    def __init__(self, doc_ids: dict[str, str], k: int = 5):
        super().__init__(doc_ids, k)
        self.name = f"recall@{k}"

    def score(self, example: Example, output: AnswerResponse) -> MetricResult:
        expected = self._expected(example)
        if not expected:
            return MetricResult(None, "no expected sources")
        top = [(r.document_id, r.page) for r in output.retrieved[: self.k]]
        found = [e for e in expected if any(self._match(e, d, p) for d, p in top)]
        return MetricResult(len(found) / len(expected), f"{len(found)} of {len(expected)} expected sources in top {self.k}")


class MRR(_Retrieval):
    name = "mrr"

    def score(self, example: Example, output: AnswerResponse) -> MetricResult:
        expected = self._expected(example)
        if not expected:
            return MetricResult(None, "no expected sources")
        for rank, r in enumerate(output.retrieved, 1):
            if any(self._match(e, r.document_id, r.page) for e in expected):
                return MetricResult(1.0 / rank, f"first expected source at rank {rank}")
        return MetricResult(0.0, f"no expected source among {len(output.retrieved)} retrieved")


class _Grounded:
    """Shared by the citation metrics: checks each answer sentence against the quotes it cites."""

    def __init__(self, embedder):
        from citeline.answer.grounding import Grounder

        self.grounder = Grounder(embedder)

    def _check(self, output: AnswerResponse):
        if not _answered(output) or not output.answer.strip():
            return None
        n = max((c.n for c in output.citations), default=0)
        sources = [""] * n
        for c in output.citations:
            sources[c.n - 1] = c.quote
        return self.grounder.check(output.answer, sources)


class CitationPrecision(_Grounded):
    name, higher_is_better = "citation_precision", True

    def score(self, example: Example, output: AnswerResponse) -> MetricResult:
        result = self._check(output)
        if result is None:
            return MetricResult(None, "no answer")
        cited = [s for s in result.sentences if s.marked]
        if not cited:
            return MetricResult(0.0, "the answer cites nothing")
        good = [s for s in cited if s.supported and set(s.marked) <= set(s.cited)]
        return MetricResult(len(good) / len(cited), f"{len(good)} of {len(cited)} cited sentences supported by "
                                                    "their quotes")


class UnsupportedRate(_Grounded):
    name, higher_is_better = "unsupported_rate", False

    def score(self, example: Example, output: AnswerResponse) -> MetricResult:
        result = self._check(output)
        if result is None or not result.sentences:
            return MetricResult(None, "no answer")
        bad = [s for s in result.sentences if not s.supported]
        reason = f"{len(bad)} of {len(result.sentences)} sentences unsupported"
        return MetricResult(len(bad) / len(result.sentences), reason + (f": {bad[0].text[:80]!r}" if bad else ""))


class Latency:
    name, higher_is_better = "latency_ms", False

    def score(self, example: Example, output: AnswerResponse) -> MetricResult:
        total = output.timings_ms.get("total")
        return MetricResult(None, "no timing") if total is None else MetricResult(float(total), "")


class Cost:
    name, higher_is_better = "cost_usd", False

    def __init__(self, llm_settings):
        self.llm = llm_settings

    def score(self, example: Example, output: AnswerResponse) -> MetricResult:
        from citeline.server.tracing import cost_usd

        cost = cost_usd(self.llm, output)
        if cost is None:
            return MetricResult(None, "no prices configured (llm.prompt_price_per_mtok)")
        return MetricResult(cost, f"{output.usage.prompt_tokens}+{output.usage.completion_tokens} tokens")


def default_metrics(embedder, doc_ids: dict[str, str], llm_settings, k: int = 5) -> list:
    return [RecallAtK(doc_ids, k), MRR(doc_ids), TokenF1(), ExactMatch(), SemanticSimilarity(embedder),
            DecisionCorrect(), CitationPrecision(embedder), UnsupportedRate(embedder), Latency(), Cost(llm_settings)]


#: metrics where less is better, by name (stored runs carry names, not metric objects); all others,
#: judges included, are higher-is-better. Taken from the classes so the direction is stated once.
LOWER_IS_BETTER = frozenset(m.name for m in (UnsupportedRate, Latency, Cost) if not m.higher_is_better)


def higher_is_better(name: str) -> bool:
    return name not in LOWER_IS_BETTER


def decline_counts(pairs: list[tuple[bool, bool]]) -> dict[str, int]:
    """Confusion counts of (should_decline, declined) pairs."""
    c = Counter(pairs)
    return {"tp": c[(True, True)], "fp": c[(False, True)], "fn": c[(True, False)], "tn": c[(False, False)]}
