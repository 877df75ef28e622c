"""Undo the unicode and encoding tricks that hide text from pattern rules.

* zero-width and other invisible format characters are removed (``ig\u200bnore`` → ``ignore``);
* right-to-left / bidi overrides and isolates are removed and reported, and text after an override
  is also scanned the way it is displayed (reversed);
* NFKC folds full-width and stylised letters (``ｉｇｎｏｒｅ``, ``𝐢𝐠𝐧𝐨𝐫𝐞``) to ASCII;
* homoglyphs (Cyrillic ``о``, Greek ``ο``, …) in a word that mixes them with Latin letters, or
  that is made only of look-alikes, are mapped to the Latin letter they imitate, so ``іgnоre``
  matches ``ignore``; a word with letters that imitate nothing is real text in its script and
  is left alone;
* base64 runs that decode to readable text are decoded, so wrapped instructions can be scanned.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from dataclasses import dataclass, field

# Format characters used to hide or reorder text
ZERO_WIDTH = frozenset("\u200b\u200c\u200d\u2060\u2061\u2062\u2063\u2064\ufeff\u00ad\u180e\u034f")
BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
TAGS = range(0xE0000, 0xE0080)  # "tag" characters: invisible ASCII copies

# Letters that look like Latin ones (Cyrillic, Greek, a few others), mapped to what they imitate
_CONFUSABLES = {
    "а": "a", "в": "b", "с": "c", "е": "e", "ё": "e", "һ": "h", "і": "i", "ї": "i", "ј": "j", "к": "k",
    "м": "m", "н": "h", "о": "o", "р": "p", "ԛ": "q", "ѕ": "s", "т": "t", "у": "y", "х": "x", "ԝ": "w",
    "ɡ": "g", "ո": "n", "ս": "u", "ⅼ": "l", "ӏ": "l", "ı": "i", "ɑ": "a", "ʏ": "y",
    "А": "A", "В": "B", "С": "C", "Е": "E", "Н": "H", "І": "I", "Ј": "J", "К": "K", "М": "M", "О": "O",
    "Р": "P", "Ѕ": "S", "Т": "T", "Х": "X", "У": "Y", "Ԝ": "W",
    "α": "a", "β": "b", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "τ": "t", "υ": "u",
    "χ": "x", "γ": "y", "ω": "w",
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N", "Ο": "O",
    "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
}
_WORD = re.compile(r"\w+", re.UNICODE)
_B64 = re.compile(r"(?<![A-Za-z0-9+/=])[A-Za-z0-9+/]{16,}={0,2}(?![A-Za-z0-9+/=])")
_B64URL = re.compile(r"(?<![A-Za-z0-9_\-=])[A-Za-z0-9_\-]{20,}={0,2}(?![A-Za-z0-9_\-=])")


@dataclass(slots=True)
class Normalized:
    text: str  # what rules and classifiers read
    invisible: int = 0  # zero-width / tag characters removed
    bidi: int = 0  # bidi controls removed
    homoglyphs: int = 0  # letters mapped to Latin
    decoded: list[str] = field(default_factory=list)  # readable base64 payloads, reversed RTL runs

    @property
    def tricks(self) -> list[str]:
        out = []
        if self.invisible:
            out.append(f"{self.invisible} invisible characters")
        if self.bidi:
            out.append(f"{self.bidi} bidi controls")
        if self.homoglyphs:
            out.append(f"{self.homoglyphs} homoglyphs")
        if self.decoded:
            out.append(f"{len(self.decoded)} hidden payloads (base64 or reversed text)")
        return out

    def all_texts(self) -> list[str]:
        """The normalised text and every decoded payload: everything a rule should scan."""
        return [self.text, *self.decoded]


def _is_latin_letter(ch: str) -> bool:
    return ch.isascii() and ch.isalpha()


def _fold_word(word: str) -> tuple[str, int]:
    """Map homoglyphs in a word that mixes scripts, or that is made only of look-alike letters;
    a word in another script (with letters that imitate nothing) is kept."""
    if word.isascii():
        return word, 0
    if not any(_is_latin_letter(c) for c in word) and not all(c in _CONFUSABLES or c.isdigit() for c in word):
        return word, 0
    n = 0
    out = []
    for c in word:
        r = _CONFUSABLES.get(c)
        if r is not None:
            out.append(r)
            n += 1
        else:
            out.append(c)
    return "".join(out), n


def strip_invisible(text: str) -> tuple[str, int, int]:
    """Remove zero-width, tag and bidi characters; returns (text, invisible, bidi)."""
    inv = bidi = 0
    kept = []
    for ch in text:
        if ch in ZERO_WIDTH or ord(ch) in TAGS:
            inv += 1
        elif ch in BIDI:
            bidi += 1
        else:
            kept.append(ch)
    return "".join(kept), inv, bidi


def _printable_ratio(s: str) -> float:
    if not s:
        return 0.0
    return sum(ch.isprintable() or ch in "\n\t" for ch in s) / len(s)


def decode_base64_runs(text: str, *, limit: int = 8) -> list[str]:
    """Readable text hidden in base64 (or base64url) runs of at least 16 characters."""
    out: list[str] = []
    for rx, decoder in ((_B64, base64.b64decode), (_B64URL, base64.urlsafe_b64decode)):
        for m in rx.finditer(text):
            run = m.group(0)
            if run.isalpha() or run.isdigit():  # a long word or number, not an encoding
                continue
            try:
                raw = decoder(run + "=" * (-len(run) % 4))
                s = raw.decode("utf-8")
            except (binascii.Error, ValueError, UnicodeDecodeError):
                continue
            words = _WORD.findall(s)
            if _printable_ratio(s) > 0.95 and len(words) >= 2 and s not in out:
                out.append(s)
            if len(out) >= limit:
                return out
    return out


_RLO = re.compile("[\u202e\u2067]([^\u202c\u2069\n]*)")


def reversed_runs(text: str) -> list[str]:
    """Text after a right-to-left override is shown reversed: return it as it is displayed."""
    return [m.group(1)[::-1] for m in _RLO.finditer(text) if m.group(1).strip()]


def normalize(text: str, *, decode_base64: bool = True) -> Normalized:
    shown = reversed_runs(text) if ("\u202e" in text or "\u2067" in text) else []
    if shown:  # the line as displayed, with each overridden run turned around
        shown = [_RLO.sub(lambda m: m.group(1)[::-1], text)]
    text, inv, bidi = strip_invisible(text)
    text = unicodedata.normalize("NFKC", text)
    n_glyphs = 0

    def fold(m: re.Match) -> str:
        nonlocal n_glyphs
        word, n = _fold_word(m.group(0))
        n_glyphs += n
        return word

    if not text.isascii():
        text = _WORD.sub(fold, text)
    decoded = decode_base64_runs(text) if decode_base64 else []
    decoded = [normalize(d, decode_base64=False).text for d in [*shown, *decoded]]
    return Normalized(text=text, invisible=inv, bidi=bidi, homoglyphs=n_glyphs, decoded=decoded)
