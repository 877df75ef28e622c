"""Structure-following chunking: headings start chunks, blocks are packed to a target size,
long blocks are split at sentence boundaries, and every chunk is an exact slice of its page."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from citeline.config import ChunkSettings
from citeline.contracts import Chunk, Page
from citeline.ingest.sentences import sentence_spans


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _words(text: str) -> int:
    return len(text.split())


@dataclass(slots=True)
class _Open:
    page: Page
    start: int = -1
    end: int = -1
    words: int = 0
    headings_only: bool = True
    heading_path: str = ""
    spans: list[tuple[int, int]] = field(default_factory=list)


class StructuredChunker:
    def __init__(self, settings: ChunkSettings | None = None):
        s = settings or ChunkSettings()
        if s.max_words < s.target_words:
            raise ValueError(f"chunking.max_words ({s.max_words}) must be >= chunking.target_words ({s.target_words})")
        self.settings = s

    def chunk(self, document_id: str, pages: Sequence[Page]) -> list[Chunk]:
        s = self.settings
        out: list[Chunk] = []
        stack: list[tuple[int, str]] = []

        def path() -> str:
            return " > ".join(t for _, t in stack)

        def emit(cur: _Open) -> None:
            if cur.start < 0 or cur.end <= cur.start:
                return
            text = cur.page.text[cur.start : cur.end]
            ordinal = len(out)
            digest = hashlib.sha256(
                f"{document_id}|{cur.page.number}|{cur.start}|{cur.end}|{text}".encode()
            ).hexdigest()[:24]
            out.append(Chunk(id=digest, document_id=document_id, ordinal=ordinal, page=cur.page.number,
                             start=cur.start, end=cur.end, heading_path=cur.heading_path, text=text,
                             text_hash=text_hash(text)))

        for page in pages:
            cur = _Open(page)

            def add(start: int, end: int, words: int, is_heading: bool = False) -> None:
                nonlocal cur
                if cur.start < 0:
                    cur.start, cur.heading_path = start, path()
                cur.end = end
                cur.words += words
                cur.headings_only = cur.headings_only and is_heading

            for block in page.blocks:
                text = page.text[block.start : block.end]
                words = _words(text)
                if block.kind == "heading":
                    if cur.words >= s.min_words and not cur.headings_only:
                        emit(cur)
                        cur = _Open(page)
                    level = max(block.level, 1)
                    while stack and stack[-1][0] >= level:
                        stack.pop()
                    stack.append((level, text[:120]))
                    if cur.start < 0 or cur.headings_only:
                        cur.heading_path = path()
                    add(block.start, block.end, words, is_heading=True)
                    if cur.start == block.start:
                        cur.heading_path = path()
                    continue
                if cur.words + words <= s.max_words:
                    add(block.start, block.end, words)
                else:
                    if not cur.headings_only or cur.words >= s.min_words:
                        emit(cur)
                        cur = _Open(page)
                    for a, b in self._pieces(page.text, block.start, block.end, block.kind):
                        w = _words(page.text[a:b])
                        if cur.words + w > s.max_words and not cur.headings_only:
                            emit(cur)
                            cur = _Open(page)
                        add(a, b, w)
                        if cur.words >= s.target_words:
                            emit(cur)
                            cur = _Open(page)
                if cur.words >= s.target_words:
                    emit(cur)
                    cur = _Open(page)
            emit(cur)
        return out

    def _pieces(self, text: str, start: int, end: int, kind: str) -> list[tuple[int, int]]:
        """Split a long block into units no longer than max_words: lines for tables and code,
        sentences otherwise; a single over-long unit is cut at word boundaries as a last resort."""
        if kind in ("table", "code"):
            units, pos = [], start
            for line in text[start:end].split("\n"):
                if line:
                    units.append((pos, pos + len(line)))
                pos += len(line) + 1
        else:
            units = sentence_spans(text[start:end], offset=start)
        out: list[tuple[int, int]] = []
        for a, b in units:
            if _words(text[a:b]) <= self.settings.max_words:
                out.append((a, b))
                continue
            words_seen, piece_start = 0, a
            i = a
            while i < b:
                if text[i].isspace() and i > piece_start and not text[i - 1].isspace():
                    words_seen += 1
                    if words_seen >= self.settings.target_words:
                        out.append((piece_start, i))
                        while i < b and text[i].isspace():
                            i += 1
                        piece_start, words_seen = i, 0
                        continue
                i += 1
            if piece_start < b:
                out.append((piece_start, b))
        return out
