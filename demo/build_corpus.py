#!/usr/bin/env python3
"""Render the Fernhill Instruments demo corpus.

Source of truth: ``demo/source/**/*.md`` -- one file per document, a small
front-matter block (``key: value`` lines between ``---`` markers) followed by a
Markdown-ish body:

* ``#``, ``##``, ``###`` headings
* blank-line separated paragraphs, ``**bold**`` and ```code``` inline markup
* ``- `` bullet lists and ``1. `` numbered lists
* pipe tables (``| a | b |`` with a ``|---|---|`` separator row)
* ``> `` note/callout blocks
* a line ``<<<pagebreak>>>`` forces a new page (PDF and DOCX only)

The front matter key ``output`` gives the path (relative to ``demo/corpus/``)
and its extension picks the renderer: .pdf (reportlab), .docx (python-docx),
.html, .md, .txt, .csv (first table of the body).

Rendering is deterministic: reportlab runs with ``invariant=1`` and DOCX
archives are rewritten with fixed timestamps and fixed core properties.

Usage: python demo/build_corpus.py [--check]   (--check: only report word counts)
"""

from __future__ import annotations

import csv
import datetime as _dt
import html
import io
import re
import sys
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "source"
CORPUS = HERE / "corpus"

COMPANY = "Fernhill Instruments, Inc."
FIXED_DT = _dt.datetime(2025, 4, 1, 9, 0, 0)

# --------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------


def parse_source(path: Path) -> tuple[dict, list]:
    text = path.read_text(encoding="utf-8")
    if not text.startswith("---\n"):
        raise ValueError(f"{path}: missing front matter")
    _, fm, body = text.split("---\n", 2)
    meta: dict[str, str] = {}
    for line in fm.splitlines():
        if line.strip():
            k, _, v = line.partition(":")
            meta[k.strip()] = v.strip()
    for key in ("title", "output"):
        if key not in meta:
            raise ValueError(f"{path}: front matter needs '{key}'")
    blocks = parse_blocks(body)
    # Normalize heading depth so the shallowest heading in the body is level 1.
    levels = [b[1] for b in blocks if b[0] == "h"]
    if levels and min(levels) > 1:
        shift = min(levels) - 1
        blocks = [("h", b[1] - shift, b[2]) if b[0] == "h" else b for b in blocks]
    return meta, blocks


_BLOCK_START = re.compile(r"^(#{1,3} |\||[-*] |\d+\. |> |<<<pagebreak>>>)")


def parse_blocks(body: str) -> list:
    lines = body.splitlines()
    blocks: list = []
    i = 0
    n = len(lines)
    while i < n:
        line = lines[i].rstrip()
        if not line.strip():
            i += 1
            continue
        if line.strip() == "<<<pagebreak>>>":
            blocks.append(("pagebreak",))
            i += 1
            continue
        m = re.match(r"^(#{1,3}) (.*)$", line)
        if m:
            blocks.append(("h", len(m.group(1)), m.group(2).strip()))
            i += 1
            continue
        if line.startswith("|"):
            rows = []
            while i < n and lines[i].startswith("|"):
                cells = [c.strip() for c in lines[i].strip().strip("|").split("|")]
                if not all(re.fullmatch(r":?-{3,}:?", c) for c in cells):
                    rows.append(cells)
                i += 1
            blocks.append(("table", rows[0], rows[1:]))
            continue
        if re.match(r"^[-*] ", line) or re.match(r"^\d+\. ", line):
            ordered = bool(re.match(r"^\d+\. ", line))
            pat = re.compile(r"^\d+\. " if ordered else r"^[-*] ")
            items: list[str] = []
            while i < n:
                cur = lines[i].rstrip()
                if pat.match(cur):
                    items.append(pat.sub("", cur, count=1).strip())
                elif cur.startswith("  ") and cur.strip() and items:
                    items[-1] += " " + cur.strip()
                else:
                    break
                i += 1
            blocks.append(("ol" if ordered else "ul", items))
            continue
        if line.startswith("> "):
            parts = []
            while i < n and lines[i].startswith(">"):
                parts.append(lines[i][1:].strip())
                i += 1
            blocks.append(("note", " ".join(p for p in parts if p)))
            continue
        parts = [line.strip()]
        i += 1
        while i < n and lines[i].strip() and not _BLOCK_START.match(lines[i]):
            parts.append(lines[i].strip())
            i += 1
        blocks.append(("p", " ".join(parts)))
    return blocks


def plain(text: str) -> str:
    """Strip inline markup."""
    return text.replace("**", "").replace("`", "")


def word_count(blocks: list) -> int:
    words = 0
    for b in blocks:
        if b[0] in ("p", "note"):
            words += len(plain(b[1]).split())
        elif b[0] == "h":
            words += len(plain(b[2]).split())
        elif b[0] in ("ul", "ol"):
            words += sum(len(plain(x).split()) for x in b[1])
        elif b[0] == "table":
            for row in [b[1], *b[2]]:
                words += sum(len(plain(c).split()) for c in row)
    return words


def meta_line(meta: dict) -> list[tuple[str, str]]:
    fields = [
        ("Document ID", meta.get("doc_id")),
        ("Version", meta.get("version")),
        ("Effective date", meta.get("effective")),
        ("Last updated", meta.get("updated")),
        ("Owner", meta.get("owner")),
        ("Classification", meta.get("classification")),
    ]
    return [(k, v) for k, v in fields if v]


# --------------------------------------------------------------------------
# PDF (reportlab)
# --------------------------------------------------------------------------


def _pdf_inline(text: str) -> str:
    t = html.escape(text, quote=False)
    t = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", t)
    t = re.sub(r"`(.+?)`", r'<font face="Courier">\1</font>', t)
    return t


def render_pdf(meta: dict, blocks: list, out: Path) -> None:
    from reportlab import rl_config

    rl_config.invariant = 1
    from reportlab.lib import colors
    from reportlab.lib.enums import TA_CENTER
    from reportlab.lib.pagesizes import letter
    from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
    from reportlab.lib.units import inch
    from reportlab.pdfbase.pdfmetrics import stringWidth
    from reportlab.platypus import (
        PageBreak,
        Paragraph,
        SimpleDocTemplate,
        Spacer,
        Table,
        TableStyle,
    )
    from reportlab.platypus.tableofcontents import TableOfContents

    ss = getSampleStyleSheet()
    green = colors.HexColor("#2f5d3a")
    body = ParagraphStyle("FHBody", parent=ss["BodyText"], fontName="Helvetica",
                          fontSize=10, leading=14, spaceAfter=6)
    cell = ParagraphStyle("FHCell", parent=body, fontSize=8.5, leading=11, spaceAfter=0)
    cellh = ParagraphStyle("FHCellH", parent=cell, fontName="Helvetica-Bold",
                           textColor=colors.white)
    h1 = ParagraphStyle("FHH1", parent=ss["Heading1"], fontName="Helvetica-Bold",
                        fontSize=16, leading=20, textColor=green, spaceBefore=6, spaceAfter=8)
    h2 = ParagraphStyle("FHH2", parent=ss["Heading2"], fontName="Helvetica-Bold",
                        fontSize=12.5, leading=16, textColor=green, spaceBefore=8, spaceAfter=4)
    h3 = ParagraphStyle("FHH3", parent=ss["Heading3"], fontName="Helvetica-Bold",
                        fontSize=10.5, leading=14, spaceBefore=6, spaceAfter=3)
    title_st = ParagraphStyle("FHTitle", parent=ss["Title"], fontName="Helvetica-Bold",
                              fontSize=22, leading=27, textColor=green, alignment=TA_CENTER)
    sub_st = ParagraphStyle("FHSub", parent=body, fontSize=12, leading=16, alignment=TA_CENTER)
    meta_st = ParagraphStyle("FHMeta", parent=body, fontSize=9, leading=12,
                             textColor=colors.HexColor("#555555"))
    note_st = ParagraphStyle("FHNote", parent=body, fontSize=9.5, leading=13, spaceAfter=0)
    bullet_st = ParagraphStyle("FHBullet", parent=body, leftIndent=16, bulletIndent=4,
                               spaceAfter=3)

    title = meta["title"]
    doc_id = meta.get("doc_id", "")
    version = meta.get("version", "")
    footer_left = meta.get("footer", "")
    cover = meta.get("cover", "no") == "yes"
    toc_wanted = meta.get("toc", "no") == "yes"

    class FHDoc(SimpleDocTemplate):
        def afterFlowable(self, flowable):
            if toc_wanted and isinstance(flowable, Paragraph) and flowable.style.name == "FHH1":
                self.notify("TOCEntry", (0, flowable.getPlainText(), self.page))

    def on_page(canvas, doc):
        canvas.saveState()
        w, h = letter
        canvas.setFont("Helvetica-Bold", 8)
        canvas.setFillColor(green)
        canvas.drawString(0.9 * inch, h - 0.55 * inch, "FERNHILL INSTRUMENTS")
        canvas.setFont("Helvetica", 8)
        canvas.setFillColor(colors.HexColor("#555555"))
        right = " | ".join(x for x in (title, doc_id, version) if x)
        canvas.drawRightString(w - 0.9 * inch, h - 0.55 * inch, right)
        canvas.setStrokeColor(green)
        canvas.line(0.9 * inch, h - 0.62 * inch, w - 0.9 * inch, h - 0.62 * inch)
        if footer_left:
            canvas.drawString(0.9 * inch, 0.5 * inch, footer_left)
        canvas.drawRightString(w - 0.9 * inch, 0.5 * inch, f"Page {doc.page}")
        canvas.restoreState()

    story: list = []
    if cover:
        story += [Spacer(1, 1.6 * inch), Paragraph(_pdf_inline(title), title_st)]
        if meta.get("subtitle"):
            story += [Spacer(1, 8), Paragraph(_pdf_inline(meta["subtitle"]), sub_st)]
        story.append(Spacer(1, 0.6 * inch))
        for k, v in meta_line(meta):
            story.append(Paragraph(f"<b>{k}:</b> {_pdf_inline(v)}", sub_st))
        story += [Spacer(1, 0.8 * inch),
                  Paragraph(_pdf_inline(COMPANY + " - 410 Alder Street, Portland, OR 97209"), sub_st)]
        story.append(PageBreak())
        if toc_wanted:
            toc = TableOfContents()
            toc.levelStyles = [ParagraphStyle("TOC0", parent=body, fontSize=10.5, leading=16)]
            story += [Paragraph("Contents", ParagraphStyle("FHContents", parent=h1)), toc, PageBreak()]
    else:
        story.append(Paragraph(_pdf_inline(title), ParagraphStyle(
            "FHTitleSmall", parent=title_st, fontSize=18, leading=22, alignment=0)))
        if meta.get("subtitle"):
            story.append(Paragraph(_pdf_inline(meta["subtitle"]), ParagraphStyle(
                "FHSubL", parent=sub_st, alignment=0)))
        ml = meta_line(meta)
        if ml:
            story.append(Paragraph(" &nbsp;|&nbsp; ".join(
                f"<b>{k}:</b> {_pdf_inline(v)}" for k, v in ml), meta_st))
        story.append(Spacer(1, 10))

    avail = letter[0] - 1.8 * inch
    for b in blocks:
        kind = b[0]
        if kind == "pagebreak":
            story.append(PageBreak())
        elif kind == "h":
            story.append(Paragraph(_pdf_inline(b[2]), {1: h1, 2: h2, 3: h3}[b[1]]))
        elif kind == "p":
            story.append(Paragraph(_pdf_inline(b[1]), body))
        elif kind in ("ul", "ol"):
            for idx, item in enumerate(b[1], 1):
                story.append(Paragraph(_pdf_inline(item), bullet_st,
                                       bulletText=(f"{idx}." if kind == "ol" else "\u2022")))
            story.append(Spacer(1, 4))
        elif kind == "note":
            t = Table([[Paragraph(_pdf_inline(b[1]), note_st)]], colWidths=[avail])
            t.setStyle(TableStyle([
                ("BACKGROUND", (0, 0), (-1, -1), colors.HexColor("#eef4ef")),
                ("LINEBEFORE", (0, 0), (0, -1), 3, green),
                ("LEFTPADDING", (0, 0), (-1, -1), 8),
                ("TOPPADDING", (0, 0), (-1, -1), 6),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 6),
            ]))
            story += [t, Spacer(1, 8)]
        elif kind == "table":
            header, rows = b[1], b[2]
            ncol = len(header)
            lens = [max(len(plain(r[c])) if c < len(r) else 0 for r in [header, *rows])
                    for c in range(ncol)]
            lens = [min(max(x, 6), 60) for x in lens]
            # never narrower than the longest single word (+ cell padding)
            minw = []
            for c in range(ncol):
                words = [w for r in [header, *rows] if c < len(r) for w in plain(r[c]).split()]
                minw.append(max([stringWidth(w, "Helvetica-Bold", 8.5) for w in words] or [20]) + 14)
            widths = [avail * x / sum(lens) for x in lens]
            for _ in range(5):
                short = [c for c in range(ncol) if widths[c] < minw[c]]
                if not short:
                    break
                fixed = sum(minw[c] for c in short)
                rest = [c for c in range(ncol) if c not in short]
                rest_len = sum(lens[c] for c in rest) or 1
                for c in short:
                    widths[c] = minw[c]
                for c in rest:
                    widths[c] = (avail - fixed) * lens[c] / rest_len
            data = [[Paragraph(_pdf_inline(c), cellh) for c in header]]
            for r in rows:
                r = r + [""] * (ncol - len(r))
                data.append([Paragraph(_pdf_inline(c), cell) for c in r])
            t = Table(data, colWidths=widths, repeatRows=1)
            t.setStyle(TableStyle([
                ("BACKGROUND", (0, 0), (-1, 0), green),
                ("GRID", (0, 0), (-1, -1), 0.5, colors.HexColor("#9bb0a0")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#f4f7f4")]),
            ]))
            story += [t, Spacer(1, 10)]
    # keep headings with the following flowable
    for idx in range(len(story) - 1):
        f = story[idx]
        if isinstance(f, Paragraph) and f.style.name in ("FHH1", "FHH2", "FHH3"):
            f.keepWithNext = 1

    buf = io.BytesIO()
    doc = FHDoc(
        buf, pagesize=letter, leftMargin=0.9 * inch, rightMargin=0.9 * inch,
        topMargin=0.9 * inch, bottomMargin=0.85 * inch,
        title=title, author=COMPANY, subject=meta.get("subject", title),
        creator="citeline demo/build_corpus.py", producer="ReportLab",
        keywords=meta.get("keywords", ""), invariant=1,
    )
    if toc_wanted:
        doc.multiBuild(story, onFirstPage=on_page, onLaterPages=on_page)
    else:
        doc.build(story, onFirstPage=on_page, onLaterPages=on_page)
    out.write_bytes(buf.getvalue())


# --------------------------------------------------------------------------
# DOCX (python-docx)
# --------------------------------------------------------------------------


def _docx_runs(par, text: str, bold_all: bool = False) -> None:
    for seg in re.split(r"(\*\*.+?\*\*|`.+?`)", text):
        if not seg:
            continue
        if seg.startswith("**") and seg.endswith("**"):
            r = par.add_run(seg[2:-2])
            r.bold = True
        elif seg.startswith("`") and seg.endswith("`"):
            r = par.add_run(seg[1:-1])
            r.font.name = "Consolas"
            if bold_all:
                r.bold = True
        else:
            r = par.add_run(seg)
            if bold_all:
                r.bold = True


def render_docx(meta: dict, blocks: list, out: Path) -> None:
    from docx import Document
    from docx.shared import Pt, RGBColor

    d = Document()
    cp = d.core_properties
    cp.title = meta["title"]
    cp.author = COMPANY
    cp.last_modified_by = meta.get("owner", COMPANY)
    cp.subject = meta.get("subject", "")
    cp.keywords = meta.get("keywords", "")
    cp.category = meta.get("classification", "")
    cp.comments = "Fictional demo document generated for the citeline project."
    cp.created = FIXED_DT
    cp.modified = FIXED_DT
    cp.last_printed = FIXED_DT
    cp.revision = 1

    sec = d.sections[0]
    sec.header.paragraphs[0].text = "Fernhill Instruments  |  " + " | ".join(
        x for x in (meta.get("doc_id"), meta.get("version")) if x)
    sec.footer.paragraphs[0].text = meta.get("footer", COMPANY)

    d.add_heading(meta["title"], level=0)
    if meta.get("subtitle"):
        p = d.add_paragraph()
        r = p.add_run(meta["subtitle"])
        r.italic = True
    ml = meta_line(meta)
    if ml:
        p = d.add_paragraph()
        for i, (k, v) in enumerate(ml):
            if i:
                p.add_run("  |  ")
            r = p.add_run(f"{k}: ")
            r.bold = True
            r2 = p.add_run(v)
            r2.font.size = Pt(9)
            r.font.size = Pt(9)
            r2.font.color.rgb = RGBColor(0x55, 0x55, 0x55)

    for b in blocks:
        kind = b[0]
        if kind == "pagebreak":
            d.add_page_break()
        elif kind == "h":
            h = d.add_heading("", level=b[1])
            _docx_runs(h, plain(b[2]))
        elif kind == "p":
            _docx_runs(d.add_paragraph(), b[1])
        elif kind in ("ul", "ol"):
            style = "List Number" if kind == "ol" else "List Bullet"
            for item in b[1]:
                _docx_runs(d.add_paragraph(style=style), item)
        elif kind == "note":
            _docx_runs(d.add_paragraph(style="Intense Quote"), b[1])
        elif kind == "table":
            header, rows = b[1], b[2]
            t = d.add_table(rows=1 + len(rows), cols=len(header))
            t.style = "Table Grid"
            for c, txt in enumerate(header):
                cellp = t.rows[0].cells[c].paragraphs[0]
                _docx_runs(cellp, txt, bold_all=True)
            for ri, r in enumerate(rows, 1):
                for c in range(len(header)):
                    txt = r[c] if c < len(r) else ""
                    _docx_runs(t.rows[ri].cells[c].paragraphs[0], txt)
            d.add_paragraph()

    buf = io.BytesIO()
    d.save(buf)
    # Re-pack with fixed timestamps so the bytes are reproducible.
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    outbuf = io.BytesIO()
    with zipfile.ZipFile(outbuf, "w", zipfile.ZIP_DEFLATED) as z:
        for info in src.infolist():
            zi = zipfile.ZipInfo(info.filename, date_time=(2025, 4, 1, 9, 0, 0))
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o644 << 16
            z.writestr(zi, src.read(info.filename))
    out.write_bytes(outbuf.getvalue())


# --------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------


def _html_inline(text: str) -> str:
    t = html.escape(text, quote=False)
    t = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", t)
    t = re.sub(r"`(.+?)`", r"<code>\1</code>", t)
    return t


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", plain(text).lower()).strip("-")


PUBLIC_NAV = [("Products", "/products/"), ("Fernhill Hub app", "/app/"),
              ("Plans", "/plans/"), ("Support", "/support/"), ("Store", "/store/"),
              ("For Business", "/business/"), ("Company", "/about/")]
INTRANET_NAV = [("Home", "/"), ("People", "/people/"), ("Policies", "/policies/"),
                ("IT &amp; Security", "/it/"), ("Travel &amp; Expenses", "/travel/"),
                ("Directory", "/directory/"), ("ServiceDesk", "https://help.fernhill.internal/")]

CSS = """body{font-family:Helvetica,Arial,sans-serif;margin:0;color:#1d241f;line-height:1.55}
header.site{background:#2f5d3a;color:#fff;padding:14px 32px;display:flex;justify-content:space-between}
header.site a{color:#fff;text-decoration:none;font-weight:bold}
nav.primary ul{list-style:none;display:flex;gap:22px;margin:0;padding:10px 32px;background:#e8efe9}
nav.primary a{color:#2f5d3a;text-decoration:none}
.breadcrumbs{font-size:13px;color:#666;padding:12px 32px 0}
main{display:flex;gap:40px;padding:0 32px 40px}
article{max-width:820px;flex:3}
aside{flex:1;font-size:14px;border-left:1px solid #dde5de;padding-left:20px;margin-top:24px}
table{border-collapse:collapse;margin:12px 0}
th,td{border:1px solid #b9c7bc;padding:6px 10px;text-align:left;vertical-align:top}
th{background:#2f5d3a;color:#fff}
.note{background:#eef4ef;border-left:4px solid #2f5d3a;padding:8px 14px}
.meta{color:#666;font-size:13px}
footer.site{background:#1d241f;color:#c9d3cb;padding:24px 32px;font-size:13px}
footer.site a{color:#c9d3cb}
#cookie-banner{position:fixed;bottom:0;left:0;right:0;background:#fff;border-top:1px solid #ccc;padding:10px 32px;font-size:13px}"""


def render_html(meta: dict, blocks: list, out: Path) -> None:
    site = meta.get("site", "public")
    title = meta["title"]
    body: list[str] = []
    body.append(f"<h1>{_html_inline(title)}</h1>")
    ml = meta_line(meta)
    if ml:
        body.append('<p class="meta">' + " &middot; ".join(
            f"{k}: {_html_inline(v)}" for k, v in ml) + "</p>")
    if meta.get("subtitle"):
        body.append(f'<p class="lede">{_html_inline(meta["subtitle"])}</p>')
    toc = [b for b in blocks if b[0] == "h" and b[1] == 1]
    if len(toc) >= 4:
        body.append('<nav class="toc" aria-label="On this page"><strong>On this page</strong><ul>')
        body += [f'<li><a href="#{_slug(b[2])}">{_html_inline(b[2])}</a></li>' for b in toc]
        body.append("</ul></nav>")
    section_open = False
    for b in blocks:
        kind = b[0]
        if kind == "pagebreak":
            continue
        if kind == "h":
            # source levels #/##/### map to <h2>/<h3>/<h3> under the page <h1>
            lvl = min(b[1] + 1, 3)
            if b[1] == 1:
                if section_open:
                    body.append("</section>")
                body.append(f'<section id="{_slug(b[2])}">')
                section_open = True
            body.append(f"<h{lvl}>{_html_inline(b[2])}</h{lvl}>")
        elif kind == "p":
            body.append(f"<p>{_html_inline(b[1])}</p>")
        elif kind in ("ul", "ol"):
            tag = kind
            body.append(f"<{tag}>" + "".join(f"<li>{_html_inline(x)}</li>" for x in b[1])
                        + f"</{tag}>")
        elif kind == "note":
            body.append(f'<div class="note" role="note"><p>{_html_inline(b[1])}</p></div>')
        elif kind == "table":
            header, rows = b[1], b[2]
            t = ["<table>", "<thead><tr>" + "".join(
                f'<th scope="col">{_html_inline(c)}</th>' for c in header) + "</tr></thead>",
                "<tbody>"]
            for r in rows:
                t.append("<tr>" + "".join(f"<td>{_html_inline(c)}</td>" for c in r) + "</tr>")
            t.append("</tbody></table>")
            body.append("\n".join(t))
    if section_open:
        body.append("</section>")

    if site == "intranet":
        nav, brand = INTRANET_NAV, "The Grove &middot; Fernhill intranet"
        crumbs = ["The Grove", meta.get("section", "Policies")]
        footer = ("<p>The Grove is Fernhill Instruments' internal site. Content is "
                  "classified Internal unless marked otherwise. Questions? Contact "
                  "People Operations or the IT ServiceDesk (ext. 4357).</p>"
                  '<p><a href="/policies/">All policies</a> &middot; '
                  '<a href="/directory/">Staff directory</a> &middot; '
                  '<a href="https://help.fernhill.internal/">ServiceDesk</a></p>'
                  "<p>&copy; 2025 Fernhill Instruments, Inc.</p>")
        aside = ("<h2>Need help?</h2><p>IT ServiceDesk: ext. 4357 or help.fernhill.internal"
                 "</p><p>People Operations: people@fernhill.example</p>")
        cookie = ""
    else:
        nav, brand = PUBLIC_NAV, "Fernhill"
        crumbs = ["Home", meta.get("section", "Support")]
        footer = ("<div><strong>Fernhill Instruments</strong> &middot; 410 Alder Street, "
                  "Portland, OR 97209</div>"
                  '<p><a href="/about/">About us</a> &middot; <a href="/careers/">Careers</a>'
                  ' &middot; <a href="/privacy/">Privacy</a> &middot; <a href="/terms/">Terms'
                  '</a> &middot; <a href="/accessibility/">Accessibility</a> &middot; '
                  '<a href="/sitemap/">Sitemap</a></p>'
                  "<p>Sign up for the Fernhill newsletter for product news and energy-saving "
                  "tips. You can unsubscribe at any time.</p>"
                  "<p>&copy; 2025 Fernhill Instruments, Inc. All rights reserved. Fernhill, "
                  "the Fernhill leaf logo and Fernhill Hub are trademarks of Fernhill "
                  "Instruments, Inc.</p>")
        aside = ("<h2>Still need help?</h2><p>Chat with us in the Fernhill Hub app or call "
                 "1-800-555-0142.</p><h2>Popular articles</h2><ul>"
                 '<li><a href="/support/factory-reset">Factory reset guide</a></li>'
                 '<li><a href="/support/wifi">Wi-Fi connectivity troubleshooting</a></li>'
                 '<li><a href="/support/c-wire">C-wire and Power Adapter Kit</a></li></ul>')
        cookie = ('<div id="cookie-banner">We use cookies to improve your experience and '
                  'measure site traffic. <button>Accept all</button> '
                  '<button>Manage preferences</button></div>')
    nav_html = "".join(f'<li><a href="{href}">{label}</a></li>' for label, href in nav)
    crumbs_html = " &rsaquo; ".join(crumbs + [_html_inline(title)])
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_html_inline(title)} | Fernhill Instruments</title>
<meta name="description" content="{html.escape(meta.get('description', title))}">
<style>{CSS}</style>
</head>
<body>
<header class="site"><a href="/" class="brand">{brand}</a><span><a href="/search">Search</a> &nbsp; <a href="/account">Sign in</a></span></header>
<nav class="primary" aria-label="Primary"><ul>{nav_html}</ul></nav>
<div class="breadcrumbs">{crumbs_html}</div>
<main>
<article>
{chr(10).join(body)}
</article>
<aside>{aside}</aside>
</main>
<footer class="site">{footer}</footer>
{cookie}
</body>
</html>
"""
    out.write_text(page, encoding="utf-8")


# --------------------------------------------------------------------------
# Markdown / text / CSV
# --------------------------------------------------------------------------


def render_md(meta: dict, blocks: list, out: Path) -> None:
    lines = [f"# {meta['title']}", ""]
    ml = meta_line(meta)
    if ml:
        lines += ["_" + " · ".join(f"{k}: {v}" for k, v in ml) + "_", ""]
    if meta.get("subtitle"):
        lines += [meta["subtitle"], ""]
    for b in blocks:
        kind = b[0]
        if kind == "pagebreak":
            continue
        if kind == "h":
            lines += ["#" * (b[1] + 1) + " " + b[2], ""]
        elif kind == "p":
            lines += [b[1], ""]
        elif kind == "ul":
            lines += [f"- {x}" for x in b[1]] + [""]
        elif kind == "ol":
            lines += [f"{i}. {x}" for i, x in enumerate(b[1], 1)] + [""]
        elif kind == "note":
            lines += [f"> {b[1]}", ""]
        elif kind == "table":
            header, rows = b[1], b[2]
            lines.append("| " + " | ".join(header) + " |")
            lines.append("|" + "|".join("---" for _ in header) + "|")
            lines += ["| " + " | ".join(r) + " |" for r in rows]
            lines.append("")
    out.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")


def _wrap(text: str, width: int = 78, indent: str = "", first: str = "") -> list[str]:
    import textwrap

    return textwrap.wrap(text, width=width, initial_indent=first or indent,
                         subsequent_indent=indent) or [first.rstrip()]


def render_txt(meta: dict, blocks: list, out: Path) -> None:
    title = meta["title"].upper()
    lines = [title, "=" * len(title)]
    for k, v in meta_line(meta):
        lines.append(f"{k}: {v}")
    lines.append("")
    for b in blocks:
        kind = b[0]
        if kind == "pagebreak":
            continue
        if kind == "h":
            t = plain(b[2])
            lines += ([t.upper(), "-" * len(t)] if b[1] == 1 else [t, "~" * len(t)]) + [""]
        elif kind == "p":
            lines += _wrap(plain(b[1])) + [""]
        elif kind in ("ul", "ol"):
            for i, x in enumerate(b[1], 1):
                first = f"  {i}. " if kind == "ol" else "  * "
                lines += _wrap(plain(x), first=first, indent=" " * len(first))
            lines.append("")
        elif kind == "note":
            lines += _wrap("NOTE: " + plain(b[1]), indent="  ", first="  ") + [""]
        elif kind == "table":
            rows = [[plain(c) for c in b[1]]] + [[plain(c) for c in r] for r in b[2]]
            widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
            for ri, r in enumerate(rows):
                lines.append("  ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip())
                if ri == 0:
                    lines.append("  ".join("-" * w for w in widths))
            lines.append("")
    out.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")


def render_csv(meta: dict, blocks: list, out: Path) -> None:
    tables = [b for b in blocks if b[0] == "table"]
    if not tables:
        raise ValueError(f"{out}: CSV output needs a table in the source")
    header, rows = tables[0][1], tables[0][2]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([plain(c) for c in header])
    for r in rows:
        w.writerow([plain(c) for c in r])
    out.write_text(buf.getvalue(), encoding="utf-8")


RENDERERS = {".pdf": render_pdf, ".docx": render_docx, ".html": render_html,
             ".md": render_md, ".txt": render_txt, ".csv": render_csv}


def main(argv: list[str]) -> int:
    check_only = "--check" in argv
    sources = sorted(SOURCE.rglob("*.md"))
    seen: set[str] = set()
    counts: dict[str, int] = {}
    problems = 0
    for src in sources:
        meta, blocks = parse_source(src)
        rel = meta["output"]
        if rel in seen:
            raise ValueError(f"duplicate output {rel}")
        seen.add(rel)
        if not re.fullmatch(r"[a-z0-9-]+(/[a-z0-9-]+)*\.(pdf|docx|html|md|txt|csv)", rel):
            raise ValueError(f"bad output name {rel}")
        ext = Path(rel).suffix
        wc = word_count(blocks)
        flag = ""
        if ext != ".csv" and not 300 <= wc <= 2500:
            flag = "  <-- outside 300-2500 words"
            problems += 1
        print(f"{wc:5d} words  {rel}{flag}")
        counts[ext] = counts.get(ext, 0) + 1
        if check_only:
            continue
        out = CORPUS / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        RENDERERS[ext](meta, blocks, out)
    print("documents per format:", ", ".join(f"{k[1:]}={v}" for k, v in sorted(counts.items())),
          f"(total {sum(counts.values())})")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
