"""Evaluation datasets: JSON Lines, CSV or YAML rows of questions with what a good answer needs.

A row has ``id``, ``question`` and optionally ``reference`` (or ``answer``), ``sources``
(``[{document, page}]``; in CSV ``doc.pdf#3; other.md``), ``should_decline``, ``tags`` and
``principal`` (``{tenant, groups}``; in CSV a ``groups`` column). Every problem is reported with
its line number and field, all of them at once, so a file is fixed in one pass.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from citeline.contracts import EVERYONE, Principal
from citeline.errors import EvalError as DatasetError

MAX_DATASET_MB = 50


class ExpectedSource(BaseModel):
    model_config = ConfigDict(extra="forbid")
    document: str = Field(min_length=1, description="Document id, or its path relative to an ingested folder.")
    page: int | None = Field(None, ge=1)


class ExamplePrincipal(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tenant: str | None = None
    groups: list[str] = Field(default_factory=lambda: [EVERYONE])


class Example(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    id: str = Field(min_length=1, max_length=200)
    question: str = Field(min_length=1, max_length=8000)
    reference: str | None = Field(None, alias="answer")
    sources: list[ExpectedSource] = Field(default_factory=list)
    should_decline: bool | None = None
    tags: list[str] = Field(default_factory=list)
    principal: ExamplePrincipal | None = None

    @field_validator("id", mode="before")
    @classmethod
    def _id_text(cls, v):
        return str(v) if isinstance(v, int) else v

    @field_validator("question")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("question is blank")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> Example:
        if self.should_decline and self.reference:
            raise ValueError("should_decline is true but a reference answer is given")
        return self

    def principal_for(self, tenant: str) -> Principal:
        p = self.principal
        if p is None:
            return Principal(tenant=tenant, groups=(EVERYONE,))
        return Principal(tenant=p.tenant or tenant, groups=tuple(p.groups))


@dataclass(slots=True)
class Dataset:
    name: str
    path: str
    examples: list[Example]
    lines: dict[str, int]  # example id -> line (or row) it came from

    @property
    def hash(self) -> str:
        """Hash of the examples' content; runs made on different datasets cannot be compared."""
        canon = json.dumps([e.model_dump(mode="json", by_alias=False) for e in self.examples], sort_keys=True)
        return hashlib.sha256(canon.encode()).hexdigest()[:16]

    def __len__(self) -> int:
        return len(self.examples)


def _fmt(err: ValidationError) -> list[str]:
    out = []
    for e in err.errors():
        field = ".".join(str(x) for x in e["loc"]) or "row"
        out.append(f"{field}: {e['msg']}")
    return out


def _csv_row(row: dict[str, str]) -> dict:
    data: dict = {k.strip(): v for k, v in row.items() if k and v is not None and v.strip() != ""}
    if "sources" in data:
        items = []
        for part in data["sources"].split(";"):
            part = part.strip()
            if not part:
                continue
            doc, _, page = part.rpartition("#") if "#" in part else (part, "", "")
            items.append({"document": doc.strip(), **({"page": page.strip()} if page.strip() else {})})
        data["sources"] = items
    if "tags" in data:
        data["tags"] = [t.strip() for t in data["tags"].replace(",", ";").split(";") if t.strip()]
    if "should_decline" in data:
        v = data["should_decline"].strip().lower()
        truth = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
        data["should_decline"] = truth.get(v, v)
    groups = data.pop("groups", None)
    tenant = data.pop("tenant", None)
    if groups or tenant:
        data["principal"] = {"tenant": tenant, "groups": [g.strip() for g in (groups or EVERYONE).split(",")]}
    return data


def _rows(path: Path, text: str) -> list[tuple[int, object]]:
    """(line number, raw row) pairs; a row that is not even parseable becomes an error string."""
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json") and not text.lstrip().startswith("["):
        rows: list[tuple[int, object]] = []
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("//"):
                continue
            try:
                rows.append((n, json.loads(line)))
            except json.JSONDecodeError as e:
                rows.append((n, f"not valid JSON ({e.msg} at column {e.colno})"))
        return rows
    if suffix == ".json":
        try:
            return [(1, r) for r in json.loads(text)]
        except json.JSONDecodeError as e:
            raise DatasetError(f"{path}: line {e.lineno}: not valid JSON ({e.msg})") from None
    if suffix == ".csv":
        reader = csv.DictReader(io.StringIO(text))
        if not reader.fieldnames or "question" not in [f.strip() for f in reader.fieldnames]:
            raise DatasetError(f"{path}: line 1: a CSV dataset needs a header with at least id and question columns")
        return [(reader.line_num, _csv_row(r)) for r in reader]
    if suffix in (".yaml", ".yml"):
        try:
            node = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            raise DatasetError(f"{path}: line {mark.line + 1 if mark else '?'}: not valid YAML") from None
        if node is None:
            return []
        data = yaml.safe_load(text)
        if isinstance(data, dict) and "examples" in data:
            items = [v for k, v in node.value if k.value == "examples"][0].value
            data = data["examples"]
        elif isinstance(node, yaml.SequenceNode):
            items = node.value
        else:
            raise DatasetError(f"{path}: a YAML dataset is a list of examples (or has an 'examples:' list)")
        return [(item.start_mark.line + 1, row) for item, row in zip(items, data, strict=True)]
    raise DatasetError(f"{path}: unknown dataset format {suffix!r}; use .jsonl, .csv or .yaml")


def load_dataset(path: str | Path) -> Dataset:
    """Parse and validate a dataset file; raises :class:`DatasetError` listing every bad row."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as e:
        raise DatasetError(f"cannot read dataset {path}: {e.strerror}") from None
    if size > MAX_DATASET_MB * 1024 * 1024:
        raise DatasetError(f"{path} is {size / 1e6:.0f} MB; datasets are limited to {MAX_DATASET_MB} MB")
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    problems: list[str] = []
    examples: list[Example] = []
    lines: dict[str, int] = {}
    for line, raw in _rows(path, text):
        if isinstance(raw, str):
            problems.append(f"line {line}: {raw}")
            continue
        if not isinstance(raw, dict):
            problems.append(f"line {line}: a row must be an object with id and question, got {type(raw).__name__}")
            continue
        try:
            ex = Example.model_validate(raw)
        except ValidationError as e:
            problems.extend(f"line {line}: {msg}" for msg in _fmt(e))
            continue
        if ex.id in lines:
            problems.append(f"line {line}: id: duplicate id {ex.id!r} (first on line {lines[ex.id]})")
            continue
        lines[ex.id] = line
        examples.append(ex)
    if problems:
        shown = "\n  ".join(problems[:50]) + (f"\n  … {len(problems) - 50} more" if len(problems) > 50 else "")
        raise DatasetError(f"{path}: {len(problems)} problem(s):\n  {shown}")
    if not examples:
        raise DatasetError(f"{path}: the dataset is empty; write at least one row with id and question "
                           "(citeline eval init writes a starter set)")
    return Dataset(name=path.stem, path=str(path), examples=examples, lines=lines)


class SourceResolver:
    """Maps a dataset's ``document`` references to document ids of one tenant.

    A reference matches a document id, or the end of a source path at a folder boundary
    (``handbook/employee-handbook.pdf`` matches ``/srv/demo/corpus/handbook/employee-handbook.pdf``).
    """

    def __init__(self, store, tenant: str):
        self.docs = store.list_documents(tenant)
        self.by_id = {d.id: d for d in self.docs}

    def resolve(self, ref: str):
        if ref in self.by_id:
            return self.by_id[ref]
        norm = ref.replace("\\", "/").lstrip("./")
        found = [d for d in self.docs if d.source_uri.replace("\\", "/") == norm
                 or d.source_uri.replace("\\", "/").endswith("/" + norm)]
        return found[0] if len(found) == 1 else None

    def check(self, dataset: Dataset) -> dict[str, str]:
        """reference -> document id for every reference; raises listing unknown ones by line."""
        problems, mapping = [], {}
        for ex in dataset.examples:
            for k, src in enumerate(ex.sources):
                doc = self.resolve(src.document)
                if doc is None:
                    problems.append(f"line {dataset.lines[ex.id]}: sources.{k}.document: no ingested document "
                                    f"matches {src.document!r}")
                elif src.page is not None and doc.page_count and src.page > doc.page_count:
                    problems.append(f"line {dataset.lines[ex.id]}: sources.{k}.page: {src.document} has "
                                    f"{doc.page_count} page(s), not {src.page}")
                else:
                    mapping[src.document] = doc.id
        if problems:
            shown = "\n  ".join(problems[:50])
            raise DatasetError(f"{dataset.path}: {len(problems)} unknown document reference(s) (ingest them, or fix "
                               f"the path; see citeline docs list):\n  {shown}")
        return mapping
