"""Sentence boundaries as character spans, for chunking and (later) extractive answers."""

from __future__ import annotations

import re

_ABBREV = {
    "e.g", "i.e", "etc", "vs", "mr", "mrs", "ms", "dr", "prof", "inc", "ltd", "co", "corp", "no", "nos", "fig",
    "figs", "approx", "dept", "est", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct",
    "nov", "dec", "st", "mt", "jr", "sr", "vol", "pp", "p", "ca", "cf", "al", "min", "max", "incl", "excl", "ref",
}
_END = re.compile(r"[.!?]+[\"'\u201d\u2019)\]]*(?=\s+[\"'\u201c\u2018(\[]?[A-Z0-9\u00c0-\u017f])|\n+")


def sentence_spans(text: str, offset: int = 0) -> list[tuple[int, int]]:
    """Split ``text`` into sentences; returns (start, end) spans shifted by ``offset``.

    Breaks after ., ! or ? followed by whitespace and a capital/digit, and at line breaks;
    not after common abbreviations or single-letter initials.
    """
    spans: list[tuple[int, int]] = []
    start = 0
    for m in _END.finditer(text):
        end = m.end()
        if text[m.start()] == ".":
            word = re.search(r"(\S+)\.$", text[start : m.start() + 1])
            token = word.group(1).lower().lstrip("(\"'") if word else ""
            if token in _ABBREV or (len(token) == 1 and token.isalpha()):
                continue
            if token.isdigit() and not text[start : m.start() - len(token)].strip():
                continue  # "5. Meals and Per Diem": an enumerator, not a sentence
        seg = text[start:end]
        s = start + (len(seg) - len(seg.lstrip()))
        e = start + len(seg.rstrip())
        if e > s:
            spans.append((s + offset, e + offset))
        start = end
    seg = text[start:]
    if seg.strip():
        s = start + (len(seg) - len(seg.lstrip()))
        spans.append((s + offset, start + len(seg.rstrip()) + offset))
    return spans
