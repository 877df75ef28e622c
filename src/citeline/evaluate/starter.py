"""``citeline eval init``: a starter dataset of five questions drawn from the user's own corpus.

Five passages are picked from five different documents (fact-bearing sentences: numbers, names,
a sensible length), and each becomes a question with the sentence as the reference answer and
its document and page as the expected source. Without a model the questions come from a
template (the section heading or the sentence's key terms); with one (``--llm``) the model
rewrites each into a natural question and a short answer, validated, falling back to the
template when its reply does not parse. The file is meant to be edited: it is a start.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from citeline.answer.extractive import content_terms
from citeline.errors import EvalError
from citeline.ingest.sentences import sentence_spans

_NUMBER = re.compile(r"\d")
_CAPITAL = re.compile(r"(?<!^)(?<![.!?]\s)\b[A-Z][a-z]+")
_WORD = re.compile(r"[A-Za-z][A-Za-z-]{3,}")

LLM_PROMPT = """Write one question that an employee or customer could ask and that this passage answers, and
the short answer the passage gives. Use the passage's facts only.

PASSAGE (from "{title}"):
{passage}

Reply with one JSON object: {{"question": "...", "answer": "..."}}"""


@dataclass(slots=True)
class Pick:
    document_id: str
    source: str
    title: str
    page: int
    heading: str
    sentence: str
    passage: str


def _score(sentence: str) -> float:
    words = len(sentence.split())
    if not 8 <= words <= 40 or sentence.rstrip().endswith((":", "?")) or "|" in sentence \
            or sentence.count(";") >= 2 or sentence.count(":") >= 2:  # table rows read badly as answers
        return 0.0
    return 1.0 + 1.5 * bool(_NUMBER.search(sentence)) + 0.5 * min(len(_CAPITAL.findall(sentence)), 2) \
        + 0.02 * min(words, 25)


def _relative(source: str, sources: list[str]) -> str:
    """The document reference the dataset uses: its path below the folder all sources share."""
    parts = [Path(s).parts for s in sources]
    common = 0
    while all(len(p) > common + 1 and p[common] == parts[0][common] for p in parts):
        common += 1
    return "/".join(Path(source).parts[common:]) or source


def pick_passages(store, tenant: str, n: int = 5) -> list[Pick]:
    docs = [d for d in store.list_documents(tenant, status=["ok", "partial"]) if d.chunk_count]
    if not docs:
        raise EvalError("no ingested documents to draw questions from; run citeline ingest PATH first")
    sources = [d.source_uri for d in docs]
    best: list[tuple[float, Pick]] = []
    for doc in docs:
        top: tuple[float, Pick] | None = None
        for chunk in store.chunks_of(doc.id, tenant=tenant):
            for a, b in sentence_spans(chunk.text):
                sentence = re.sub(r"^(?:\d+[.)]|[-*•])\s+", "", " ".join(chunk.text[a:b].split()))
                s = _score(sentence)
                if s and (top is None or s > top[0]):
                    top = (s, Pick(doc.id, _relative(doc.source_uri, sources), doc.title or Path(doc.source_uri).stem,
                                   chunk.page, chunk.heading_path.split(" > ")[-1].strip(), sentence,
                                   " ".join(chunk.text.split())[:1500]))
        if top:
            best.append(top)
    if not best:
        raise EvalError("no document has a sentence to ask about (the corpus may be scanned pages without text)")
    best.sort(key=lambda t: -t[0])
    # spread over folders first (different kinds of documents), then by score
    chosen, folders = [], set()
    for s, p in best:
        folder = p.source.rsplit("/", 1)[0]
        if folder not in folders:
            chosen.append(p)
            folders.add(folder)
        if len(chosen) == n:
            break
    for s, p in best:
        if len(chosen) == n:
            break
        if p not in chosen:
            chosen.append(p)
    return chosen


def template_question(p: Pick) -> str:
    topic = p.heading if p.heading and p.heading.lower() not in p.title.lower() else ""
    if not topic:
        terms = [w for w in _WORD.findall(p.sentence) if w.lower() in {t for t in content_terms(p.sentence)}
                 or w[0].isupper()][:3]
        topic = " ".join(terms) or p.sentence.split()[0]
    topic = re.sub(r"\s*\(.*?\)", "", topic).strip() or topic
    if topic.istitle() and len(topic.split()) > 1 or topic[:1].isupper() and topic[1:].islower():
        topic = topic.lower()
    return f"What does {p.title} say about {topic}?"


def llm_question(provider, p: Pick) -> tuple[str, str] | None:
    from citeline.errors import ModelError

    try:
        reply = provider.chat([{"role": "user", "content": LLM_PROMPT.format(title=p.title, passage=p.passage)}])
        m = re.search(r"\{.*\}", reply.text, re.S)
        data = json.loads(m.group(0)) if m else None
    except (ModelError, json.JSONDecodeError):
        return None
    if not isinstance(data, dict):
        return None
    q, a = str(data.get("question", "")).strip(), str(data.get("answer", "")).strip()
    if not (5 <= len(q) <= 300 and q.endswith("?") and 1 <= len(a) <= 600):
        return None
    return q, a


def starter_rows(store, tenant: str, *, n: int = 5, provider=None) -> list[dict]:
    rows = []
    for i, p in enumerate(pick_passages(store, tenant, n), 1):
        improved = llm_question(provider, p) if provider is not None else None
        question, answer = improved or (template_question(p), p.sentence)
        rows.append({"id": f"s{i:03d}", "question": question, "answer": answer,
                     "sources": [{"document": p.source, "page": p.page}], "should_decline": False,
                     "tags": ["starter", "llm" if improved else "template"]})
    return rows
