"""Ask: validate the question, run the input guards, retrieve (permission-filtered), answer,
run the output guards, time every stage.

One entry point for the CLI, the server and evaluations; models load once per service. Guard
verdicts travel in ``AnswerResponse.guards``; an enforced block returns decision ``blocked``
with the policy's message. Chunks the document guard flagged at ingest are left out of what
the answerer (extractive or model) sees, and marked ``flagged`` in ``retrieved``.
"""

from __future__ import annotations

import dataclasses
import re
import time
import unicodedata
from collections.abc import Iterator

from citeline.answer.extractive import DECLINE, ExtractiveAnswerer
from citeline.answer.response import AnswerResponse, RetrievedChunk
from citeline.config import Settings
from citeline.contracts import Principal
from citeline.retrieve import HybridRetriever

MAX_QUESTION_CHARS = 2000


def clean_question(text: str) -> str:
    """Drop control and format characters (zero-width, bidi overrides), collapse whitespace."""
    kept = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C" or ch in "\t\n")
    return " ".join(kept.split())


_SENTENCE_END = re.compile(r"[.!?](?:\[\d+(?:[,;\s]*\d+)*\])*[\"')\]]*(?=\s)|\n")


class _StreamGate:
    """Holds streamed model text back until each sentence has passed the output guards, so a
    sentence that would block the answer (a competitor recommendation, a political opinion) is
    never shown, and PII the caller may not see is redacted before it is sent. Once a sentence
    fails, nothing more is released; the final event carries the blocked answer."""

    def __init__(self, guards, question: str, principal: Principal):
        self.guards, self.question, self.principal = guards, question, principal
        self.pending = ""
        self.shown = ""  # text already released (after redaction)
        self.stopped = False

    def release(self, delta: str, *, final: bool = False) -> str:
        """The text that may be shown now; ``final`` releases the last, unterminated sentence too."""
        if self.stopped:
            return ""
        self.pending += delta
        ends = list(_SENTENCE_END.finditer(self.pending))
        if final:
            cut = len(self.pending)
        elif not ends:
            return ""
        else:
            cut = ends[-1].end()
        if not self.pending[:cut].strip():
            return ""
        candidate = AnswerResponse(question=self.question, answer=self.shown + self.pending[:cut],
                                   decision="answered")
        outcome = self.guards.check_output(candidate, self.principal)
        if outcome.blocked is not None or not candidate.answer.startswith(self.shown):
            self.stopped = True
            return ""
        text = candidate.answer[len(self.shown):]
        self.shown, self.pending = candidate.answer, self.pending[cut:]
        return text


class AskService:
    def __init__(self, settings: Settings, store, embedder=None):
        if embedder is None:
            from citeline.ingest.embed import OnnxMiniLMEmbedder

            embedder = OnnxMiniLMEmbedder(settings.embedding)
        self.settings = settings
        self.store = store
        self.embedder = embedder
        self.retriever = HybridRetriever(settings, store, embedder)
        self.extractive = ExtractiveAnswerer(settings.answer, self.retriever.sentences)
        self.llm = None  # set by with_llm()
        self.guards = None
        if settings.guard.enabled:
            from citeline.guard.runner import GuardRunner

            self.guards = GuardRunner.from_settings(settings, embedder)

    def with_llm(self) -> AskService:
        """Answer with the configured OpenAI-compatible model; the extractive answer is the fallback."""
        from citeline.errors import ConfigError

        if not self.settings.llm.base_url:
            raise ConfigError("--llm needs a model endpoint: set llm.base_url in citeline.toml or "
                              "CITELINE_LLM__BASE_URL (e.g. http://localhost:8080/v1)")
        from citeline.answer.llm import LLMAnswerer
        from citeline.models.openai_compat import OpenAICompatProvider

        self.llm = LLMAnswerer(self.settings, OpenAICompatProvider(self.settings.llm), self.embedder,
                               sentence_vectors=self.retriever.sentences)
        return self

    def warm_up(self) -> None:
        self.retriever.warm_up()
        if self.guards is not None:
            self.guards.warm_up()

    def _declined(self, question: str, reason: str) -> AnswerResponse:
        return AnswerResponse(question=question, answer=DECLINE, decision="declined", reason=reason,
                              config_hash=self.settings.config_hash())

    def _check(self, raw: str, principal: Principal) -> tuple[str, AnswerResponse | None]:
        """The cleaned question, or a decline saying why it cannot be asked."""
        if len(raw) > MAX_QUESTION_CHARS * 4:
            return raw[:200], self._declined(raw[:200], f"question is too long ({len(raw)} characters; the limit is "
                                                        f"{MAX_QUESTION_CHARS})")
        question = clean_question(raw)
        if not question:
            return raw[:200], self._declined(raw[:200], "the question is empty or has no readable text")
        if len(question) > MAX_QUESTION_CHARS:
            return question[:200], self._declined(question[:200], f"question is too long ({len(question)} characters;"
                                                                  f" the limit is {MAX_QUESTION_CHARS})")
        if not principal.groups:
            return question, self._declined(question, "you have no access groups, so no document is visible to you")
        return question, None

    def _guard_input(self, raw: str, question: str, principal: Principal, t0: float):
        """(input verdicts, a blocked response or None). Guards read the raw text: cleaning would
        erase the zero-width and right-to-left tricks they look for."""
        if self.guards is None:
            return [], None
        outcome = self.guards.check_input(raw, principal)
        if outcome.blocked is None:
            return outcome.verdicts, None
        ms = round((time.perf_counter() - t0) * 1000, 3)
        return outcome.verdicts, AnswerResponse(
            question=question, answer=outcome.message, decision="blocked", reason=outcome.reason,
            config_hash=self.settings.config_hash(), guards=outcome.verdicts, timings_ms={"guard_input": ms,
                                                                                           "total": ms})

    def answer_context(self, got):
        """What the answerer may read of a retrieval: without the chunks the document guard flagged
        (enforce mode). Public so that a fit of the decline model sees what answers see."""
        if not got.flags or self.guards is None or self.guards.policy.documents.mode != "enforce":
            return got
        return dataclasses.replace(got, hits=[h for h in got.hits if h.chunk_id not in got.flags])

    def _complete(self, response: AnswerResponse, question: str, got, t0: float, t1: float,
                  principal: Principal | None = None, verdicts: list | None = None,
                  tg: float | None = None) -> AnswerResponse:
        """``t0`` start, ``tg`` input guards done (retrieval starts), ``t1`` retrieval done."""
        t2 = time.perf_counter()
        response.question = question
        response.retrieved = [RetrievedChunk(chunk_id=h.chunk_id, document_id=h.document_id, page=h.page,
                                             score=round(h.score, 5),
                                             flagged=getattr(got.flags.get(h.chunk_id), "rule", None))
                              for h in got.hits]
        tg = t0 if tg is None else tg
        timings = {"guard_input": round((tg - t0) * 1000, 3)} if self.guards is not None else {}
        guards = list(verdicts or [])
        if self.guards is not None:
            outcome = self.guards.check_output(response, principal)
            guards += outcome.verdicts
            if outcome.blocked is not None:
                response.answer, response.decision = outcome.message, "blocked"
                response.reason, response.citations, response.confidence = outcome.reason, [], 0.0
        t3 = time.perf_counter()
        if self.guards is not None:
            timings["guard_output"] = round((t3 - t2) * 1000, 3)
        response.guards = guards
        response.timings_ms = {**response.timings_ms, **got.timings_ms, **timings,
                               "retrieve": round((t1 - tg) * 1000, 3), "answer": round((t2 - t1) * 1000, 3),
                               "total": round((t3 - t0) * 1000, 3)}
        response.config_hash = self.settings.config_hash()
        return response

    def ask(self, question: str, principal: Principal, *, use_llm: bool = False) -> AnswerResponse:
        t0 = time.perf_counter()
        raw = question
        question, declined = self._check(question, principal)
        if declined is not None:
            return declined
        verdicts, blocked = self._guard_input(raw, question, principal, t0)
        if blocked is not None:
            return blocked
        tg = time.perf_counter()
        got = self.retriever.retrieve(question, principal)
        context = self.answer_context(got)
        t1 = time.perf_counter()
        if use_llm and self.llm is not None:
            response = self.llm.answer(question, context, fallback=self.extractive)
        else:
            response = self.extractive.answer(question, context.query_vec, context.hits)
        return self._complete(response, question, got, t0, t1, principal, verdicts, tg)

    def ask_stream(self, question: str, principal: Principal, *, use_llm: bool = False) -> Iterator[dict]:
        """``{"type": "delta", "text": …}`` events while a model writes, then one ``{"type": "final",
        "response": AnswerResponse}``. The extractive path has no deltas: its answer is the final event.
        The output guards run on the final answer, which replaces the streamed text (a blocked answer
        retracts it)."""
        t0 = time.perf_counter()
        raw = question
        question, declined = self._check(question, principal)
        if declined is not None:
            yield {"type": "final", "response": declined}
            return
        verdicts, blocked = self._guard_input(raw, question, principal, t0)
        if blocked is not None:
            yield {"type": "final", "response": blocked}
            return
        tg = time.perf_counter()
        got = self.retriever.retrieve(question, principal)
        context = self.answer_context(got)
        t1 = time.perf_counter()
        if not (use_llm and self.llm is not None):
            response = self.extractive.answer(question, context.query_vec, context.hits)
            yield {"type": "final", "response": self._complete(response, question, got, t0, t1, principal, verdicts,
                                                                 tg)}
            return
        gate = _StreamGate(self.guards, question, principal) if self.guards is not None else None
        for event in self.llm.stream(question, context, fallback=self.extractive):
            if event["type"] == "final":
                rest = gate.release("", final=True) if gate is not None else ""
                if rest:
                    yield {"type": "delta", "text": rest}
                event = {"type": "final", "response": self._complete(event["response"], question, got, t0, t1,
                                                                     principal, verdicts, tg)}
            elif gate is not None:
                text = gate.release(event["text"])
                if not text:
                    continue
                event = {**event, "text": text}
            yield event
