"""Shared helpers for extractors: build page text from blocks, turn tables into row text."""

from __future__ import annotations

import re
import unicodedata

from citeline.contracts import Block, BlockKind, Page

_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")
_ZERO_WIDTH = re.compile(r"[\u200b\u200c\u200d\u2060\ufeff\u00ad]")


def clean_inline(text: str) -> str:
    """Collapse whitespace to single spaces, drop control and zero-width characters."""
    text = unicodedata.normalize("NFC", text)
    text = _ZERO_WIDTH.sub("", _CONTROL.sub(" ", text))
    return _SPACES.sub(" ", text.replace("\r", " ").replace("\n", " ")).strip()


def clean_lines(text: str) -> str:
    """Like :func:`clean_inline` but keeps line breaks (tables, code)."""
    lines = [clean_inline(line) for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return "\n".join(line for line in lines if line)


def table_text(rows: list[list[str]]) -> str:
    """Readable row text: with a header row, each data row becomes ``Header: value; ...``."""
    rows = [[clean_inline(c) for c in r] for r in rows]
    rows = [r for r in rows if any(r)]
    if not rows:
        return ""
    header = rows[0]
    if len(rows) == 1 or len(header) < 2 or not all(header):
        return "\n".join(" | ".join(c for c in r if c) for r in rows)
    lines = []
    for r in rows[1:]:
        pairs = [f"{h}: {v}" for h, v in zip(header, r, strict=False) if v]
        if pairs:
            lines.append("; ".join(pairs) + ".")
    return "\n".join(lines)


class PageBuilder:
    """Accumulates blocks into one page's text, recording each block's offsets."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._len = 0
        self.blocks: list[Block] = []

    def add(self, kind: BlockKind, text: str, level: int = 0) -> None:
        text = clean_lines(text) if kind in ("table", "code") else clean_inline(text)
        if not text:
            return
        if self._parts:
            self._parts.append("\n\n")
            self._len += 2
        start = self._len
        self._parts.append(text)
        self._len += len(text)
        self.blocks.append(Block(kind=kind, start=start, end=self._len, level=level))

    def __bool__(self) -> bool:
        return bool(self.blocks)

    def first_heading(self) -> str | None:
        text = "".join(self._parts)
        for b in self.blocks:
            if b.kind == "heading":
                return text[b.start : b.end]
        return None

    def page(self, number: int, **flags: bool) -> Page:
        return Page(number=number, text="".join(self._parts), blocks=list(self.blocks), **flags)
