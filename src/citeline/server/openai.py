"""OpenAI-compatible endpoints, so existing clients and chat UIs can use citeline as a "model".

``POST /v1/chat/completions`` answers the last user message from the documents the key may
read. The text ends with a "Sources" list; the structured citations, decision and trace id
come in the extra fields ``citations`` and ``citeline``. ``stream: true`` gives OpenAI-style
``chat.completion.chunk`` events and ``data: [DONE]``. Models: ``citeline`` (extractive) and,
when a model endpoint is configured, ``citeline-llm``.
"""

from __future__ import annotations

import json
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from citeline.answer.response import AnswerResponse
from citeline.errors import RequestError
from citeline.server.api import caller, state
from citeline.server.auth import Caller
from citeline.server.tracing import record_answer

router = APIRouter(prefix="/v1", tags=["openai-compatible"])
EXTRACTIVE_MODEL = "citeline"
LLM_MODEL = "citeline-llm"


class ChatMessage(BaseModel):
    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str | list[dict[str, Any]] | None = None


class ChatRequest(BaseModel):
    model: str = Field(EXTRACTIVE_MODEL, max_length=100)
    messages: list[ChatMessage] = Field(min_length=1, max_length=200)
    stream: bool = False
    # accepted for compatibility; the answer is grounded in the documents either way
    temperature: float | None = None
    max_tokens: int | None = None
    user: str | None = None


def _text(content) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return " ".join(str(part.get("text", "")) for part in content if part.get("type") in (None, "text"))


def _question(body: ChatRequest) -> str:
    for message in reversed(body.messages):
        if message.role == "user":
            return _text(message.content)
    raise RequestError("messages must contain a user message")


def content_with_sources(response: AnswerResponse) -> str:
    if not response.citations:
        return response.answer
    lines = [f"[{c.n}] {c.title or c.source_path}, p. {c.page}" for c in response.citations]
    return response.answer + "\n\nSources:\n" + "\n".join(lines)


def _extras(response: AnswerResponse) -> dict:
    return {"citations": [c.model_dump(mode="json") for c in response.citations],
            "citeline": {"trace_id": response.trace_id, "decision": response.decision,
                         "confidence": response.confidence, "reason": response.reason}}


@router.get("/models")
def models(request: Request, who: Annotated[Caller, Depends(caller)]) -> dict:
    created = int(time.time())
    ids = [EXTRACTIVE_MODEL] + ([LLM_MODEL] if state(request).service.llm is not None else [])
    return {"object": "list", "data": [{"id": i, "object": "model", "created": created, "owned_by": "citeline"}
                                       for i in ids]}


@router.post("/chat/completions")
def chat_completions(body: ChatRequest, request: Request, who: Annotated[Caller, Depends(caller)]):
    st = state(request)
    if body.model not in (EXTRACTIVE_MODEL, LLM_MODEL):
        raise RequestError(f"unknown model {body.model!r}; available: {EXTRACTIVE_MODEL}"
                           + (f", {LLM_MODEL}" if st.service.llm is not None else ""))
    use_llm = body.model == LLM_MODEL and st.service.llm is not None
    question = _question(body)
    created = int(time.time())
    if not body.stream:
        response = record_answer(st, who, "/v1/chat/completions",
                                 st.service.ask(question, who.principal, use_llm=use_llm))
        usage = response.usage
        return {
            "id": f"chatcmpl-{response.trace_id}", "object": "chat.completion", "created": created,
            "model": body.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content_with_sources(response)},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
                      "total_tokens": usage.prompt_tokens + usage.completion_tokens},
            **_extras(response),
        }

    def chunk(cid: str, delta: dict, finish: str | None = None, **extra) -> str:
        data = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": body.model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
        return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"

    def events():
        # Deltas from a model are not yet grounded: the final, checked answer is what gets sent
        # (a client must never show a sentence the grounding check removed).
        cid = f"chatcmpl-{int(time.time() * 1000)}"
        yield chunk(cid, {"role": "assistant", "content": ""})
        for event in st.service.ask_stream(question, who.principal, use_llm=use_llm):
            if event["type"] != "final":
                continue
            response = record_answer(st, who, "/v1/chat/completions", event["response"])
            yield chunk(cid, {"content": content_with_sources(response)})
            yield chunk(cid, {}, "stop", **_extras(response))
        yield "data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})
