"""Markdown extraction with markdown-it-py: headings, paragraphs, list items, pipe tables, code."""

from __future__ import annotations

from citeline.contracts import ExtractedDocument
from citeline.errors import UnsupportedFileError
from citeline.ingest.extract.base import PageBuilder, table_text
from citeline.ingest.extract.text import decode_text


def _inline_text(token) -> str:
    parts = []
    for child in token.children or []:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif child.type == "image":
            parts.append(child.content)
    return "".join(parts)


class MarkdownExtractor:
    doc_type = "markdown"

    def extract(self, data: bytes, *, name: str, password: str | None = None) -> ExtractedDocument:
        from markdown_it import MarkdownIt

        text = decode_text(data)
        if not text.strip():
            raise UnsupportedFileError("empty file")
        tokens = MarkdownIt("commonmark").enable("table").parse(text)
        builder = PageBuilder()
        heading_level = 0
        list_depth = 0
        table: list[list[str]] | None = None
        row: list[str] | None = None
        for tok in tokens:
            t = tok.type
            if t == "heading_open":
                heading_level = int(tok.tag[1])
            elif t == "heading_close":
                heading_level = 0
            elif t in ("bullet_list_open", "ordered_list_open"):
                list_depth += 1
            elif t in ("bullet_list_close", "ordered_list_close"):
                list_depth -= 1
            elif t == "table_open":
                table = []
            elif t == "table_close":
                builder.add("table", table_text(table or []))
                table = None
            elif t == "tr_open":
                row = []
            elif t == "tr_close" and table is not None and row is not None:
                table.append(row)
                row = None
            elif t == "inline":
                content = _inline_text(tok)
                if row is not None:
                    row.append(content)
                elif heading_level:
                    builder.add("heading", content, heading_level)
                elif list_depth:
                    builder.add("list", content)
                else:
                    builder.add("paragraph", content)
            elif t in ("fence", "code_block"):
                builder.add("code", tok.content)
        title = builder.first_heading() or name.rsplit("/", 1)[-1]
        return ExtractedDocument(doc_type="markdown", title=title[:300], pages=[builder.page(1)])
