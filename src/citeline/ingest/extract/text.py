"""Plain text (paragraphs by blank lines, pages by form feeds) and CSV (one block per row)."""

from __future__ import annotations

import csv
import io

from citeline.contracts import ExtractedDocument
from citeline.errors import UnsupportedFileError
from citeline.ingest.extract.base import PageBuilder, clean_inline


def decode_text(data: bytes) -> str:
    if b"\x00" in data[:4096] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise UnsupportedFileError("binary file: not text")
    for enc in ("utf-8-sig", "utf-16") if data.startswith((b"\xff\xfe", b"\xfe\xff")) else ("utf-8-sig",):
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            pass
    return data.decode("cp1252", errors="replace")


class TextExtractor:
    doc_type = "text"

    def extract(self, data: bytes, *, name: str, password: str | None = None) -> ExtractedDocument:
        text = decode_text(data)
        if not text.strip():
            raise UnsupportedFileError("empty file")
        pages = []
        for number, raw in enumerate(text.replace("\r\n", "\n").split("\f"), start=1):
            builder = PageBuilder()
            for para in raw.split("\n\n"):
                lines = [x.strip() for x in para.split("\n") if x.strip()]
                if lines and all(x[:2] in ("- ", "* ", "• ") for x in lines):
                    for x in lines:
                        builder.add("list", x[2:])
                else:
                    builder.add("paragraph", " ".join(lines))
            pages.append(builder.page(number))
        first = next((clean_inline(x) for x in text.splitlines() if x.strip()), "")
        title = first[:120] if 0 < len(first) <= 120 else name.rsplit("/", 1)[-1]
        return ExtractedDocument(doc_type="text", title=title, pages=pages)


class CsvExtractor:
    doc_type = "csv"

    def extract(self, data: bytes, *, name: str, password: str | None = None) -> ExtractedDocument:
        text = decode_text(data)
        if not text.strip():
            raise UnsupportedFileError("empty file")
        try:
            dialect = csv.Sniffer().sniff(text[:8192], delimiters=",;\t|")
        except csv.Error:
            dialect = csv.excel
        rows = [r for r in csv.reader(io.StringIO(text), dialect) if any(c.strip() for c in r)]
        if not rows:
            raise UnsupportedFileError("CSV has no rows")
        header = [clean_inline(h) for h in rows[0]]
        builder = PageBuilder()
        for r in rows[1:]:
            pairs = [f"{h}: {clean_inline(v)}" for h, v in zip(header, r, strict=False) if h and clean_inline(v)]
            builder.add("table", "; ".join(pairs) + "." if pairs else " | ".join(r))
        if not builder:
            builder.add("table", " | ".join(header))
        return ExtractedDocument(doc_type="csv", title=name.rsplit("/", 1)[-1], pages=[builder.page(1)])
