"""A generated corpus of realistic business PDFs, deterministic from a seed, cached on disk.

Each document is one of ten business genres (contract, quarterly review, postmortem, ...) with a
title page, numbered section headings, sub-headings, paragraphs built from templates filled with
varied vocabulary, numbers, names and dates, bullet lists, tables on some pages, and a running
header/footer. Every page's content fits on one A4 page, so a document has exactly the number of
pages asked for. Document ``i`` depends only on (seed, i, pages): a 100-document corpus is the
first 100 files of the 2,000-document one, and reruns reuse the files already generated.
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

#: bump when the generator changes, so cached files are not reused across versions
GENERATOR_VERSION = 2

GENRES: dict[str, list[str]] = {
    "Master Services Agreement": ["Definitions", "Scope of Services", "Service Levels", "Fees and Payment Terms",
                                  "Confidentiality", "Data Protection", "Warranties", "Limitation of Liability",
                                  "Term and Termination", "Governing Law", "Change Control", "Insurance"],
    "Quarterly Business Review": ["Executive Summary", "Revenue by Region", "Customer Retention", "Pipeline",
                                  "Operating Expenses", "Headcount", "Product Milestones", "Risks and Issues",
                                  "Outlook for Next Quarter", "Key Metrics", "Competitive Landscape"],
    "Incident Postmortem": ["Summary", "Timeline", "Customer Impact", "Root Cause", "Detection", "Response",
                            "Contributing Factors", "What Went Well", "Action Items", "Lessons Learned"],
    "Vendor Security Assessment": ["Overview", "Access Control", "Encryption", "Incident Response",
                                   "Business Continuity", "Subprocessors", "Vulnerability Management",
                                   "Physical Security", "Audit Findings", "Remediation Plan"],
    "Annual Budget Plan": ["Planning Assumptions", "Revenue Forecast", "Cost of Goods Sold", "Capital Expenditure",
                           "Departmental Budgets", "Travel and Entertainment", "Contingency Reserve",
                           "Cash Flow", "Approval Process", "Variance Reporting"],
    "Employee Handbook": ["Welcome", "Working Hours", "Leave Policy", "Expenses", "Code of Conduct",
                          "Remote Work", "Performance Reviews", "Benefits", "Health and Safety", "Equipment"],
    "Sales Proposal": ["Introduction", "Understanding of Requirements", "Proposed Solution", "Implementation Plan",
                       "Pricing", "Support and Maintenance", "Case Studies", "Project Team", "Assumptions",
                       "Next Steps"],
    "Board Meeting Minutes": ["Attendance", "Approval of Previous Minutes", "Chief Executive Report",
                              "Financial Report", "Audit Committee", "Strategic Initiatives", "Remuneration",
                              "Any Other Business", "Resolutions", "Date of Next Meeting"],
    "Supplier Audit Report": ["Audit Scope", "Quality Management", "Production Controls", "Traceability",
                              "Nonconformities", "Corrective Actions", "Environmental Compliance",
                              "Labour Practices", "Scorecard", "Conclusion"],
    "Product Requirements Document": ["Background", "Goals", "Non-Goals", "User Personas", "Functional Requirements",
                                      "Performance Requirements", "Security Requirements", "Rollout Plan",
                                      "Open Questions", "Success Metrics", "Dependencies"],
}

SUBHEADINGS = ["Background", "Current Status", "Responsibilities", "Exceptions", "Reporting", "Escalation",
               "Review Cadence", "Evidence", "Approvals", "Costs", "Timeline", "Owners", "Scope", "Notes",
               "Recommendations", "Findings", "Measurement", "Obligations", "Controls", "Dependencies"]

SYL = ["nor", "vex", "tal", "bri", "cor", "dan", "el", "fen", "gra", "hal", "ix", "jor", "kel", "lum", "mar",
       "nex", "or", "pax", "quin", "ros", "sol", "tor", "ul", "ver", "wen", "zel", "ast", "bel", "cyn", "dro"]
COMPANY_SUFFIX = ["Logistics", "Holdings", "Systems", "Analytics", "Manufacturing", "Health", "Energy", "Foods",
                  "Partners", "Technologies", "Capital", "Retail", "Pharma", "Networks", "Components", "Labs"]
FIRST = ["Amelia", "Benedikt", "Chiara", "Dmitri", "Esther", "Farid", "Greta", "Hiroshi", "Ingrid", "Jamal",
         "Katarzyna", "Lucas", "Mei", "Nadia", "Oscar", "Priya", "Quentin", "Rosa", "Sven", "Tomasz", "Uma",
         "Victor", "Wanjiru", "Xavier", "Yusuf", "Zofia", "Aisha", "Bruno", "Carmen", "Diego"]
LAST = ["Okafor", "Lindqvist", "Rossi", "Petrov", "Nakamura", "Haddad", "Schneider", "Fernandes", "Novak",
        "Mensah", "Kowalski", "Dubois", "Chen", "Gupta", "Oyelaran", "Moreau", "Jensen", "Silva", "Tanaka",
        "Brennan", "Ahmed", "Castillo", "Ivanova", "Keller", "Larsen", "Murphy", "Ndlovu", "Ortiz", "Park"]
DEPARTMENTS = ["Finance", "Procurement", "Legal", "Customer Success", "Engineering", "Operations", "Sales",
               "Marketing", "Human Resources", "Information Security", "Facilities", "Quality Assurance",
               "Supply Chain", "Internal Audit", "Product Management", "Treasury", "Data Platform"]
REGIONS = ["North America", "Western Europe", "Nordics", "DACH", "Iberia", "Benelux", "Middle East",
           "Southeast Asia", "Japan", "Australia and New Zealand", "Latin America", "Central Europe",
           "United Kingdom", "India", "Eastern Africa"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
PRODUCTS = ["platform", "subscription", "warehouse management module", "payroll service", "analytics suite",
            "field service app", "billing engine", "customer portal", "sensor gateway", "replenishment service",
            "identity service", "reporting dashboard", "mobile checkout", "fleet tracker", "document archive"]
NOUNS = ["invoice", "purchase order", "service credit", "renewal", "forecast", "backlog", "audit trail",
         "escalation", "milestone", "deliverable", "variance", "accrual", "shipment", "work order", "ticket",
         "contract amendment", "budget line", "risk register", "access review", "change request", "payment run",
         "capacity plan", "retention cohort", "price list", "statement of work", "onboarding checklist",
         "inventory count", "credit note", "supplier scorecard", "training record", "maintenance window"]
ADJ = ["material", "recurring", "unplanned", "critical", "quarterly", "annual", "approved", "outstanding",
       "disputed", "overdue", "provisional", "consolidated", "regional", "contractual", "mandatory", "optional",
       "preliminary", "audited", "delayed", "accelerated", "strategic", "operational", "non-standard"]
VERBS = ["reviewed", "approved", "escalated", "reconciled", "deferred", "renegotiated", "documented", "audited",
         "flagged", "consolidated", "postponed", "validated", "rejected", "prioritised", "migrated", "tracked"]
METRICS = ["gross margin", "net revenue retention", "days sales outstanding", "mean time to recovery",
           "on-time delivery rate", "first-contact resolution", "churn", "utilisation", "defect rate",
           "average contract value", "inventory turnover", "employee attrition", "cost per ticket",
           "uptime", "conversion rate", "lead time", "scrap rate", "customer satisfaction score"]

TEMPLATES = [
    "The {dept} team {verb} the {adj} {noun} for {region} on {date}, and {person} will confirm the outcome by {date2}.",
    "{company} shall deliver the {product} within {n} business days of receiving a valid {noun}.",
    "In {quarter}, {metric} in {region} moved from {p1}% to {p2}%, driven mainly by the {adj} {noun} backlog.",
    "Any {adj} {noun} above {money} requires written approval from the head of {dept} before it is {verb}.",
    "{person} noted that the {product} rollout in {region} is {n} weeks behind plan because of {adj} {noun}s.",
    "Fees are invoiced monthly in arrears; invoices are payable within {n} days and late amounts accrue {p1}% interest.",
    "The customer may terminate for convenience with {n} days' written notice, subject to the {adj} {noun} clause.",
    "Total spend on the {product} reached {money}, which is {p1}% over the approved budget line for {dept}.",
    "At {time} UTC the {product} began returning errors; {person} was paged at {time2} and {verb} the {noun}.",
    "Each {noun} must be retained for {n} years and made available to {dept} on reasonable request.",
    "{company} will maintain {metric} of at least {p2}% measured over each calendar month, excluding maintenance windows.",
    "The committee {verb} the proposal from {person} to move the {adj} {noun} process to {dept}.",
    "Headcount in {dept} grew by {n} to {n2} full-time employees, while contractor spend fell to {money}.",
    "We recommend that {dept} reviews every {adj} {noun} older than {n} days and reports exceptions to {person}.",
    "Supplier {company} scored {n} out of 100 on the {adj} audit, with {n3} minor and no major nonconformities.",
    "Credits for missed service levels are capped at {p1}% of the monthly fee for the affected {product}.",
    "Access to production systems is {verb} every {n} days; {n3} stale accounts were removed in {month}.",
    "The forecast assumes {metric} of {p2}% and an exchange rate of {fx} for {region}.",
    "{person} and {person2} agreed to publish a revised {noun} for the {product} by {date}.",
    "Employees may carry over up to {n3} days of unused leave into the next year with approval from {dept}.",
    "Expenses above {money} must be pre-approved and submitted with an itemised receipt within {n} days.",
    "The root cause was a {adj} configuration change to the {product} that was not {verb} before deployment.",
    "Pricing for {region} is {money} per seat per year, with a {p1}% discount for commitments over {n2} seats.",
    "Open question: should the {adj} {noun} for {company} be handled by {dept} or by the {product} team?",
    "The audit sampled {n2} records and found {n3} where the {noun} was not {verb} within the agreed period.",
    "{company} processes personal data only on documented instructions and notifies {dept} of breaches within {n} hours.",
    "Backlog for the {product} stands at {n2} items, of which {n3} are classified as {adj}.",
    "Cash at the end of {month} was {money}, covering {n} months of operating expenses at the current burn rate.",
    "The {dept} lead, {person}, owns the action to reduce {metric} below {p1}% by the end of {quarter}.",
    "Neither party is liable for indirect losses; total liability is limited to fees paid in the preceding {n} months.",
]

BULLETS = [
    "Confirm the {adj} {noun} with {dept} by {date}",
    "Update the {product} runbook and share it with {person}",
    "Reconcile {noun}s for {region} against the ledger",
    "Report {metric} weekly until it returns to {p2}%",
    "Close {n3} open {noun}s older than {n} days",
    "Renew the {company} contract before {date}",
    "Schedule a {adj} review of the {product} with {person2}",
]


def _company(r: random.Random) -> str:
    return (r.choice(SYL) + r.choice(SYL)).capitalize() + " " + r.choice(COMPANY_SUFFIX)


def _person(r: random.Random) -> str:
    return f"{r.choice(FIRST)} {r.choice(LAST)}"


def _fill(r: random.Random, template: str, company: str) -> str:
    year = r.randint(2019, 2026)
    slots = {
        "dept": r.choice(DEPARTMENTS), "verb": r.choice(VERBS), "adj": r.choice(ADJ), "noun": r.choice(NOUNS),
        "region": r.choice(REGIONS), "person": _person(r), "person2": _person(r), "product": r.choice(PRODUCTS),
        "metric": r.choice(METRICS), "company": company if r.random() < 0.6 else _company(r),
        "date": f"{r.randint(1, 28)} {r.choice(MONTHS)} {year}", "date2": f"{r.randint(1, 28)} {r.choice(MONTHS)} {year}",
        "month": r.choice(MONTHS), "quarter": f"Q{r.randint(1, 4)} {year}", "n": r.randint(2, 90),
        "n2": r.randint(20, 4000), "n3": r.randint(1, 19), "p1": round(r.uniform(0.5, 35), 1),
        "p2": round(r.uniform(60, 99.9), 1), "money": f"{r.choice(['EUR', 'USD', 'GBP'])} {r.randint(2, 900) * 1000:,}",
        "time": f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}", "time2": f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}",
        "fx": f"{r.uniform(0.6, 1.6):.3f}",
    }
    return template.format(**slots)


def _paragraph(r: random.Random, company: str, sentences: int) -> str:
    return " ".join(_fill(r, r.choice(TEMPLATES), company) for _ in range(sentences))


def _table(r: random.Random) -> list[list[str]]:
    kind = r.randrange(3)
    if kind == 0:
        rows = [["Region", "Q1", "Q2", "Q3", "Q4", "Change"]]
        for region in r.sample(REGIONS, r.randint(4, 7)):
            q = [r.randint(200, 9000) for _ in range(4)]
            rows.append([region, *[f"{v:,}" for v in q], f"{(q[3] - q[0]) / q[0] * 100:+.1f}%"])
    elif kind == 1:
        rows = [["Action", "Owner", "Due date", "Status"]]
        for _ in range(r.randint(4, 7)):
            rows.append([f"{r.choice(VERBS).capitalize()} {r.choice(NOUNS)}", _person(r),
                         f"{r.randint(1, 28)} {r.choice(MONTHS)[:3]} {r.randint(2020, 2026)}",
                         r.choice(["Open", "In progress", "Done", "Blocked", "Deferred"])])
    else:
        rows = [["Item", "Description", "Qty", "Unit price", "Total"]]
        for i in range(r.randint(4, 7)):
            qty, price = r.randint(1, 500), r.randint(5, 4000)
            rows.append([f"{r.choice(SYL).upper()}-{r.randint(100, 999)}", r.choice(PRODUCTS).capitalize(),
                         str(qty), f"{price:,}.00", f"{qty * price:,}.00"])
    return rows


def _story(r: random.Random, pages: int):
    """Flowables for one document; each page ends with a PageBreak and fits on one page."""
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import KeepTogether, PageBreak, Paragraph, Spacer, Table, TableStyle

    styles = getSampleStyleSheet()
    genre = r.choice(list(GENRES))
    company = _company(r)
    title = f"{company} {genre}"
    sections = GENRES[genre][:]
    r.shuffle(sections)
    story = [Paragraph(title, styles["Title"]),
             Paragraph(f"Prepared by {_person(r)}, {r.choice(DEPARTMENTS)} &middot; {r.choice(MONTHS)} "
                       f"{r.randint(2019, 2026)} &middot; Reference {r.choice(SYL).upper()}-{r.randint(1000, 9999)}",
                       styles["Italic"]),
             Spacer(1, 12)]
    for p in range(pages):
        sec = sections[p % len(sections)]
        story.append(Paragraph(f"{p + 1}. {sec}", styles["Heading2"]))
        story.append(Paragraph(_paragraph(r, company, r.randint(3, 6)), styles["Normal"]))
        if r.random() < 0.5:
            story.append(Paragraph(f"{p + 1}.1 {r.choice(SUBHEADINGS)}", styles["Heading3"]))
        story.append(Paragraph(_paragraph(r, company, r.randint(3, 5)), styles["Normal"]))
        extra = r.random()
        if extra < 0.35:
            tbl = Table(_table(r))
            tbl.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.4, "grey"), ("FONTSIZE", (0, 0), (-1, -1), 8),
                                     ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold")]))
            story += [Spacer(1, 6), KeepTogether(tbl), Spacer(1, 6)]
        elif extra < 0.6:
            for _ in range(r.randint(3, 5)):
                story.append(Paragraph("\u2022 " + _fill(r, r.choice(BULLETS), company), styles["Normal"]))
        story.append(Paragraph(_paragraph(r, company, r.randint(2, 4)), styles["Normal"]))
        if p < pages - 1:
            story.append(PageBreak())
    return title, company, story


def make_business_pdf(path: Path, seed: str, pages: int) -> Path:
    """Write one document of exactly ``pages`` pages (atomically: a killed run leaves no half file)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.platypus import SimpleDocTemplate

    r = random.Random(seed)
    title, company, story = _story(r, pages)

    def decorate(canvas, doc) -> None:
        canvas.saveState()
        canvas.setFont("Helvetica", 7)
        canvas.drawString(72, A4[1] - 40, f"{company} \u2014 Confidential")
        canvas.drawRightString(A4[0] - 72, 30, f"Page {doc.page} of {pages}")
        canvas.restoreState()

    tmp = path.with_suffix(".tmp")
    doc = SimpleDocTemplate(str(tmp), pagesize=A4, title=title, author=company, invariant=1)
    doc.build(story, onFirstPage=decorate, onLaterPages=decorate)
    os.replace(tmp, path)
    return path


def _make_one(args: tuple[str, str, int]) -> str:
    path, seed, pages = args
    make_business_pdf(Path(path), seed, pages)
    return path


def corpus_dir(root: Path, seed: int, pages: int) -> Path:
    return root / f"gen-v{GENERATOR_VERSION}-seed{seed}-{pages}p"


def generate_corpus(root: Path, n: int, pages: int, seed: int, workers: int | None = None,
                    on_progress=None) -> tuple[list[Path], int]:
    """Paths of the first ``n`` documents, generating the missing ones. Returns (paths, generated)."""
    folder = corpus_dir(root, seed, pages)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"doc-{i:05d}.pdf" for i in range(n)]
    todo = [(str(p), f"{seed}-{i}", pages) for i, p in enumerate(paths) if not p.is_file()]
    if todo:
        with ProcessPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
            for done, _ in enumerate(pool.map(_make_one, todo, chunksize=8), 1):
                if on_progress:
                    on_progress(done, len(todo))
    return paths, len(todo)


def generate_big(root: Path, pages: int, seed: int) -> tuple[Path, bool]:
    """One long document (the single-file memory test). Returns (path, generated)."""
    path = root / f"big-v{GENERATOR_VERSION}-seed{seed}-{pages}p.pdf"
    if path.is_file():
        return path, False
    root.mkdir(parents=True, exist_ok=True)
    make_business_pdf(path, f"{seed}-big", pages)
    return path, True


def page_count(paths: Sequence[Path]) -> int:
    import pypdfium2 as pdfium

    total = 0
    for p in paths:
        doc = pdfium.PdfDocument(str(p))
        total += len(doc)
        doc.close()
    return total
