from __future__ import annotations

import pytest

from citeline.errors import EncryptedFileError, ExtractionError, UnsupportedFileError
from citeline.ingest.extract import PdfOptions, extractor_for
from citeline.ingest.extract.ocr import tesseract_path
from tests.conftest import SHARED_PDF
from tests.docgen import make_docx, make_pdf, paragraph


def _extract(path, **kw):
    return extractor_for(path, PdfOptions(**kw)).extract(path.read_bytes(), name=str(path))


def _blocks(page):
    return [(b.kind, page.text[b.start : b.end]) for b in page.blocks]


def test_pdf_pages_headings_lists_tables(tmp_path):
    pdf = make_pdf(tmp_path / "manual.pdf", [
        [("heading", "Installation Guide"), ("para", paragraph(60, "Mount the thermostat on an inside wall.")),
         ("bullet", "Turn off power at the breaker."), ("bullet", "Remove the old thermostat.")],
        [("heading", "Warranty Terms"), ("para", "The T5 Pro carries a warranty of 36 months from purchase."),
         ("table", "Model|Warranty|Price\nT3|24 months|129 EUR\nT5 Pro|36 months|249 EUR")],
    ], title="T5 Manual")
    doc = _extract(pdf)
    assert doc.doc_type == "pdf" and doc.title == "T5 Manual" and len(doc.pages) == 2
    p1, p2 = doc.pages
    kinds = _blocks(p1)
    assert ("heading", "Installation Guide") in kinds
    assert sum(k == "list" for k, _ in kinds) == 2
    assert "36 months from purchase" in p2.text and "Installation" not in p2.text
    assert ("heading", "Warranty Terms") in _blocks(p2)
    assert "T5 Pro 36 months 249 EUR" in p2.text
    for page in doc.pages:
        for b in page.blocks:
            assert page.text[b.start : b.end].strip() == page.text[b.start : b.end] != ""


def test_encrypted_pdf_needs_password(tmp_path):
    sample = SHARED_PDF / "py-pdf-sample-files/005-libreoffice-writer-password/libreoffice-writer-password.pdf"
    with pytest.raises(EncryptedFileError, match="--password"):
        _extract(sample)
    with pytest.raises(EncryptedFileError, match="wrong"):
        _extract(sample, password="nope")
    doc = _extract(sample, password="openpassword")
    assert doc.pages and doc.pages[0].text.strip()


def test_encrypted_with_empty_user_password_opens_automatically(tmp_path):
    pdf = make_pdf(tmp_path / "owner-only.pdf", [[("para", "Owner password only, anyone may open.")]], password="")
    assert "anyone may open" in _extract(pdf).pages[0].text


def test_bad_pdf_inputs(tmp_path):
    empty = tmp_path / "empty.pdf"
    empty.write_bytes(b"")
    with pytest.raises(UnsupportedFileError, match="empty"):
        _extract(empty)
    fake = tmp_path / "fake.pdf"
    fake.write_bytes(b"PK\x03\x04 this is a zip, not a pdf" * 10)
    with pytest.raises(UnsupportedFileError, match="not a PDF"):
        _extract(fake)
    truncated = tmp_path / "trunc.pdf"
    truncated.write_bytes(make_pdf(tmp_path / "full.pdf", [[("para", "x " * 50)]]).read_bytes()[:300])
    with pytest.raises(ExtractionError):
        _extract(truncated)


def test_scanned_page_detected_without_ocr():
    doc = _extract(SHARED_PDF / "ocrmypdf/linn.pdf", ocr=False)
    assert doc.pages[0].needs_ocr and "need OCR" in " ".join(doc.warnings)


@pytest.mark.skipif(tesseract_path() is None, reason="tesseract-ocr not installed (.ci/run installs it)")
def test_scanned_page_ocr_matches_reference():
    doc = _extract(SHARED_PDF / "ocrmypdf/linn.pdf", ocr=True, ocr_dpi=200)
    page = doc.pages[0]
    assert page.ocr and not page.needs_ocr
    expected = set((SHARED_PDF / "ocrmypdf/linn.txt").read_text().lower().split())
    got = set(page.text.lower().split())
    assert len(expected & got) / len(expected) > 0.8


def test_docx_headings_lists_tables(tmp_path):
    path = make_docx(tmp_path / "policy.docx", [
        ("h1", "Travel Policy"), ("para", "Book trains for trips under 500 km."),
        ("h2", "Per Diem"), ("bullet", "Meals are reimbursed up to 45 EUR a day."),
        ("table", "City|Hotel cap\nBerlin|150 EUR\nParis|190 EUR"),
    ], title="Travel")
    doc = _extract(path)
    kinds = _blocks(doc.pages[0])
    assert doc.title == "Travel"
    assert ("heading", "Travel Policy") in kinds and ("heading", "Per Diem") in kinds
    assert ("list", "Meals are reimbursed up to 45 EUR a day.") in kinds
    assert ("table", "City: Berlin; Hotel cap: 150 EUR.\nCity: Paris; Hotel cap: 190 EUR.") in kinds


def test_docx_bad_inputs(tmp_path):
    ole = tmp_path / "locked.docx"
    ole.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600)
    with pytest.raises(EncryptedFileError, match="password-protected"):
        _extract(ole)
    notzip = tmp_path / "text.docx"
    notzip.write_text("hello")
    with pytest.raises(UnsupportedFileError, match="ZIP"):
        _extract(notzip)


def test_html_strips_boilerplate(tmp_path):
    path = tmp_path / "article.html"
    path.write_text(
        "<html><head><title>Returns</title><style>p{}</style></head><body>"
        "<nav><a href='/'>Home</a> | <a>Products</a></nav><header>Fernhill header</header>"
        "<main><h1>Returns</h1><p>You can return a device within <b>30 days</b>.</p>"
        "<ul><li>Keep the box.</li><li>Include the receipt.</li></ul>"
        "<table><tr><th>Item</th><th>Fee</th></tr><tr><td>Hub</td><td>0 EUR</td></tr></table>"
        "<script>alert('x')</script><div style='display: none'>hidden text</div></main>"
        "<footer>Copyright Fernhill</footer></body></html>"
    )
    doc = _extract(path)
    text = doc.pages[0].text
    assert doc.title == "Returns"
    assert "You can return a device within 30 days." in text
    assert ("list", "Keep the box.") in _blocks(doc.pages[0])
    assert "Item: Hub; Fee: 0 EUR." in text
    for junk in ("Home", "Fernhill header", "Copyright", "alert", "hidden text"):
        assert junk not in text


def test_markdown_structure(tmp_path):
    path = tmp_path / "faq.md"
    path.write_text("# FAQ\n\nIntro text with a [link](http://x) and `code`.\n\n## Pairing\n\n- Hold the button.\n- Wait"
                    " for the LED.\n\n| Plan | Price |\n|---|---|\n| Basic | 0 |\n| Plus | 3 EUR |\n\n```\nreset --all\n```\n")
    doc = _extract(path)
    kinds = _blocks(doc.pages[0])
    assert doc.title == "FAQ"
    assert ("paragraph", "Intro text with a link and code.") in kinds
    assert ("heading", "Pairing") in kinds and ("list", "Hold the button.") in kinds
    assert ("table", "Plan: Basic; Price: 0.\nPlan: Plus; Price: 3 EUR.") in kinds
    assert ("code", "reset --all") in kinds


def test_text_pages_and_csv(tmp_path):
    txt = tmp_path / "notes.txt"
    txt.write_text("Release notes\n\nVersion 2.1 fixes pairing.\fPage two text here.")
    doc = _extract(txt)
    assert [p.number for p in doc.pages] == [1, 2] and "Page two" in doc.pages[1].text
    csv_path = tmp_path / "prices.csv"
    csv_path.write_text("sku,name,price\nT3,Thermostat T3,129\nAQ1,Air sensor,89\n")
    rows = _blocks(_extract(csv_path).pages[0])
    assert ("table", "sku: AQ1; name: Air sensor; price: 89.") in rows
    binary = tmp_path / "bin.txt"
    binary.write_bytes(b"\x00\x01\x02" * 100)
    with pytest.raises(UnsupportedFileError, match="binary"):
        _extract(binary)


def test_unsupported_extension(tmp_path):
    with pytest.raises(UnsupportedFileError, match="unsupported file type .exe"):
        extractor_for(tmp_path / "x.exe")


def test_running_headers_dropped_and_numbered_headings():
    from citeline.ingest.extract.pdf import page_from_text, running_lines

    bodies = [["5. Meals and Per Diem", "We pay a daily rate for meals.", "1. Turn off the power"],
              ["Travel is booked through the portal.", "Economy class is the default."],
              ["6. Ground Transportation", "Taxis are fine for airport transfers."],
              ["Hotels are capped per city.", "See the table below."],
              ["7. Expenses", "Submit receipts within 30 days."]]
    pages = [["ACME Handbook | HR-7 | v4", *body, f"Internal - Page {n}"] for n, body in enumerate(bodies, 1)]
    drop = running_lines(pages)
    page = page_from_text(1, pages[0], drop)
    blocks = _blocks(page)
    assert blocks == [("heading", "5. Meals and Per Diem"), ("paragraph", "We pay a daily rate for meals."),
                      ("list", "1. Turn off the power")]
    assert running_lines(pages[:2]) == set()  # too few pages to call anything a running header
