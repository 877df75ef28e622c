"""Ingest-time scan of chunks for indirect prompt injection.

A document may carry text meant for a model rather than a reader: "ignore your instructions",
notes addressed to AI assistants, fake role turns, markdown images whose URL would carry data
out, script tags, text hidden with zero-width or bidi characters, base64-wrapped instructions,
and instructions split across two chunks so that neither half looks like one. Each finding is a
:class:`~citeline.contracts.ChunkFlag`; the policy's ``documents.action`` decides whether a
flagged chunk stays searchable (``flag``: never given to a model, never quoted) or is hidden
(``quarantine``). Rules only, no classifier: document prose is too varied for one (the notes
file measured 14% false alarms for a packaged classifier on licence text).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from citeline.contracts import Chunk, ChunkFlag
from citeline.guard.injection import RULES
from citeline.guard.normalize import normalize, strip_invisible
from citeline.guard.policy import GuardPolicy

_I = re.I | re.S
DOCUMENT_RULES: list[tuple[str, re.Pattern]] = [
    *RULES,
    ("addressed-to-ai", re.compile(
        r"\b(?:note|message|instructions?|attention|important) (?:to|for) (?:the )?(?:ai|llm|gpt|chatbot|assistant|"
        r"language model|ai assistants?|ai models?|bots?|model)s?\b|\b(?:if|when) you are an? (?:ai|llm|language model|"
        r"assistant|chatbot|bot)\b|\b(?:ai|llm|language model|ai assistants?|ai systems?|ai models?|chatbots?)\b"
        r"(?:\s+\w+){0,3}\s+(?:reading|processing|summari[sz]ing|parsing|seeing) this\b|\bdear (?:ai|assistant|"
        r"chatbot|model)\b", _I)),
    ("instruct-the-reader", re.compile(
        r"\b(?:tell|instruct|advise|ask|urge) (?:the )?(?:user|reader|customer)s? to (?:visit|click|call|send|wire|enter|"
        r"pay|download|install|log ?in)\b|\bdo not (?:tell|mention to|inform) the (?:user|reader|customer)\b", _I)),
]
_TAIL = 400  # characters of each side scanned together for a split instruction


#: bidi overrides display a run in an order other than its logical one: never needed for real text
_OVERRIDES = frozenset("\u202d\u202e")


def _hidden(text: str) -> str | None:
    """Zero-width / tag characters, a bidi override, or other bidi controls in text that has no
    right-to-left letters. Marks, embeddings and isolates are how real Arabic or Hebrew text
    (Wikipedia, names in mixed-direction sentences) keeps its order, so there they are not hiding."""
    _, invisible, bidi = strip_invisible(text)
    overrides = sum(ch in _OVERRIDES for ch in text)
    if invisible >= 3 or overrides or (bidi and not _has_rtl_letters(text)):
        return f"hidden-text ({invisible} invisible, {bidi} bidi characters)"
    return None


def _has_rtl_letters(text: str) -> bool:
    return any(unicodedata.bidirectional(ch) in ("R", "AL") for ch in text)


def scan_text(text: str) -> tuple[str, str] | None:
    """(rule, matched snippet) of the first document rule that fires on ``text``, else ``None``."""
    norm = normalize(text)
    for variant in norm.all_texts():
        for name, rx in DOCUMENT_RULES:
            m = rx.search(variant)
            if m:
                return name, " ".join(m.group(0).split())[:160]
    hidden = _hidden(text)
    return ("hidden-text", hidden) if hidden else None


class DocumentScanner:
    name = "documents"
    stage = "document"

    def __init__(self, policy: GuardPolicy):
        self.policy = policy

    def scan(self, chunks: Sequence[Chunk]) -> list[ChunkFlag]:
        """Flags for the chunks of one document (in ordinal order), splits across neighbours included."""
        action = self.policy.documents.action
        flags: dict[str, ChunkFlag] = {}
        ordered = sorted(chunks, key=lambda c: c.ordinal)
        for c in ordered:
            found = scan_text(c.text)
            if found:
                flags[c.id] = ChunkFlag(c.id, c.document_id, found[0], 1.0, action, found[1])
        for a, b in zip(ordered, ordered[1:]):
            if a.id in flags or b.id in flags:
                continue
            found = scan_text(a.text[-_TAIL:] + " " + b.text[:_TAIL])
            if found:
                for c in (a, b):
                    flags[c.id] = ChunkFlag(c.id, c.document_id, "split:" + found[0], 1.0, action,
                                            f"instruction split across chunks {a.ordinal} and {b.ordinal}: {found[1]}")
        return list(flags.values())
