"""Turn an answer into a stored trace: question, principal, retrieved ids and scores, answer,
citations, decision, guard verdicts, per-stage timings, model, tokens, cost and config hash.
PII in the stored texts is redacted per the guard policy (``pii.redact_traces``)."""

from __future__ import annotations

from citeline.answer.response import AnswerResponse
from citeline.config import LLMSettings
from citeline.contracts import TraceRecord
from citeline.store.sql import now
from citeline.store.sql_traces import new_trace_id


def cost_usd(llm: LLMSettings, response: AnswerResponse) -> float | None:
    """Cost of the model call when prices are configured; 0 for extractive answers."""
    if response.answerer != "llm" and not response.usage.prompt_tokens:
        return 0.0
    if llm.prompt_price_per_mtok is None and llm.completion_price_per_mtok is None:
        return None
    return round(response.usage.prompt_tokens * (llm.prompt_price_per_mtok or 0) / 1e6
                 + response.usage.completion_tokens * (llm.completion_price_per_mtok or 0) / 1e6, 8)


def record_answer(state, caller, route: str, response: AnswerResponse) -> AnswerResponse:
    """Store the trace, count it in /metrics, and return the response carrying its ``trace_id``."""
    response.trace_id = new_trace_id()
    stored = response.model_dump(mode="json")
    guards = getattr(state.service, "guards", None)
    if guards is not None:  # PII is redacted in what is stored, not in what the caller gets
        stored = guards.redact_trace(stored)
    trace = TraceRecord(
        id=response.trace_id, tenant=caller.tenant, key_id=caller.key.id, groups=list(caller.principal.groups),
        route=route, question=stored["question"], answer=stored["answer"], decision=response.decision,
        created_at=now(), config_hash=response.config_hash, response=stored,
        reason=stored["reason"], confidence=response.confidence, answerer=response.answerer, model=response.model,
        prompt_tokens=response.usage.prompt_tokens, completion_tokens=response.usage.completion_tokens,
        cost_usd=cost_usd(state.settings.llm, response), latency_ms=response.timings_ms.get("total", 0.0),
    )
    state.store.put_trace(trace)
    state.metrics.answer(response.decision, response.answerer, response.timings_ms)
    state.metrics.guard_verdicts(response.guards)
    return response
