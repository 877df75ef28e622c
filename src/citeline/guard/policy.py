"""The guard policy of a deployment: what the assistant talks about, what it refuses, and how.

One pydantic model, read from a TOML or YAML file (``guard.policy`` in the settings). Every
field has a default that suits a company support assistant: prompt-injection and PII guards
on, no political or personal opinions, PII redacted in stored traces and logs. Topic limits and
competitors are company-specific, so they are empty until a policy file names them (see
``demo/policy.toml``).

Each guard has a ``mode``: ``enforce`` (its verdicts change the answer), ``shadow`` (verdicts
are only recorded in traces, logs and /metrics: try a policy before enforcing it) or ``off``.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError, field_validator

from citeline.errors import ConfigError

Mode = Literal["enforce", "shadow", "off"]
PiiEntity = Literal["EMAIL", "PHONE", "CREDIT_CARD", "IBAN", "SSN", "IP_ADDRESS", "PERSON", "ADDRESS"]
ALL_PII: tuple[str, ...] = ("EMAIL", "PHONE", "CREDIT_CARD", "IBAN", "SSN", "IP_ADDRESS", "PERSON", "ADDRESS")


class _Strict(BaseModel):
    model_config = {"extra": "forbid"}


class Topic(_Strict):
    name: str = Field(min_length=1)
    description: str = ""
    examples: list[str] = Field(default_factory=list, description="Questions that belong to the topic.")

    def texts(self) -> list[str]:
        return [t for t in [self.description, *self.examples] if t.strip()]


class Competitor(_Strict):
    name: str = Field(min_length=1)
    aliases: list[str] = Field(default_factory=list)

    def names(self) -> list[str]:
        return [n for n in [self.name, *self.aliases] if n.strip()]


class Messages(_Strict):
    refusal: str = "I can't help with that request."
    off_topic: str = "I can only help with questions about our products, services and policies."
    injection: str = "I can't follow instructions that try to change how I work. Please ask your question directly."
    competitor: str = "I can't compare us with or recommend other companies' products."
    politics: str = "I don't share political or personal opinions."
    blocked_topic: str = "I can't help with that topic."
    pii_request: str = "I can't share personal information about people."
    pii_input: str = "Please don't share personal data such as card numbers; I've removed it from the request."
    guard_error: str = "I can't answer that right now because a safety check failed. Please try again later."
    handoff: str = "If you need more help, contact our support team."


class InjectionPolicy(_Strict):
    mode: Mode = "enforce"
    threshold: float = Field(0.7, ge=0, le=1, description="Classifier probability at or above which input is "
                             "treated as an injection (rules score 1.0). 0.7: the highest recall at ≤1% false "
                             "alarms in 5-fold cross-validation on the exemplar library.")
    decode_base64: bool = True
    packaged_classifier: Literal["none", "nanoguard"] = Field(
        "none", description="Add the packaged prompt-injection classifier of metatronnanoguard (torch) as a second "
                            "signal on questions: pip install 'citeline[guard-ml]'. Never used on documents (it "
                            "flags ~14% of benign licence text).")
    packaged_threshold: float = Field(0.5, ge=0, le=1)
    max_chars: int = Field(20_000, ge=100, description="Longer inputs are scanned in their first and last parts.")


class TopicPolicy(_Strict):
    mode: Mode = "enforce"
    threshold: float = Field(0.30, ge=-1, le=1, description="Questions whose best similarity to an allowed "
                             "topic's description and examples is below this are off-topic. 0.30 was tuned on the "
                             "demo policy: its examples (leave-one-out) vs guard/data/offtopic_dev.txt.")
    keywords: list[str] = Field(default_factory=list, description="Words that make a question on-topic whatever its "
                                "similarity (company and product names).")
    blocked_margin: float = Field(0.05, ge=0, le=1, description="A blocked topic wins when it is this much "
                                  "closer than every allowed topic.")
    blocked_threshold: float = Field(0.55, ge=-1, le=1, description="…and at least this similar.")


class CompetitorPolicy(_Strict):
    mode: Mode = "enforce"
    names: list[Competitor] = Field(default_factory=list)


class PoliticsPolicy(_Strict):
    mode: Mode = "enforce"
    allow_opinions: bool = Field(False, description="Allow political and personal opinions (rarely wanted).")
    threshold: float = Field(0.6, ge=-1, le=1, description="Similarity to the built-in opinion-bait examples.")


class PiiPolicy(_Strict):
    mode: Mode = "enforce"
    entities: list[PiiEntity] = Field(default_factory=lambda: list(ALL_PII),
                                      description="What counts as personal data.")
    names: bool = Field(True, description="Detect PERSON names and addresses with spaCy (loaded on first use).")
    input: Literal["allow", "redact", "block"] = Field(
        "redact", description="PII in a question: redact it in traces and logs (the question is still answered), "
                              "block the question, or allow it unchanged.")
    block_requests: bool = Field(True, description="Refuse questions that ask for a person's personal data.")
    redact_traces: bool = True
    redact_logs: bool = True
    answer_entities: list[PiiEntity] = Field(
        default_factory=lambda: ["CREDIT_CARD", "IBAN", "SSN"],
        description="Entities redacted in answers (output guard) unless the caller is in ``visible_to``.")
    visible_to: list[str] = Field(default_factory=list, description="ACL groups that may see PII in answers.")


class DocumentPolicy(_Strict):
    mode: Mode = "enforce"
    action: Literal["flag", "quarantine"] = Field(
        "flag", description="flag: kept searchable, never given to a model as instructions nor quoted; "
                            "quarantine: also hidden from search.")


class OutputPolicy(_Strict):
    mode: Mode = "enforce"
    action: Literal["block", "refuse"] = Field(
        "block", description="A violating answer is replaced by the refusal message (decision blocked).")


class GuardPolicy(_Strict):
    name: str = "default"
    description: str = "Company support assistant"
    allowed_topics: list[Topic] = Field(default_factory=list, description="Empty: no topic limit.")
    blocked_topics: list[Topic] = Field(default_factory=list)
    competitors: CompetitorPolicy = Field(default_factory=CompetitorPolicy)
    politics: PoliticsPolicy = Field(default_factory=PoliticsPolicy)
    pii: PiiPolicy = Field(default_factory=PiiPolicy)
    injection: InjectionPolicy = Field(default_factory=InjectionPolicy)
    topic: TopicPolicy = Field(default_factory=TopicPolicy)
    documents: DocumentPolicy = Field(default_factory=DocumentPolicy)
    output: OutputPolicy = Field(default_factory=OutputPolicy)
    messages: Messages = Field(default_factory=Messages)

    @field_validator("allowed_topics", "blocked_topics")
    @classmethod
    def _topics_have_text(cls, v: list[Topic]) -> list[Topic]:
        for t in v:
            if not t.texts():
                raise ValueError(f"topic {t.name!r} needs a description or examples")
        return v

    def policy_hash(self) -> str:
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def load_policy(path: Path | str | None = None) -> GuardPolicy:
    """The policy in ``path`` (``.toml``, ``.yaml`` or ``.yml``), or the default policy when ``None``.
    A bad file raises :class:`ConfigError` naming the field and the value."""
    if path is None:
        return GuardPolicy()
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"guard policy file not found: {path} (set guard.policy or CITELINE_GUARD__POLICY)")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text) or {}
        else:
            data = tomllib.loads(text)
    except Exception as e:  # tomllib.TOMLDecodeError, yaml.YAMLError
        raise ConfigError(f"cannot parse guard policy {path}: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"guard policy {path} must be a table/mapping at the top level")
    try:
        return GuardPolicy(**data)
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}={err.get('input')!r}: {err['msg']}"
                             for err in e.errors())
        raise ConfigError(f"invalid guard policy {path}: {problems}") from None
