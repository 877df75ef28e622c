"""Extractive answers: no language model. The sentences of the top chunks that best answer the
question are quoted verbatim, each cited as [n] → document, page and character offsets.

A sentence's score mixes its MiniLM similarity to the question, how many of the question's
content words it contains, and its chunk's retrieval rank. The best score is the answer's
confidence; below ``answer.decline_threshold`` (tuned on data: see bench/answers.py) the
answerer declines instead of guessing.
"""

from __future__ import annotations

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
DECLINE = "The documents you can access don't say, so I won't guess."
W_COS, W_LEX, W_RANK = 0.6, 0.3, 0.1


def stem(token: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if len(token) > len(suffix) + 2 and token.endswith(suffix):
            return token[: -len(suffix)]
    return token


def content_terms(text: str) -> set[str]:
    return {stem(t) for t in _TOKEN.findall(text.lower()) if t not in _STOP and (len(t) > 1 or t.isdigit())}


@dataclass(slots=True)
class Candidate:
    hit: SearchHit
    rank: int
    start: int  # offsets within the chunk text
    end: int
    text: str
    vec: np.ndarray


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
                if True:
                    out.append(Candidate(hit, rank, a, b, hit.text[a:b], v.astype(np.float32)))
        return out

    def score(self, question: str, qvec: np.ndarray, cands: list[Candidate]) -> np.ndarray:
        if not cands:
            return np.zeros(0, dtype=np.float32)
        q_terms = content_terms(question)
        cos = np.array([float(c.vec @ qvec) for c in cands], dtype=np.float32)
        lex = np.array([len(q_terms & content_terms(c.text)) / max(len(q_terms), 1) for c in cands], dtype=np.float32)
        rank = np.array([1.0 / (1 + c.rank) for c in cands], dtype=np.float32)
        return W_COS * cos + W_LEX * lex + W_RANK * rank

    def answer(self, question: str, qvec: np.ndarray | None, hits: list[SearchHit]) -> AnswerResponse:
        s = self.settings
        if qvec is None or not hits:
            return AnswerResponse(question=question, answer=DECLINE, decision="declined", confidence=0.0,
                                  reason="no passage you can access matches the question")
        cands = self.candidates(hits)
        scores = self.score(question, qvec, cands)
        if len(scores) == 0:
            return AnswerResponse(question=question, answer=DECLINE, decision="declined", confidence=0.0,
                                  reason="the matching passages contain no usable sentences")
        order = np.argsort(-scores)
        best = float(scores[order[0]])
        confidence = round(min(max(best, 0.0), 1.0), 4)
        if best < s.decline_threshold:
            return AnswerResponse(question=question, answer=DECLINE, decision="declined", confidence=confidence,
                                  reason=f"best support {best:.2f} is below the decline threshold "
                                         f"{s.decline_threshold:.2f}")
        chosen: list[int] = [int(order[0])]
        for i in order[1:]:
            if len(chosen) >= s.max_sentences or scores[i] < max(s.decline_threshold, best - 0.06):
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
