"""Helpers shared by bench/retrieval.py and bench/latency.py: machine/version records, JSON output,
load-average guard, a memoising query embedder and a percentile table printer.

Kept separate from bench/common.py (owned by the ingest benchmark) so the two can change independently.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import platform
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
WORK = BENCH_DIR / ".work"
RESULTS = BENCH_DIR / "results"

PACKAGES = ("citeline", "numpy", "onnxruntime", "tokenizers", "pydantic", "bm25s", "PyStemmer", "psutil")


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def ram_gb() -> float | None:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def machine_info() -> dict:
    import sqlite3

    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model(),
        "ram_gb": ram_gb(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "sqlite": sqlite3.sqlite_version,
    }


def versions(*packages: str) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for p in packages or PACKAGES:
        try:
            out[p] = importlib.metadata.version(p)
        except importlib.metadata.PackageNotFoundError:
            out[p] = None
    return out


def command_line() -> str:
    script = os.path.relpath(os.path.abspath(sys.argv[0]), REPO)
    return " ".join(shlex.quote(a) for a in [".venv/bin/python", script, *sys.argv[1:]])


def settings_overrides_in_env() -> list[str]:
    """Names (never values) of CITELINE_* variables / config files that would change the settings."""
    names = sorted(k for k in os.environ if k.startswith("CITELINE_"))
    if Path("citeline.toml").is_file():
        names.append("./citeline.toml")
    return names


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def wait_for_load(limit: float = 3.0, max_wait_s: float = 300.0, log=print) -> dict:
    """Wait (up to ``max_wait_s``) until the 1-minute load average is at most ``limit``."""
    t0 = time.time()
    first = loadavg()
    while os.getloadavg()[0] > limit and time.time() - t0 < max_wait_s:
        log(f"  load {os.getloadavg()[0]:.2f} > {limit}: waiting…")
        time.sleep(15)
    return {"load_before_wait": first, "waited_s": round(time.time() - t0, 1), "load_after_wait": loadavg()}


def write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    os.replace(tmp, path)


def file_hash(paths: Sequence[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def src_hash(*relpaths: str) -> str:
    """Hash of citeline source files whose change invalidates a cached index."""
    root = REPO / "src" / "citeline"
    files: list[Path] = []
    for rel in relpaths:
        p = root / rel
        files += sorted(p.rglob("*.py")) if p.is_dir() else [p]
    return file_hash(files)


class MemoEmbedder:
    """Wraps an embedder; single-text calls (queries) are memoised so a grid search embeds each
    query once. Multi-text calls (sentence vectors, ingestion) pass straight through."""

    def __init__(self, inner):
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self.memo: dict[str, np.ndarray] = {}
        self.calls = 0

    def warm_up(self) -> None:
        self.inner.warm_up()

    def embed(self, texts):
        if len(texts) == 1:
            v = self.memo.get(texts[0])
            if v is None:
                self.calls += 1
                v = self.memo[texts[0]] = self.inner.embed(texts)[0]
            return v[None, :].copy()
        return self.inner.embed(texts)


def pct(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if len(values) else float("nan")


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence]) -> str:
    def cell(v):
        if isinstance(v, float):
            return f"{v:.3f}" if abs(v) < 10 else f"{v:.1f}"
        return str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)
