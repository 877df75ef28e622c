#!/usr/bin/env python3
"""Check demo/eval.jsonl against the rendered corpus in demo/corpus/.

For every answerable question, each number in the reference answer and each
key phrase listed in KEY_PHRASES below must occur in the extracted text of the
first cited source (document + page); any further cited sources (other places
that also answer the question) must contain at least part of that evidence. Text is extracted the way a simple
ingestion pipeline would: pypdfium2 per page for PDFs, python-docx paragraphs
and tables for DOCX, visible text for HTML, raw text for MD/TXT/CSV.

For should_decline questions, the answer must be null, sources empty, and the
"trap" strings in ABSENT must not occur anywhere in the corpus.

Usage:
    python demo/check_eval.py            # check, exit 1 on any failure
    python demo/check_eval.py --suggest  # also list the pages where each
                                         # question's evidence occurs
"""

from __future__ import annotations

import json
import re
import sys
import unicodedata
from functools import lru_cache
from html.parser import HTMLParser
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
EVAL = HERE / "eval.jsonl"

MIN_QUESTIONS = 45
MIN_DECLINE = 12

# Key phrases (besides the numbers, which are extracted automatically) that
# must appear both in the reference answer and on the cited page.
KEY_PHRASES: dict[str, list[str]] = {
    "q001": ["15th", "last business day"],
    "q002": ["6.67 hours"],
    "q003": ["March 31", "carry over"],
    "q004": ["16 weeks", "fully paid", "introductory period"],
    "q005": ["Margaret Okafor", "Tomasz Lind", "Portland"],
    "q006": ["$3,000"],
    "q007": ["gift cards", "$75"],
    "q008": ["1-800-555-0199", "ClearVoice", "anonymous"],
    "q009": ["5 business days"],
    "q010": ["forklift certification", "every 3 years"],
    "q011": ["0.5 °F", "0.3 °C"],
    "q012": ["18 to 22 AWG", "solid or stranded"],
    "q013": ["up to 8", "RS1"],
    "q014": ["62 °F", "82 °F"],
    "q015": ["90 minutes", "Smart Recovery"],
    "q016": ["Eco mode", "energy-saving hold"],
    "q017": ["3 °F", "minimum deadband"],
    "q018": ["5 minutes", "short cycling"],
    "q019": ["flash memory", "24 VAC"],
    "q020": ["trim plate", "RS1", "Power Adapter Kit", "wire labels", "quick start card"],
    "q021": ["4 hours", "15 events"],
    "q022": ["O/B", "cooling"],
    "q023": ["$129", "$79"],
    "q024": ["2 minutes"],
    "q025": ["R, C, G, Y1, O/B, W2/AUX"],
    "q026": ["1,200-1,999"],
    "q027": ["40 ppm + 3% of reading", "NDIR"],
    "q028": ["carbon monoxide", "radon"],
    "q029": ["Calibrate now", "10 minutes"],
    "q030": ["breathing height", "0.9 to 1.8 m"],
    "q031": ["Y2", "T5 Pro"],
    "q032": ["up to 2"],
    "q033": ["15 minutes per hour", "fixed"],
    "q034": ["$275"],
    "q035": ["$47", "$90"],
    "q036": ["premium economy", "6 hours or more"],
    "q037": ["$0.70 per mile", "45p per mile"],
    "q038": ["21 days"],
    "q039": ["manager and your director"],
    "q040": ["$120 per person", "including tax and tip"],
    "q041": ["30 days", "Ledgerly", "90 days", "CFO approval"],
    "q042": ["2 weeks", "3 business days"],
    "q043": ["5 years", "4-week paid sabbatical"],
    "q044": ["November 15", "December 15", "80%"],
    "q045": ["$1,700", "$3,400"],
    "q046": ["$1,500", "$750"],
    "q047": ["8 sessions per issue", "MindBridge"],
    "q048": ["first 4%", "vest immediately"],
    "q049": ["1 hour", "every 4 hours"],
    "q050": ["72 hours"],
    "q051": ["5 business days", "SEV1 and SEV2"],
    "q052": ["Restricted", "device telemetry linked to an account"],
    "q053": ["4 hours"],
    "q054": ["18 months", "7 years"],
    "q055": ["USB storage devices are blocked", "encrypted"],
    "q056": ["20 characters"],
    "q057": ["SMS codes", "not accepted", "FIDO2"],
    "q058": ["failed sign-in attempts", "30 minutes"],
    "q059": ["MacBook Pro 14-inch", "M3 Pro", "3 years"],
    "q060": ["72 hours", "14 days"],
    "q061": ["20 working days", "30 days"],
    "q062": ["Tuesday", "Thursday"],
    "q063": ["$250 per month", "coworking"],
    "q064": ["7 days"],
    "q065": ["never be entered into any AI tool"],
    "q066": ["every other Wednesday"],
    "q067": ["November 28", "Day after Thanksgiving"],
    "q068": ["December 26, 29, 30 and 31"],
    "q069": ["9:00 a.m. to 3:00 p.m."],
    "q070": ["FH-T5P-SLV-R", "179.00"],
    "q071": ["FH-AQ1-STD", "19.00"],
    "q072": ["$99", "$9.99"],
    "q073": ["14 days", "end of the term"],
    "q074": ["25 devices", "$2.50 per device per month"],
    "q075": ["12% on heating", "15% on cooling", "41,000 homes"],
    "q076": ["local automations", "Matter bridge"],
    "q077": ["up to 6"],
    "q078": ["No internet connection", "local automations keep running"],
    "q079": ["Zigbee devices", "Thread devices"],
    "q080": ["C-wire", "Power Adapter Kit"],
    "q081": ["condensate", "float switch", "cooling is turned off"],
    "q082": ["2-wire boiler systems", "R, G, Y and W"],
    "q083": ["5 seconds", "blinks blue"],
    "q084": ["cloud"],
    "q085": ["$1,500 - $5,000"],
    "q086": ["90 days"],
    "q087": ["45 days of delivery"],
    "q088": ["10% restocking fee", "Premier"],
    "q089": ["1 year", "2 years"],
    "q090": ["21 days", "list price"],
    "q091": ["$100"],
    "q092": ["60 days", "50%"],
    "q093": ["circuit breaker", "Safety", "Casebook", "advance replacement"],
    "q094": ["180 days"],
    "q095": ["90 days", "30 days"],
    "q096": ["4.2.0", "November 12, 2024"],
    "q097": ["iOS 16", "Android 11", "6.3.0"],
    "q098": ["2.4 GHz only"],
    "q099": ["TCP port 443", "TCP port 8883", "UDP port 123"],
    "q100": ["automatic baseline calibration", "7-day", "10 minutes"],
    "q101": ["CR2032", "2 years"],
    "q102": ["January 31"],
    "q103": ["E08", "Wi-Fi password"],
    "q104": ["FH-PAK-1", "$24"],
}

# Strings that must NOT occur anywhere in the corpus for should_decline
# questions (they guard against the corpus accidentally answering them).
ABSENT: dict[str, list[str]] = {
    "q201": ["T7"],
    "q202": ["AQ-2"],
    "q203": [],  # see ABSENT_IN
    "q204": ["days of annual leave"],
    "q205": ["E21"],
    "q206": ["3.9.2"],
    "q207": ["CAD", "C$", "Canadian dollar"],
    "q208": ["Chief Financial Officer"],
    "q209": ["revenue"],
    "q210": ["dog", "pets allowed"],
    "q211": ["bracket"],
    "q212": ["Wi-Fi range"],
    "q213": [],  # see ABSENT_IN
    "q214": ["third-party Matter", "Matter controller"],
    "q215": ["apartment rate", "per night for the apartment"],
    "q216": ["on-site visit", "technician visit"],
}
# Trap strings that must not occur in specific documents (the topic is
# mentioned elsewhere in the corpus, but not where it would answer the question).
ABSENT_IN: dict[str, tuple[list[str], list[str]]] = {
    # T3 wire gauge: only the T5 Pro documents state a gauge.
    "q203": (["manuals/t3-user-guide.pdf", "manuals/t3-installation-guide.docx"], ["AWG", "gauge"]),
    # First-generation Hub: only mentioned in the app release notes, no warranty given.
    "q213": (["support/warranty-and-returns-policy.pdf", "products/price-list-2025.csv",
              "products/pricing-and-plans.html"], ["HUB1", "first-generation", "1st gen"]),
}


# --------------------------------------------------------------------------
# Text extraction
# --------------------------------------------------------------------------


class _VisibleText(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


@lru_cache(maxsize=None)
def pages_of(rel: str) -> tuple[str, ...]:
    """Return the text of each page (a single 'page' for non-PDF formats)."""
    path = CORPUS / rel
    ext = path.suffix.lower()
    if ext == ".pdf":
        import pypdfium2 as pdfium

        doc = pdfium.PdfDocument(str(path))
        try:
            out = []
            for i in range(len(doc)):
                page = doc[i]
                tp = page.get_textpage()
                out.append(tp.get_text_range())
                tp.close()
                page.close()
            return tuple(out)
        finally:
            doc.close()
    if ext == ".docx":
        import docx

        d = docx.Document(str(path))
        parts = [p.text for p in d.paragraphs]
        for t in d.tables:
            for row in t.rows:
                parts.append(" | ".join(c.text for c in row.cells))
        return ("\n".join(parts),)
    if ext in (".html", ".htm"):
        parser = _VisibleText()
        parser.feed(path.read_text(encoding="utf-8"))
        return (" ".join(parser.parts),)
    if ext == ".csv":
        import csv

        with path.open(encoding="utf-8", newline="") as f:
            return ("\n".join(" | ".join(row) for row in csv.reader(f)),)
    return (path.read_text(encoding="utf-8"),)


_TRANS = str.maketrans({
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-",
    "\u2212": "-", "\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"',
    "\u00a0": " ", "\u00b1": "+/-",
})


def norm(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).translate(_TRANS)
    text = text.replace("**", "").replace("`", "")
    return re.sub(r"\s+", " ", text).strip().lower()


_NUM = re.compile(r"(?<![A-Za-z0-9])\d+(?:[.,:]\d+)*(?![A-Za-z0-9])")


def numbers_in(answer: str) -> list[str]:
    return sorted(set(_NUM.findall(unicodedata.normalize("NFKC", answer))))


def has_number(num: str, text: str) -> bool:
    return re.search(rf"(?<![\d.,]){re.escape(num)}(?!\d|[.,]\d)", text) is not None


# --------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------


def load() -> list[dict]:
    rows = []
    for n, line in enumerate(EVAL.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                sys.exit(f"eval.jsonl line {n}: invalid JSON: {e}")
    return rows


def all_corpus_text() -> str:
    files = sorted(p for p in CORPUS.rglob("*") if p.is_file())
    return norm(" ".join(" ".join(pages_of(str(p.relative_to(CORPUS)))) for p in files))


def evidence(q: dict) -> list[str]:
    return numbers_in(q["answer"]) + KEY_PHRASES.get(q["id"], [])


def suggest(q: dict) -> str:
    """List every (document, page) in the corpus that contains all evidence."""
    ev = evidence(q)
    hits = []
    for p in sorted(CORPUS.rglob("*")):
        if not p.is_file():
            continue
        rel = str(p.relative_to(CORPUS))
        for i, page in enumerate(pages_of(rel), 1):
            t = norm(page)
            if all(has_number(e, t) if _NUM.fullmatch(e) else norm(e) in t for e in ev):
                hits.append(f"{rel}:{i}")
    return ", ".join(hits) or "(no single page contains all evidence)"


def main(argv: list[str]) -> int:
    do_suggest = "--suggest" in argv
    rows = load()
    failures: list[str] = []
    ids: set[str] = set()
    required = {"id", "question", "answer", "sources", "should_decline", "tags"}
    n_decline = 0
    corpus_text = None

    for q in rows:
        qid = q.get("id", "?")
        missing = required - q.keys()
        if missing:
            failures.append(f"{qid}: missing fields {sorted(missing)}")
            continue
        if qid in ids:
            failures.append(f"{qid}: duplicate id")
        ids.add(qid)
        if not isinstance(q["tags"], list) or not q["tags"]:
            failures.append(f"{qid}: tags must be a non-empty list")

        if q["should_decline"]:
            n_decline += 1
            if q["answer"] is not None or q["sources"]:
                failures.append(f"{qid}: should_decline requires answer null and sources []")
            if corpus_text is None:
                corpus_text = all_corpus_text()
            for s in ABSENT.get(qid, []):
                if re.search(rf"(?<![a-z0-9]){re.escape(norm(s))}(?![a-z0-9])", corpus_text):
                    failures.append(f"{qid}: trap string {s!r} occurs in the corpus")
            files, traps = ABSENT_IN.get(qid, ([], []))
            for rel in files:
                doc_text = norm(" ".join(pages_of(rel)))
                for t in traps:
                    if norm(t) in doc_text:
                        failures.append(f"{qid}: trap string {t!r} occurs in {rel}")
            continue

        if not q["answer"] or not q["sources"]:
            failures.append(f"{qid}: answerable question needs an answer and sources")
            continue
        texts = []
        bad_source = False
        for src in q["sources"]:
            rel, page = src.get("document"), src.get("page")
            path = CORPUS / str(rel)
            if not path.is_file():
                failures.append(f"{qid}: document not found: {rel}")
                bad_source = True
                continue
            pages = pages_of(rel)
            if not isinstance(page, int) or not 1 <= page <= len(pages):
                failures.append(f"{qid}: {rel} has no page {page} ({len(pages)} pages)")
                bad_source = True
                continue
            if path.suffix != ".pdf" and page != 1:
                failures.append(f"{qid}: non-PDF source {rel} must use page 1")
            texts.append(norm(pages[page - 1]))
        if bad_source or not texts:
            continue
        primary, extra = texts[0], texts[1:]
        ans = norm(q["answer"])
        phrases = KEY_PHRASES.get(qid, [])
        nums = numbers_in(q["answer"])
        if not phrases and not nums:
            failures.append(f"{qid}: nothing to verify (add KEY_PHRASES)")
        for ph in phrases:
            if norm(ph) not in ans:
                failures.append(f"{qid}: key phrase {ph!r} is not part of the answer")
        ev = [(n, True) for n in nums] + [(norm(ph), False) for ph in phrases]

        def found(item, text):
            val, is_num = item
            return has_number(val, text) if is_num else val in text

        # The first source must contain every number and key phrase ...
        for item in ev:
            if not found(item, primary):
                kind = "number" if item[1] else "key phrase"
                failures.append(f"{qid}: {kind} {item[0]!r} not found on "
                                f"{q['sources'][0]['document']} page {q['sources'][0]['page']}")
        # ... and every additional source must support at least part of it.
        for k, text in enumerate(extra, 1):
            if ev and not any(found(item, text) for item in ev):
                src = q["sources"][k]
                failures.append(f"{qid}: extra source {src['document']} page {src['page']} "
                                f"contains none of the evidence")
        if do_suggest:
            print(f"{qid}: cited {[(s['document'], s['page']) for s in q['sources']]}"
                  f"\n      evidence found at: {suggest(q)}")

    n = len(rows)
    if n < MIN_QUESTIONS:
        failures.append(f"only {n} questions (need at least {MIN_QUESTIONS})")
    if n_decline < MIN_DECLINE:
        failures.append(f"only {n_decline} should_decline questions (need {MIN_DECLINE})")
    stale = set(KEY_PHRASES) - ids
    if stale:
        failures.append(f"KEY_PHRASES has ids not in eval.jsonl: {sorted(stale)}")

    for f in failures:
        print("FAIL", f)
    print(f"{n} questions ({n - n_decline} answerable, {n_decline} should_decline): "
          f"{'OK' if not failures else f'{len(failures)} failure(s)'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
