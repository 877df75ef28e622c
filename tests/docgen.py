"""Real test documents, generated: PDFs with reportlab, DOCX with python-docx."""

from __future__ import annotations

from pathlib import Path


def make_pdf(path: Path, pages: list[list[tuple[str, str]]], *, title: str | None = None,
             password: str | None = None) -> Path:
    """Each page is a list of (kind, text) with kind in heading|para|bullet|table (table: rows split by '\\n',
    cells by '|'). Text is wrapped to the page width."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.pdfencrypt import StandardEncryption
    from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Table

    styles = getSampleStyleSheet()
    story = []
    for i, page in enumerate(pages):
        for kind, text in page:
            if kind == "heading":
                story.append(Paragraph(text, styles["Heading2"]))
            elif kind == "bullet":
                story.append(Paragraph("\u2022 " + text, styles["Normal"]))
            elif kind == "table":
                story.append(Table([row.split("|") for row in text.split("\n")]))
            else:
                story.append(Paragraph(text, styles["Normal"]))
        if i < len(pages) - 1:
            story.append(PageBreak())
    enc = StandardEncryption(password, canPrint=1) if password else None
    doc = SimpleDocTemplate(str(path), pagesize=A4, title=title or path.stem, encrypt=enc, invariant=1)
    doc.build(story)
    return path


def make_docx(path: Path, items: list[tuple[str, str]], *, title: str | None = None) -> Path:
    """items: (kind, text) with kind in h1|h2|para|bullet|table ('\\n' rows, '|' cells)."""
    import docx

    d = docx.Document()
    if title:
        d.core_properties.title = title
    for kind, text in items:
        if kind in ("h1", "h2", "h3"):
            d.add_heading(text, level=int(kind[1]))
        elif kind == "bullet":
            d.add_paragraph(text, style="List Bullet")
        elif kind == "table":
            rows = [r.split("|") for r in text.split("\n")]
            t = d.add_table(rows=len(rows), cols=len(rows[0]))
            for r, row in enumerate(rows):
                for c, cell in enumerate(row):
                    t.cell(r, c).text = cell
        else:
            d.add_paragraph(text)
    d.save(str(path))
    return path


LOREM = (
    "The support team answers every ticket within one business day. Customers on the premium plan get a phone "
    "call within four hours. Refunds are issued to the original payment method within ten days. "
)


def paragraph(words: int, seed: str = "") -> str:
    base = (seed + " " + LOREM).split()
    out = []
    while len(out) < words:
        out.extend(base)
    text = " ".join(out[:words])
    return text if text.endswith(".") else text + "."
