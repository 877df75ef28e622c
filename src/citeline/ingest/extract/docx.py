"""DOCX extraction with python-docx: headings (by style), list items and tables, in body order.

A DOCX carries no page layout, so the whole document is one page; the heading path of each
chunk locates it instead.
"""

from __future__ import annotations

import io
import re
import zipfile

from citeline.contracts import ExtractedDocument
from citeline.errors import EncryptedFileError, ExtractionError, UnsupportedFileError
from citeline.ingest.extract.base import PageBuilder, table_text

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_HEADING_STYLE = re.compile(r"^(?:heading|überschrift|titre)\s*(\d)", re.I)


def _cell_text(cell) -> str:
    return " ".join(p.text for p in cell.paragraphs if p.text.strip())


class DocxExtractor:
    doc_type = "docx"

    def extract(self, data: bytes, *, name: str, password: str | None = None) -> ExtractedDocument:
        from docx import Document
        from docx.table import Table
        from docx.text.paragraph import Paragraph

        if not data:
            raise UnsupportedFileError("empty file (0 bytes)")
        if data.startswith(_OLE_MAGIC):
            raise EncryptedFileError(
                "DOCX is password-protected or a legacy .doc file: save it as an unprotected .docx"
            )
        if not zipfile.is_zipfile(io.BytesIO(data)):
            raise UnsupportedFileError("not a DOCX: the file is not a ZIP package")
        try:
            doc = Document(io.BytesIO(data))
        except Exception as e:  # python-docx raises KeyError, ValueError, lxml errors on broken packages
            raise ExtractionError(f"unreadable DOCX: {type(e).__name__}: {str(e)[:160]}") from None
        builder = PageBuilder()
        for el in doc.element.body.iterchildren():
            tag = el.tag.rsplit("}", 1)[-1]
            if tag == "p":
                para = Paragraph(el, doc)
                text = para.text
                if not text.strip():
                    continue
                style = (para.style.name if para.style is not None else "") or ""
                m = _HEADING_STYLE.match(style)
                if m:
                    builder.add("heading", text, int(m.group(1)))
                elif style.lower() == "title":
                    builder.add("heading", text, 1)
                elif "list" in style.lower() or el.find(".//{*}numPr") is not None:
                    builder.add("list", text)
                else:
                    builder.add("paragraph", text)
            elif tag == "tbl":
                table = Table(el, doc)
                rows = [[_cell_text(c) for c in row.cells] for row in table.rows]
                builder.add("table", table_text(rows))
        title = (doc.core_properties.title or "").strip() or builder.first_heading() or name.rsplit("/", 1)[-1]
        meta = {k: str(v) for k, v in {"author": doc.core_properties.author}.items() if v}
        return ExtractedDocument(doc_type="docx", title=title[:300], pages=[builder.page(1)], metadata=meta)
