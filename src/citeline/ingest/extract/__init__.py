"""Extractors by file type. ``extractor_for(path)`` picks one from the extension."""

from __future__ import annotations

from pathlib import PurePath

from citeline.errors import UnsupportedFileError
from citeline.ingest.extract.docx import DocxExtractor
from citeline.ingest.extract.html import HtmlExtractor
from citeline.ingest.extract.markdown import MarkdownExtractor
from citeline.ingest.extract.pdf import PdfExtractor, PdfOptions
from citeline.ingest.extract.text import CsvExtractor, TextExtractor

__all__ = ["EXTRACTORS", "extractor_for", "PdfOptions"]

EXTRACTORS = {
    ".pdf": PdfExtractor,
    ".docx": DocxExtractor,
    ".html": HtmlExtractor,
    ".htm": HtmlExtractor,
    ".md": MarkdownExtractor,
    ".markdown": MarkdownExtractor,
    ".txt": TextExtractor,
    ".text": TextExtractor,
    ".csv": CsvExtractor,
}


def extractor_for(path: str | PurePath, pdf_options: PdfOptions | None = None):
    suffix = PurePath(path).suffix.lower()
    cls = EXTRACTORS.get(suffix)
    if cls is None:
        raise UnsupportedFileError(f"unsupported file type {suffix or '(none)'}: supported are {', '.join(sorted(EXTRACTORS))}")
    return cls(pdf_options) if cls is PdfExtractor else cls()
