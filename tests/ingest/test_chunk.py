from __future__ import annotations

import re

from citeline.config import ChunkSettings
from citeline.ingest.chunk import StructuredChunker
from citeline.ingest.extract.base import PageBuilder
from citeline.ingest.sentences import sentence_spans
from tests.docgen import paragraph


def _page(items, number=1):
    b = PageBuilder()
    for kind, text, *lvl in items:
        b.add(kind, text, *(lvl or [0]))
    return b.page(number)


def test_sentences_respect_abbreviations_and_numbers():
    text = "Dr. Smith paid 3.5 EUR, e.g. for tea. The refund took 10 days! Was it fast? Yes."
    got = [text[a:b] for a, b in sentence_spans(text)]
    assert got == ["Dr. Smith paid 3.5 EUR, e.g. for tea.", "The refund took 10 days!", "Was it fast?", "Yes."]


def test_chunks_are_exact_slices_within_size_and_never_mid_sentence():
    long_para = " ".join(f"Sentence number {i} explains one more detail of the warranty terms." for i in range(120))
    pages = [
        _page([("heading", "Warranty", 1), ("paragraph", long_para), ("heading", "Returns", 1),
               ("paragraph", paragraph(120)), ("list", "Keep the receipt."), ("paragraph", paragraph(90))]),
        _page([("heading", "Shipping", 2), ("paragraph", paragraph(50))], number=2),
    ]
    s = ChunkSettings(target_words=200, max_words=300, min_words=30)
    chunks = StructuredChunker(s).chunk("doc", pages)
    assert len({c.id for c in chunks}) == len(chunks)
    for c in chunks:
        page = pages[c.page - 1]
        assert page.text[c.start : c.end] == c.text
        assert len(c.text.split()) <= s.max_words
        assert re.search(r"[.!?]$", c.text) or c.text.endswith(("Warranty", "Returns", "Shipping")), c.text[-40:]
        assert c.text[0].isupper()
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    assert chunks[0].heading_path == "Warranty"
    assert any(c.heading_path == "Returns" and c.text.startswith("Returns") for c in chunks)
    assert chunks[-1].page == 2 and chunks[-1].heading_path.endswith("Shipping")


def test_small_sections_merge_and_ids_are_stable():
    page = _page([("heading", "A", 1), ("paragraph", "Short one."), ("heading", "B", 1), ("paragraph", "Short two.")])
    c1 = StructuredChunker().chunk("doc", [page])
    c2 = StructuredChunker().chunk("doc", [page])
    assert len(c1) == 1 and c1 == c2
    assert StructuredChunker().chunk("other", [page])[0].id != c1[0].id
    assert StructuredChunker().chunk("other", [page])[0].text_hash == c1[0].text_hash


def test_oversized_table_split_by_rows():
    rows = "\n".join(f"Model: X{i}; Price: {i} EUR; Warranty: {i % 5} years." for i in range(200))
    page = _page([("table", rows)])
    chunks = StructuredChunker(ChunkSettings(target_words=100, max_words=150)).chunk("d", [page])
    assert len(chunks) > 5
    for c in chunks:
        assert c.text.startswith("Model:") and c.text.endswith("years.")
