"""PDF extraction with pypdfium2 (pypdf as fallback for files pdfium rejects).

Lines are grouped into headings, list items and paragraphs by layout heuristics; image-only
pages are detected and OCR'd with Tesseract when it is installed, else flagged ``needs_ocr``.
"""

from __future__ import annotations

import io
import logging
import math
import re
from dataclasses import dataclass

from citeline.contracts import ExtractedDocument, Page
from citeline.errors import EncryptedFileError, ExtractionError, MissingDependencyError, UnsupportedFileError
from citeline.ingest.extract import ocr
from citeline.ingest.extract.base import PageBuilder, clean_inline

_BULLET = re.compile(r"^(?:[\u2022\u25e6\u25aa\u2023\u2043\u2219\-\*\u00b7]|\(?\d{1,2}[.)]|\(?[a-z][.)])\s+")
_NUMBERED_HEADING = re.compile(r"^(\d+(?:\.\d+){0,3})\.?\s+\S")
_SENTENCE_END = re.compile(r"[.!?:;\"')\]]$")
_MIN_TEXT_CHARS = 20  # fewer characters than this on a page with images = scanned page
_MAX_OCR_PIXELS = 40_000_000

logging.getLogger("pypdf").setLevel(logging.CRITICAL)  # it logs every repair; we report one reason


@dataclass(slots=True)
class PdfOptions:
    password: str | None = None
    ocr: bool = True
    ocr_dpi: int = 300
    ocr_max_pages: int = 200
    ocr_timeout_s: float = 120.0


def _is_heading(line: str, prev_ends_block: bool, next_line: str | None) -> int:
    """Heading level (1–3) if the line looks like a heading, else 0."""
    if next_line is None or len(line) > 80 or _SENTENCE_END.search(line):
        return 0
    words = line.split()
    if not (1 <= len(words) <= 12) or line.isdigit():
        return 0
    if not (line[0].isupper() or line[0].isdigit()):
        return 0
    m = _NUMBERED_HEADING.match(line)
    if m:  # "5. Meals and Per Diem" is a heading, "1. Turn off the power" a list item
        rest = words[1:]
        if rest and not any(ch.isdigit() for ch in line[m.end(1):]) and _title_case(rest):
            return min(3, m.group(1).count(".") + 1)
        return 0
    if not prev_ends_block or _BULLET.match(line):
        return 0
    if sum(1 for w in words if any(ch.isdigit() for ch in w)) >= 2:  # table rows, prices
        return 0
    return 2 if _title_case(words) else 0


_NUMERIC = re.compile(r"^[$€£¥%(+-]*\d[\d.,:/%x×-]*[%)kKmM]*$")


def _is_table_row(line: str) -> bool:
    """A short line with two or more numeric cells ("Euro area €70 €14 €20 €36") is a table row."""
    words = line.split()
    numeric = sum(1 for w in words if _NUMERIC.match(w))
    return numeric >= 2 and numeric >= len(words) / 3 and not _SENTENCE_END.search(line)


_MINOR = {"a", "an", "and", "as", "at", "by", "for", "in", "of", "on", "or", "the", "to", "with", "vs", "per"}


def _title_case(words: list[str]) -> bool:
    major = [w for w in words if w.lower() not in _MINOR]
    capitalised = sum(1 for w in major if w[:1].isupper() or not w[:1].isalpha())
    return bool(major) and capitalised >= len(major) * 0.75


_DIGITS = re.compile(r"\d+")


def running_lines(pages_lines: list[list[str]], depth: int = 2) -> set[str]:
    """Header/footer lines: among the first/last ``depth`` lines of a page and repeated (digits
    ignored, so "Page 3" matches "Page 4") on at least half of the pages, and on 3 or more."""
    if len(pages_lines) < 3:
        return set()
    counts: dict[str, int] = {}
    for lines in pages_lines:
        nonblank = [x for x in lines if x]
        for key in {_DIGITS.sub("#", x) for x in nonblank[:depth] + nonblank[-depth:]}:
            counts[key] = counts.get(key, 0) + 1
    need = max(3, len(pages_lines) // 2)
    return {k for k, n in counts.items() if n >= need}


def _split_lines(raw: str) -> list[str]:
    return [clean_inline(x) for x in raw.replace("\r\n", "\n").replace("\r", "\n").split("\n")]


def page_from_text(number: int, raw: str | list[str], drop: set[str] | None = None) -> Page:
    """Group a page's text lines into blocks, leaving out running headers/footers in ``drop``."""
    lines = _split_lines(raw) if isinstance(raw, str) else raw
    if drop:
        lines = [x for x in lines if _DIGITS.sub("#", x) not in drop]
    longest = max((len(x) for x in lines), default=0)
    builder = PageBuilder()
    buf: list[str] = []
    kind = "paragraph"

    def flush() -> None:
        nonlocal buf, kind
        if buf:
            text = buf[0]
            for nxt in buf[1:]:
                if text.endswith("-") and len(text) > 1 and text[-2].isalpha() and nxt[:1].islower():
                    text = text[:-1] + nxt
                else:
                    text += " " + nxt
            builder.add(kind, "\n".join(buf) if kind == "table" else text)
        buf, kind = [], "paragraph"

    prev_blank = True
    for i, line in enumerate(lines):
        if not line:
            flush()
            prev_blank = True
            continue
        nxt = next((x for x in lines[i + 1 :] if x), None)
        level = _is_heading(line, prev_blank or (bool(buf) and _SENTENCE_END.search(buf[-1]) is not None), nxt)
        if level:
            flush()
            builder.add("heading", line, level)
            prev_blank = True
            continue
        if _is_table_row(line):
            if kind != "table":
                flush()
                kind = "table"
            buf.append(line)
            prev_blank = False
            continue
        if kind == "table":
            flush()
        if _BULLET.match(line):
            flush()
            kind = "list"
        elif buf and _SENTENCE_END.search(buf[-1]) and len(buf[-1]) < 0.7 * longest:
            flush()  # short last line ending a sentence closes the paragraph
        buf.append(line)
        prev_blank = False
    flush()
    return builder.page(number)


def _open(data: bytes, password: str | None):
    import pypdfium2 as pdfium

    try:
        return pdfium.PdfDocument(data, password=password)
    except pdfium.PdfiumError as e:
        code = getattr(e, "err_code", None)
        if code == 4:  # FPDF_ERR_PASSWORD
            if password:
                raise EncryptedFileError("PDF is encrypted and the password given is wrong") from None
            raise EncryptedFileError("PDF is encrypted: pass --password") from None
        raise


def _pypdf_fallback(data: bytes, name: str, password: str | None, reason: str) -> ExtractedDocument:
    import pypdf

    try:
        reader = pypdf.PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not reader.decrypt(password or ""):
            raise EncryptedFileError("PDF is encrypted: pass --password")
        pages = [page_from_text(i + 1, p.extract_text() or "") for i, p in enumerate(reader.pages)]
    except EncryptedFileError:
        raise
    except Exception as e:  # pypdf raises many types on broken files
        raise ExtractionError(f"unreadable PDF ({reason}; pypdf: {type(e).__name__}: {str(e)[:120]})") from None
    if not pages:
        raise ExtractionError(f"unreadable PDF ({reason}; pypdf found no pages)")
    return ExtractedDocument(
        doc_type="pdf", title=_stem(name), pages=pages, warnings=[f"pdfium failed ({reason}); read with pypdf"]
    )


def _stem(name: str) -> str:
    base = name.rsplit("/", 1)[-1]
    return base.rsplit(".", 1)[0] if "." in base else base


def _ocr_page(page, opts: PdfOptions) -> str:
    w, h = page.get_size()
    scale = opts.ocr_dpi / 72
    if w * h * scale * scale > _MAX_OCR_PIXELS:
        scale = math.sqrt(_MAX_OCR_PIXELS / max(w * h, 1))
    bitmap = page.render(scale=scale, grayscale=True)
    try:
        png = ocr.pil_to_png(bitmap.to_pil())
    finally:
        bitmap.close()
    return ocr.ocr_png(png, timeout_s=opts.ocr_timeout_s)


class PdfExtractor:
    doc_type = "pdf"

    def __init__(self, options: PdfOptions | None = None):
        self.options = options or PdfOptions()

    def extract(self, data: bytes, *, name: str, password: str | None = None) -> ExtractedDocument:
        import pypdfium2 as pdfium
        import pypdfium2.raw as raw

        opts = self.options
        password = password if password is not None else opts.password
        if not data:
            raise UnsupportedFileError("empty file (0 bytes)")
        if b"%PDF" not in data[:1024]:
            raise UnsupportedFileError("not a PDF: no %PDF header in the first 1 KB")
        try:
            doc = _open(data, password)
        except pdfium.PdfiumError as e:
            return _pypdf_fallback(data, name, password, f"pdfium: {e}")
        warnings: list[str] = []
        pending: list[Page | list[str]] = []  # built pages (OCR, unreadable) or text lines to group
        ocr_done = 0
        try:
            meta = {k: clean_inline(str(v)) for k, v in doc.get_metadata_dict(skip_empty=True).items()}
            for i in range(len(doc)):
                try:
                    page = doc[i]
                except pdfium.PdfiumError as e:
                    warnings.append(f"page {i + 1} unreadable: {e}")
                    pending.append(Page(number=i + 1, text="", blocks=[]))
                    continue
                try:
                    textpage = page.get_textpage()
                    raw_text = textpage.get_text_range()
                    textpage.close()
                    if len(raw_text.strip()) < _MIN_TEXT_CHARS and any(
                        o.type == raw.FPDF_PAGEOBJ_IMAGE for o in page.get_objects(max_depth=2)
                    ):
                        if opts.ocr and ocr.tesseract_path() and ocr_done < opts.ocr_max_pages:
                            try:
                                result = page_from_text(i + 1, _ocr_page(page, opts))
                                result.ocr = True
                                ocr_done += 1
                            except (ExtractionError, MissingDependencyError) as e:
                                warnings.append(f"page {i + 1}: {e}")
                                result = Page(number=i + 1, text=clean_inline(raw_text), blocks=[], needs_ocr=True)
                        else:
                            result = page_from_text(i + 1, raw_text)
                            result.needs_ocr = True
                        pending.append(result)
                    else:
                        pending.append(_split_lines(raw_text))
                finally:
                    page.close()
        finally:
            doc.close()
        drop = running_lines([p for p in pending if isinstance(p, list)])
        pages = [page_from_text(i + 1, p, drop) if isinstance(p, list) else p for i, p in enumerate(pending)]
        if not pages:
            raise ExtractionError("PDF has no pages")
        need = sum(p.needs_ocr for p in pages)
        if need:
            hint = "OCR disabled" if not opts.ocr else (
                "page limit reached" if ocr.tesseract_path() else "install tesseract-ocr to OCR them")
            warnings.append(f"{need} image-only page(s) need OCR ({hint})")
        title = meta.get("Title") or next(
            (p.text[b.start : b.end] for p in pages for b in p.blocks if b.kind == "heading"), None
        ) or _stem(name)
        return ExtractedDocument(doc_type="pdf", title=title[:300], pages=pages, metadata=meta, warnings=warnings)
