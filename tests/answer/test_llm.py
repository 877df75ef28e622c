"""LLM answers end to end: real demo files in a real SQLite store, AskService with the LLM
answerer, and a real local HTTP server speaking the OpenAI chat-completions protocol."""

from __future__ import annotations

import logging
import re
import socket
import time

import pytest

from citeline.answer.service import AskService
from citeline.config import LLMSettings, load_settings
from citeline.contracts import Principal
from citeline.errors import ConfigError, ModelResponseError, ModelUnavailableError
from citeline.ingest.pipeline import IngestPipeline
from citeline.models.openai_compat import OpenAICompatProvider
from citeline.store import SqliteStore
from tests.answer.openai_stub import OpenAIStub, completion, hang, raw, sse, status
from tests.conftest import DEMO

FILES = ["policies/password-and-mfa-standard.md", "support/support-contact-and-hours.txt",
         "handbook/holiday-calendar-2025.txt", "support/warranty-and-returns-policy.pdf"]
KEY = "sk-test-0f3c9a7e51d2-SECRET"
ME = Principal("default")
LOCKOUT_Q = "What happens if I mistype my SSO password too many times?"
LOCKOUT = "After 10 failed sign-in attempts, the account is locked for 30 minutes"


@pytest.fixture(autouse=True)
def _fresh_stub(stub):
    stub.reset()


@pytest.fixture(scope="module")
def indexed(tmp_path_factory, embedder):
    root = tmp_path_factory.mktemp("llm")
    settings = load_settings(data_dir=root / "data", ingest={"workers": 1, "ocr": False})
    store = SqliteStore(settings.db_path)
    report = IngestPipeline(settings, store, embedder).run([str(DEMO / "corpus" / f) for f in FILES])
    assert report.counts["failed"] == 0 and report.counts["new"] == len(FILES)
    yield root, store
    store.close()


@pytest.fixture
def make(indexed, embedder, stub):
    """make(**llm) -> AskService with the LLM answerer pointed at the stub."""
    root, store = indexed
    made = []

    def build(*, reuse_vectors: bool = True, **llm) -> AskService:
        cfg = {"base_url": stub.base_url, "api_key": KEY, "timeout_s": 5.0, "max_retries": 1, **llm}
        svc = AskService(load_settings(data_dir=root / "data", llm=cfg), store, embedder).with_llm()
        if reuse_vectors:  # what AskService.with_llm should pass: grounding reuses rerank's sentence vectors
            svc.llm.sentence_vectors = svc.retriever.sentences
        made.append(svc)
        return svc

    yield build
    for svc in made:
        svc.llm.provider.close()


def cite(needle: str, text: str):
    """A scripted reply: ``text`` citing whichever prompt source contains ``needle``."""
    return lambda req: completion(text.format(n=req.source_number(needle)))


def test_grounded_answer_end_to_end(make, stub, indexed):
    svc = make(reuse_vectors=False)  # exactly as AskService.with_llm builds it
    stub.push(cite("failed sign-in", LOCKOUT + " [{n}]."))
    r = svc.ask(LOCKOUT_Q, ME, use_llm=True)
    assert r.decision == "answered" and r.answerer == "llm" and r.model == OpenAIStub.MODEL
    assert r.answer == LOCKOUT + ". [1]"
    assert (r.usage.prompt_tokens, r.usage.completion_tokens) == (120, 30)
    assert r.confidence >= 0.55 and r.config_hash and r.retrieved
    [c] = r.citations
    assert c.n == 1 and c.source_path.endswith("password-and-mfa-standard.md") and "30 minutes" in c.quote
    page = indexed[1].get_page(c.document_id, c.page, tenant="default")
    assert page.text[c.start:c.end] == c.quote  # offsets are page offsets
    [req] = stub.requests
    assert req.path == "/v1/chat/completions" and req.headers["authorization"] == f"Bearer {KEY}"
    assert req.body["model"] == "gpt-4o-mini" and req.body["temperature"] == 0.0 and not req.body.get("stream")
    assert "NOT_IN_SOURCES" in req.system_prompt and "[n]" not in req.user_prompt
    assert req.user_prompt.startswith("Sources:\n\n[1] ") and "\n\n[4] " in req.user_prompt
    assert "failed sign-in attempts" in req.user_prompt and req.user_prompt.endswith(f"Question: {LOCKOUT_Q}")


def test_no_key_no_authorization_header_and_timings(make, stub):
    svc = make(api_key=None)
    stub.push(cite("failed sign-in", LOCKOUT + " [{n}]."))
    got = svc.retriever.retrieve(LOCKOUT_Q, ME)
    r = svc.llm.answer(LOCKOUT_Q, got, fallback=svc.extractive)
    assert r.decision == "answered" and "authorization" not in stub.requests[0].headers
    assert r.timings_ms["llm"] > 0 and r.timings_ms["grounding"] > 0


def test_citations_renumbered_in_order_of_first_use(make, stub):
    svc = make()
    stub.push(lambda req: completion(
        "SSO sessions last 12 hours [{sso}]. Every employee receives two FIDO2 security keys at onboarding "
        "[{mfa}][99]. Administrative consoles require you to re-authenticate every 1 hour [{sso}].".format(
            sso=req.source_number("SSO sessions last"), mfa=req.source_number("FIDO2"))))
    r = svc.ask("How long do SSO sessions last, and what MFA keys do employees get?", ME, use_llm=True)
    assert r.decision == "answered"
    assert [c.n for c in r.citations] == [1, 2, 3]
    assert re.findall(r"\[(\d+)\]", r.answer) == ["1", "2", "3"] and "[99]" not in r.answer
    assert "12 hours" in r.citations[0].quote and "FIDO2" in r.citations[1].quote
    assert "1 hour" in r.citations[2].quote and r.citations[2].document_id == r.citations[0].document_id


def test_streaming_answer(make, stub):
    svc = make()
    text = LOCKOUT + " [{n}]. You must then reset your password with your manager [{n}]."
    stub.push(lambda req: sse([text.format(n=req.source_number("failed sign-in"))[i:i + 9]
                               for i in range(0, 140, 9)], usage={"prompt_tokens": 99, "completion_tokens": 41}))
    got = svc.retriever.retrieve(LOCKOUT_Q, ME)
    events = list(svc.llm.stream(LOCKOUT_Q, got, fallback=svc.extractive))
    deltas = "".join(e["text"] for e in events if e["type"] == "delta")
    assert "reset your password with your manager" in deltas  # streamed, then retracted
    assert [e["type"] for e in events][-1] == "final" and sum(e["type"] == "final" for e in events) == 1
    final = events[-1]["response"]
    assert final.decision == "answered" and final.answer == LOCKOUT + ". [1]"
    assert (final.usage.prompt_tokens, final.usage.completion_tokens) == (99, 41)
    assert stub.requests[0].body["stream"] is True


def test_streamed_sentinel_is_held_back_and_declines(make, stub):
    svc = make()
    stub.push(sse(["NOT_", "IN_SOU", "RCES"]))
    got = svc.retriever.retrieve("What is the parking policy?", ME)
    events = list(svc.llm.stream("What is the parking policy?", got, fallback=svc.extractive))
    assert [e["type"] for e in events] == ["final"]
    r = events[0]["response"]
    assert r.decision == "declined" and "do not contain" in r.reason and r.answerer == "llm"


def test_retry_after_500_then_success(make, stub):
    svc = make()
    stub.push(status(500), cite("failed sign-in", LOCKOUT + " [{n}]."))
    r = svc.ask(LOCKOUT_Q, ME, use_llm=True)
    assert r.decision == "answered" and len(stub.requests) == 2


def test_always_500_falls_back_to_extractive(make, stub):
    svc = make()
    stub.default = status(503, '{"error": {"message": "overloaded"}}')
    r = svc.ask(LOCKOUT_Q, ME, use_llm=True)
    assert len(stub.requests) == 2  # max_retries=1
    assert r.decision == "fallback" and r.answerer == "extractive" and r.citations
    assert "HTTP 503" in r.reason and "without the model" in r.reason


def test_429_waits_for_retry_after(make, stub):
    svc = make()
    stub.push(status(429, Retry_After="1"), cite("failed sign-in", LOCKOUT + " [{n}]."))
    t0 = time.monotonic()
    r = svc.ask(LOCKOUT_Q, ME, use_llm=True)
    assert time.monotonic() - t0 >= 0.95 and r.decision == "answered" and len(stub.requests) == 2


def test_hanging_endpoint_times_out_and_falls_back(make, stub):
    svc = make(timeout_s=0.5, max_retries=1)
    stub.default = hang(5)
    t0 = time.monotonic()
    r = svc.ask(LOCKOUT_Q, ME, use_llm=True)
    assert time.monotonic() - t0 < 3
    assert r.decision == "fallback" and "timed out after 0.5 s" in r.reason and len(stub.requests) == 2


def test_stream_has_a_total_deadline(make, stub):
    svc = make(timeout_s=0.6, max_retries=0)
    stub.push(sse(["After 10 failed", " sign-in attempts"], hang_after_first_s=5))
    got = svc.retriever.retrieve(LOCKOUT_Q, ME)
    t0 = time.monotonic()
    events = list(svc.llm.stream(LOCKOUT_Q, got, fallback=svc.extractive))
    assert time.monotonic() - t0 < 3
    assert events[0] == {"type": "delta", "text": "After 10 failed"}
    final = events[-1]["response"]
    assert final.decision == "fallback" and "timed out" in final.reason


def test_stream_falls_back_when_the_endpoint_is_down(make, stub):
    svc = make()
    stub.default = status(502, "bad gateway")
    got = svc.retriever.retrieve(LOCKOUT_Q, ME)
    events = list(svc.llm.stream(LOCKOUT_Q, got, fallback=svc.extractive))
    assert [e["type"] for e in events] == ["final"] and len(stub.requests) == 2
    assert events[0]["response"].decision == "fallback" and "HTTP 502" in events[0]["response"].reason


@pytest.mark.parametrize("body, expect", [("{not json", "invalid JSON"), ('{"id": "x", "choices": []}', "no choices")])
def test_malformed_replies_fall_back_without_retry(make, stub, body, expect):
    svc = make()
    stub.push(raw(body))
    r = svc.ask(LOCKOUT_Q, ME, use_llm=True)
    assert r.decision == "fallback" and expect in r.reason and len(stub.requests) == 1


def test_uncited_supported_sentence_is_repaired(make, stub):
    svc = make()
    stub.push(completion(LOCKOUT + "."))
    r = svc.ask(LOCKOUT_Q, ME, use_llm=True)
    assert r.decision == "answered" and r.answer == LOCKOUT + ". [1]"
    assert "30 minutes" in r.citations[0].quote


def test_invalid_citation_99_is_repaired(make, stub):
    svc = make()
    stub.push(completion(LOCKOUT + " [99]."))
    r = svc.ask(LOCKOUT_Q, ME, use_llm=True)
    assert r.decision == "answered" and r.citations[0].source_path.endswith("password-and-mfa-standard.md")


def test_hallucinated_sentences_are_removed(make, stub):
    svc = make()
    stub.push(cite("failed sign-in",
                   "You must then reset your password with your manager [{n}]. " + LOCKOUT + " [{n}]. "
                   "Repeated lockouts are reviewed by Daniel Brooks in Security [{n}]. "
                   "Accounts are also permanently deleted after 90 days of inactivity [{n}]."))
    r = svc.ask(LOCKOUT_Q, ME, use_llm=True)
    assert r.decision == "answered" and r.answer == LOCKOUT + ". [1]" and len(r.citations) == 1


@pytest.mark.parametrize("reply", ["You should ask your manager about that.", "NOT_IN_SOURCES",
                                   "The provided sources do not mention a parking policy."])
def test_unsupported_or_sentinel_declines(make, stub, reply):
    svc = make()
    stub.push(completion(reply))
    r = svc.ask("What is the parking policy?", ME, use_llm=True)
    assert r.decision == "declined" and r.answerer == "llm" and r.citations == [] and r.reason
    assert r.model == OpenAIStub.MODEL and "parking" not in r.answer


def test_no_hits_declines_without_calling_the_model(make, stub):
    svc = make()
    r = svc.ask(LOCKOUT_Q, Principal("default", ("no-such-group",)), use_llm=True)
    assert r.decision == "declined" and stub.requests == []


def test_api_key_never_in_errors_reprs_or_logs(make, stub, caplog):
    caplog.set_level(logging.DEBUG)
    svc = make()
    stub.push(status(401, f'{{"error": {{"message": "Incorrect API key provided: {KEY}"}}}}'))
    r = svc.ask(LOCKOUT_Q, ME, use_llm=True)
    assert r.decision == "fallback" and "HTTP 401" in r.reason and "llm.api_key" in r.reason and "***" in r.reason
    provider = svc.llm.provider
    stub.push(status(401, f"bad key {KEY}"))
    with pytest.raises(ModelResponseError) as err:
        provider.chat([{"role": "user", "content": "hi"}])
    assert err.value.status == 401 and err.value.stage == "model"
    with socket.socket() as s:  # a port with nobody listening
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    down = OpenAICompatProvider(LLMSettings(base_url=f"http://127.0.0.1:{dead}/v1", api_key=KEY, max_retries=1))
    with pytest.raises(ModelUnavailableError) as gone:
        down.chat([{"role": "user", "content": "hi"}])
    down.close()
    shown = [str(err.value), repr(err.value), str(gone.value), r.reason, repr(provider), repr(svc.settings),
             str(svc.settings.llm), r.model_dump_json(), caplog.text]
    assert not [s for s in shown if KEY in s]
    assert "cannot connect" in str(gone.value) and "after 2 attempts" in str(gone.value)


def test_provider_client_errors_are_not_retried(stub):
    with OpenAICompatProvider(LLMSettings(base_url=stub.base_url + "/", max_retries=3)) as p:
        stub.push(status(400, '{"error": {"message": "max_tokens is too large"}}'))
        with pytest.raises(ModelResponseError, match="HTTP 400.*max_tokens is too large"):
            p.chat([{"role": "user", "content": "hi"}])
        assert len(stub.requests) == 1
        stub.push(completion("hello [1]", prompt_tokens=7, completion_tokens=3))
        res = p.chat([{"role": "user", "content": "hi"}])
        assert (res.text, res.model, res.prompt_tokens, res.completion_tokens, res.finish_reason) == \
               ("hello [1]", OpenAIStub.MODEL, 7, 3, "stop") and res.latency_ms > 0
        stub.push(sse(["hel", "lo"], usage={"prompt_tokens": 5, "completion_tokens": 2}))
        stream = p.stream([{"role": "user", "content": "hi"}])
        assert list(stream) == ["hel", "lo"] and stream.result.prompt_tokens == 5
        assert stream.result.text == "hello" and stream.result.finish_reason == "stop"
        stub.push(completion("one piece"))  # a server that ignores "stream": true
        stream = p.stream([{"role": "user", "content": "hi"}])
        assert list(stream) == ["one piece"] and stream.result.prompt_tokens == 120


@pytest.mark.parametrize("url", ["localhost:8080", "ftp://models.internal/v1", "", "http://"])
def test_bad_base_url_is_a_config_error(url):
    with pytest.raises(ConfigError, match="llm.base_url"):
        OpenAICompatProvider(LLMSettings(base_url=url))
