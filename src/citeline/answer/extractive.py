"""Extractive answers: no language model. The sentences of the top chunks that best answer the
question are quoted verbatim, each cited as [n] → document, page and character offsets.

Which sentences: each candidate sentence of the top ``answer.context_chunks`` chunks is scored by
its MiniLM similarity to the question, how many of the question's content words it contains, and
its chunk's retrieval rank; headings (a document title, a heading of the chunk's section) are never
candidates.

Whether to answer at all: the confidence is the probability, from a small logistic regression
(:data:`DECLINE_MODEL`), that the question is answerable from the retrieved text; below
``answer.decline_threshold`` the answerer declines instead of guessing. Its features weigh how
close the best sentences are to the question, how much of what is asked they name, and whether a
question after a number or a date ("when", "how many") finds one in the chosen sentence. Before
that, a question that names a code the retrieved text never mentions (a model "T7", an error "E21",
a version "3.9.2") is declined outright: hybrid retrieval would have found such a rare token had
any passage the principal may read contained it.

Permission rule: every statistic here comes from the question and the retrieved hits, which the
store has already filtered by tenant and ACL; nothing is computed over documents the principal
cannot read (no corpus-wide term statistics).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from citeline.answer.response import AnswerResponse, Citation
from citeline.config import AnswerSettings
from citeline.contracts import SearchHit

_STOP = set(
    "a an the of to in on for and or is are was were be been being it its this that these those what which who whom"
    " whose how when where why do does did doing can could should would will shall may might must with by from at as"
    " about into over under than then so if not no any all some my our your their i we you they he she me us them"
    " there here have has had get gets got much many more most also just only very per".split()
)
_ENDS = re.compile(r"[.!?:;)\]\"']$")
_TOKEN = re.compile(r"[a-z0-9]+(?:[.,][0-9]+)*")
# a code: letters and digits in one token (T7, AQ-2, E21, FH-HUB1) or a dotted version (3.9.2)
_CODE = re.compile(r"(?<![\w.-])(?=[\w.-]*\d)(?=[\w.-]*[a-z])[a-z0-9]+(?:[.-][a-z0-9]+)*(?![\w-])"
                   r"|(?<![\w.])\d+(?:\.\d+){2,}(?![\w.])")
_NOT_CODE = re.compile(r"\d+(?:st|nd|rd|th|s)")  # 1st, 4th, 1980s: words, not codes
_WORD = re.compile(r"[a-z0-9]+(?:[.-][a-z0-9]+)*")
# questions whose answer is a number or a date, and the words that can carry one ("one" and "may"
# are left out: far more often a pronoun and a verb than a number and a month)
_ASKS_NUMBER = re.compile(r"^(?:when|how (?:many|much|long|old|far|big|tall)|what (?:time|age|percentage))\b"
                          r"|\b(?:what|which) (?:year|decade|century|date|month)\b")
_NUMERAL = re.compile(
    r"\d+(?:[.,]\d+)*|\b(?:two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|(?:thir|four|fif|six|seven"
    r"|eigh|nine)teen|(?:twen|thir|for|fif|six|seven|eigh|nine)ty|hundred|thousand|million|billion|dozen|january"
    r"|february|march|april|june|july|august|september|october|november|december|century|centuries|decade"
    r"|annually|yearly|daily|weekly|monthly)\b")
DECLINE = "The documents you can access don't say, so I won't guess."
W_COS, W_LEX, W_RANK = 0.6, 0.3, 0.1  # sentence choice
EXTRA_SENTENCE_GAP = 0.06  # further sentences are quoted when they score within this of the best


@dataclass(frozen=True, slots=True)
class DeclineModel:
    """P(answerable) = sigmoid(bias + Σ coef·feature); features as in :meth:`ExtractiveAnswerer.features`."""

    names: tuple[str, ...]
    coef: tuple[float, ...]
    bias: float

    def probability(self, features: dict[str, float]) -> float:
        z = self.bias + sum(c * features[n] for n, c in zip(self.names, self.coef, strict=True))
        return 1.0 / (1.0 + math.exp(-z))


#: Fit by ``python bench/answers.py --fit-decline`` on the dev half of CLAPNQ dev (75 answerable +
#: 75 unanswerable questions asked against all 298 passages; bench/answers.py fixes the split):
#: L2-regularised (λ=1, intercept free) logistic regression by Newton's method on the five
#: features below, label = answerable. The demo set and the CLAPNQ test half were not used.
DECLINE_MODEL = DeclineModel(
    names=("cos_max", "cos_top3", "focus", "rank", "number_missing"),
    coef=(2.62, 2.22, 1.47, 1.79, -1.01),
    bias=-4.45,
)


def stem(token: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if len(token) > len(suffix) + 2 and token.endswith(suffix):
            return token[: -len(suffix)]
    return token


def content_terms(text: str) -> set[str]:
    return {stem(t) for t in _TOKEN.findall(text.lower()) if t not in _STOP and (len(t) > 1 or t.isdigit())}


def numerals(text: str) -> set[str]:
    """Digits and number or date words ("1783", "two", "june", "century") in ``text``."""
    return set(_NUMERAL.findall(text.lower()))


def number_missing(question: str, sentence: str) -> bool:
    """The question asks for a number or a date ("when", "how many", "what year") and ``sentence``
    has none besides those the question already names."""
    q = question.lower().strip()
    return bool(_ASKS_NUMBER.search(q)) and not numerals(sentence) - numerals(q)


def _norm(token: str) -> str:
    return token.replace("-", "").replace(".", "")


def missing_codes(question: str, hits: list[SearchHit]) -> list[str]:
    """Codes named in the question (T7, AQ-2, 3.9.2) that no retrieved chunk or title contains."""
    codes = [m.group(0) for m in _CODE.finditer(question.lower()) if not _NOT_CODE.fullmatch(m.group(0))]
    if not codes:
        return []
    seen: set[str] = set()
    for h in hits:
        words = [_norm(w) for w in _WORD.findall(f"{h.title or ''} {h.text}".lower())]
        seen.update(words)
        seen.update(a + b for a, b in zip(words, words[1:]))  # "AQ 2", "5 GHz" written apart
    return [c for c in dict.fromkeys(codes) if _norm(c) not in seen]


@dataclass(slots=True)
class Candidate:
    hit: SearchHit
    rank: int
    start: int  # offsets within the chunk text
    end: int
    text: str
    vec: np.ndarray


def _is_heading(sentence: str, hit: SearchHit) -> bool:
    s = sentence.strip().lower()
    return s == (hit.title or "").strip().lower() or s in {p.strip().lower() for p in hit.heading_path.split(">")}


class ExtractiveAnswerer:
    name = "extractive"

    def __init__(self, settings: AnswerSettings, sentence_vectors):
        self.settings = settings
        self.sentences = sentence_vectors

    def candidates(self, hits: list[SearchHit]) -> list[Candidate]:
        top = hits[: self.settings.context_chunks]
        vectors = self.sentences.get(top)
        out = []
        for rank, hit in enumerate(top):
            spans, vecs = vectors[hit.text_hash]
            for (a, b), v in zip(spans, vecs, strict=True):
                sentence = hit.text[a:b]
                words = len(sentence.split())
                if words > 90 or words < 3:
                    continue
                if words <= 8 and not _ENDS.search(sentence) and not any(ch.isdigit() for ch in sentence):
                    continue  # a heading, not an answer
                if _is_heading(sentence, hit):
                    continue  # the document's title or a section heading, e.g. "Pretty Little Liars (season 7)"
                out.append(Candidate(hit, rank, a, b, sentence, v.astype(np.float32)))
        return out

    def score(self, question: str, qvec: np.ndarray, cands: list[Candidate]) -> np.ndarray:
        """Per-sentence score used to choose what to quote."""
        if not cands:
            return np.zeros(0, dtype=np.float32)
        cos = self._cos(qvec, cands)
        q_terms = content_terms(question)
        lex = np.array([len(q_terms & content_terms(c.text)) / max(len(q_terms), 1) for c in cands], dtype=np.float32)
        rank = np.array([1.0 / (1 + c.rank) for c in cands], dtype=np.float32)
        return W_COS * cos + W_LEX * lex + W_RANK * rank

    @staticmethod
    def _cos(qvec: np.ndarray, cands: list[Candidate]) -> np.ndarray:
        return np.array([float(c.vec @ qvec) for c in cands], dtype=np.float32)

    def features(self, question: str, qvec: np.ndarray, cands: list[Candidate], scores: np.ndarray) -> dict[str, float]:
        """What :data:`DECLINE_MODEL` reads, from the question and the candidate sentences only.

        * ``cos_max``: the highest MiniLM cosine of any candidate sentence to the question;
        * ``cos_top3``: the mean of the three highest (several sentences on the question's subject);
        * ``focus``: of the question's content terms not in the best sentence's document title, the
          share the best sentence contains (the title says what the passage is about; the answer
          must also match what is asked about it);
        * ``rank``: 1 / (1 + retrieval rank of the best sentence's chunk);
        * ``number_missing``: 1 when the question asks for a number or a date and the best sentence
          has none (:func:`number_missing`).
        """
        cos = np.sort(self._cos(qvec, cands))[::-1]
        best = cands[int(np.argmax(scores))]
        asked = content_terms(question) - content_terms(best.hit.title or "")
        return {
            "cos_max": float(cos[0]),
            "cos_top3": float(cos[:3].mean()),
            "focus": len(asked & content_terms(best.text)) / max(len(asked), 1),
            "rank": 1.0 / (1 + best.rank),
            "number_missing": float(number_missing(question, best.text)),
        }

    def _declined(self, question: str, reason: str, confidence: float = 0.0) -> AnswerResponse:
        return AnswerResponse(question=question, answer=DECLINE, decision="declined", confidence=confidence,
                              reason=reason)

    def answer(self, question: str, qvec: np.ndarray | None, hits: list[SearchHit]) -> AnswerResponse:
        s = self.settings
        if qvec is None or not hits:
            return self._declined(question, "no passage you can access matches the question")
        absent = missing_codes(question, hits)
        if absent:
            return self._declined(question, f"no passage you can access mentions {', '.join(absent)}")
        cands = self.candidates(hits)
        scores = self.score(question, qvec, cands)
        if len(scores) == 0:
            return self._declined(question, "the matching passages contain no usable sentences")
        order = np.argsort(-scores)
        confidence = round(DECLINE_MODEL.probability(self.features(question, qvec, cands, scores)), 4)
        if confidence < s.decline_threshold:
            return self._declined(question, f"support {confidence:.2f} is below the decline threshold "
                                            f"{s.decline_threshold:.2f}", confidence)
        best = float(scores[order[0]])
        chosen: list[int] = [int(order[0])]
        for i in order[1:]:
            if len(chosen) >= s.max_sentences or scores[i] < best - EXTRA_SENTENCE_GAP:
                break
            if all(float(cands[i].vec @ cands[j].vec) < 0.9 for j in chosen):
                chosen.append(int(i))
        chosen.sort(key=lambda i: (cands[i].rank, cands[i].start))
        citations, parts = [], []
        for n, i in enumerate(chosen, 1):
            c = cands[i]
            citations.append(Citation(
                n=n, document_id=c.hit.document_id, title=c.hit.title, source_path=c.hit.source_uri, page=c.hit.page,
                quote=c.text, start=c.hit.start + c.start, end=c.hit.start + c.end, score=round(float(scores[i]), 4)))
            parts.append(f"{c.text} [{n}]")
        return AnswerResponse(question=question, answer=" ".join(parts), decision="answered", confidence=confidence,
                              citations=citations)
