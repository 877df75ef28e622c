"""Person names that spaCy's small model misses, found by rules.

A known first name (``guard/data/first_names.txt``, written for the project) with the capitalised
surname after it, honorifics, speaker labels and vocatives at the start of a line, introductions
("my name is …", also in lower case), other mentions of a found full name, and the other members of
"A, B and C" when one is a person; and by position: a middle initial ("Faina D. Yefremova"), the head
line of a contact block, the answer to "what's the name …?", a list of founders or authors. One-word
tags right after a place preposition ("flew to Coles"), inside a place ("São Tiago") or in a firm's
"Hawkins, Richardson and Santana" are dropped. :mod:`citeline.guard.pii` runs these on spaCy's output.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources


@dataclass(frozen=True, slots=True)
class PiiSpan:
    """One find in a text. It lives here, not in pii.py, so that pii.py can import this module
    without a cycle; callers import it from :mod:`citeline.guard.pii`."""

    entity: str
    start: int
    end: int
    text: str
    source: str  # "checksum" | "regex" | "ner" | "rule"


# street types: they end an address (pii.py), and a find that ends in one is not a person's name
STREET_TYPES = (r"Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|Square|Sq"
                r"|Terrace|Ter|Parkway|Pkwy|Highway|Hwy|Circle|Cir|Crescent|Close|Trail|Plaza|Alley|Row|Walk"
                r"|Bypass|Causeway|Courts|Crossing|Expressway|Freeway|Heights|Junction|Loop|Mews|Motorway|Pike"
                r"|Radial|Rapids|Ridge|Route|Turnpike|Union|Viaduct|Isle|Prairie|Estates|Gardens|Grove|Hollow"
                r"|Manor|Meadows|Orchard|Overpass|Underpass|Vista|Fort|Summit|Inlet|Landing|Spur|Wharf|Quay")


_NAME_OK = re.compile(r"^[A-Z][\w'.-]*(?:\s+[A-Za-z][\w'.-]*){0,4}$")
_NOT_A_NAME = re.compile(rf"\b(?:{STREET_TYPES}|Pass|Squares?|Orchestra|Band|Corporation|Corp|Inc|LLC|Ltd|GmbH|Group|"
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


def mentions_first_name(text: str) -> bool:
    """Whether any word of ``text`` is a known first name, in any case."""
    return any(w.lower() in FIRST_NAMES for w in _TOKEN.findall(text))


def ner_person(text: str, ent_text: str, ent_start: int) -> PiiSpan | None:
    """A spaCy PERSON entity trimmed to the name in it, or None when it is not a person's name."""
    t = ent_text.split("\n", 1)[0].strip(" '\"’,.:;()")  # a name does not run over a line break
    while " " in t and t.split(" ", 1)[0] in _LEADING_VERBS:  # "Call Margaret Okafor"
        t = t.split(" ", 1)[1]
    if not t or any(c.isdigit() for c in t) or not _NAME_OK.match(t) or _NOT_A_NAME.search(t):
        return None
    start = ent_start + ent_text.find(t)
    if (not any(w.lower() in FIRST_NAMES for w in t.split()) and _PLACE_PREP.search(text[:start])
            and not _NAME_CUES.search(text[:start])):
        return None  # "flew to Coles", "arrived at Ettelgem": a place the model took for a person
    return PiiSpan("PERSON", start, start + len(t), t, "ner")


def add_rule_people(text: str, spans: list[PiiSpan]) -> list[PiiSpan]:
    """spaCy's ``spans`` of ``text`` plus the names the rules find, less the finds that sit in a
    firm name or a place name."""
    spans = list(spans)
    for m in _INTRO.finditer(text):  # "my name is Siiri": introductions the small model misses
        name = m.group(1)
        if not _NOT_A_NAME.search(name) and name.split()[0] not in _INTRO_STOP:
            spans.append(PiiSpan("PERSON", m.start(1), m.end(1), name, "ner"))
    ner = [(p.start, p.end) for p in spans if p.entity == "PERSON"]
    rules = _rule_people(text)
    strong = rules + [(a, b) for a, b in ner
                      if 2 <= len(text[a:b].split()) <= 3 and text[a:b].split()[0].lower() in FIRST_NAMES]
    known = set(ner)
    for a, b in _expand_people(text, ner + rules, strong):
        if (a, b) not in known:
            known.add((a, b))
            spans.append(PiiSpan("PERSON", a, b, text[a:b], "rule"))
    return _drop_non_people(text, spans)
