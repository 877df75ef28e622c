"""HTML extraction with BeautifulSoup + lxml: boilerplate (nav, header, footer, scripts) removed,
headings, paragraphs, list items and tables kept in document order."""

from __future__ import annotations

from citeline.contracts import ExtractedDocument
from citeline.errors import UnsupportedFileError
from citeline.ingest.extract.base import PageBuilder, clean_inline, table_text

_DROP = ["script", "style", "noscript", "template", "svg", "iframe", "nav", "header", "footer", "aside", "form",
         "button", "head"]
_BLOCKS = {"p", "li", "pre", "blockquote", "dt", "dd", "figcaption", "caption", "td", "th", "summary"}
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_CONTAINERS = {"div", "section", "article", "main", "body", "span", "details", "dl", "ul", "ol", "center", "font"}


_BREAKING = _BLOCKS | set(_HEADINGS) | {"br", "div", "p", "tr", "ul", "ol", "table", "section", "article", "hr"}


def _text(tag) -> str:
    """Text of an element: inline markup joined as written, block-level children separated by spaces."""
    from bs4 import NavigableString, Tag

    parts: list[str] = []
    for node in tag.descendants:
        if isinstance(node, NavigableString):
            if type(node).__name__ not in ("Comment", "Doctype", "ProcessingInstruction", "CData"):
                parts.append(str(node))
        elif isinstance(node, Tag) and node.name in _BREAKING:
            parts.append(" ")
    return "".join(parts)


class HtmlExtractor:
    doc_type = "html"

    def extract(self, data: bytes, *, name: str, password: str | None = None) -> ExtractedDocument:
        from bs4 import BeautifulSoup, NavigableString, Tag

        if not data.strip():
            raise UnsupportedFileError("empty file")
        soup = BeautifulSoup(data, "lxml")
        title_tag = soup.find("title")
        title = clean_inline(title_tag.get_text()) if title_tag else ""
        for tag in soup.find_all(_DROP):
            tag.decompose()
        for tag in soup.find_all(attrs={"role": ["navigation", "banner", "contentinfo"]}):
            tag.decompose()
        for tag in soup.find_all(style=lambda s: s and "display:none" in s.replace(" ", "").lower()):
            tag.decompose()
        root = soup.find("main") or soup.find("article") or soup.body or soup
        builder = PageBuilder()

        def walk(node: Tag) -> None:
            inline: list[str] = []

            def flush() -> None:
                if inline:
                    builder.add("paragraph", " ".join(inline))
                    inline.clear()

            for child in node.children:
                if isinstance(child, NavigableString):
                    if type(child).__name__ in ("Comment", "Doctype", "ProcessingInstruction", "CData"):
                        continue
                    if child.strip():
                        inline.append(str(child))
                    continue
                if not isinstance(child, Tag):
                    continue
                name_ = child.name.lower()
                if name_ in _HEADINGS:
                    flush()
                    builder.add("heading", _text(child), _HEADINGS[name_])
                elif name_ == "table":
                    flush()
                    rows = [[_text(c) for c in tr.find_all(["th", "td"])] for tr in child.find_all("tr")]
                    builder.add("table", table_text(rows))
                elif name_ == "li":
                    flush()
                    nested = child.find(["ul", "ol"])
                    if nested is not None:
                        nested.extract()
                        builder.add("list", _text(child))
                        walk(nested)
                    else:
                        builder.add("list", _text(child))
                elif name_ == "pre":
                    flush()
                    builder.add("code", child.get_text())
                elif name_ in _BLOCKS:
                    flush()
                    builder.add("paragraph", _text(child))
                elif name_ in _CONTAINERS or child.find(list(_HEADINGS) + ["p", "table", "li"]) is not None:
                    flush()
                    walk(child)
                elif name_ == "br":
                    flush()
                else:
                    inline.append(_text(child))
            flush()

        walk(root)
        title = title or builder.first_heading() or name.rsplit("/", 1)[-1]
        return ExtractedDocument(doc_type="html", title=title[:300], pages=[builder.page(1)])
