"""A run killed with SIGKILL resumes where it stopped: nothing lost, nothing duplicated."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from citeline.config import ChunkSettings
from citeline.ingest.chunk import StructuredChunker
from citeline.ingest.extract import extractor_for

EXE = str(Path(sys.executable).parent / "citeline")


def _cli(data: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "CITELINE_CONFIG": str(data.parent / "none.toml"), "CITELINE_INGEST__WORKERS": "2"}
    return subprocess.Popen([EXE, "--data-dir", str(data), *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)


def _count(db: Path, sql: str) -> int:
    try:
        con = sqlite3.connect(db, timeout=10)
        try:
            return con.execute(sql).fetchone()[0]
        finally:
            con.close()
    except sqlite3.OperationalError:
        return 0


def _kill_when(proc: subprocess.Popen, db: Path, sql: str, threshold: int, timeout_s: float = 120) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        n = _count(db, sql)
        if n >= threshold:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return n
        time.sleep(0.05)
    raise AssertionError(f"process ended before the threshold: rc={proc.poll()} {proc.stderr.read().decode()[-500:]}")


def test_kill_during_extraction_then_resume(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    para = " ".join(f"Clause {{i}}.{j} sets out one obligation of the supplier in plain words." for j in range(40))
    for i in range(1500):
        (corpus / f"contract-{i:04d}.md").write_text(
            f"# Contract {i}\n\n" + "\n\n".join(para.format(i=i) + f" Part {k}." for k in range(6)))
    data = tmp_path / "data"
    db = data / "citeline.db"
    proc = _cli(data, "ingest", str(corpus), "--no-embed")
    written = _kill_when(proc, db, "SELECT COUNT(*) FROM documents", 200)
    assert written < 1500
    # what survived the kill is consistent: every document has exactly its chunks
    assert _count(db, "SELECT COUNT(*) FROM documents d WHERE chunk_count != "
                      "(SELECT COUNT(*) FROM chunks c WHERE c.document_id = d.id)") == 0

    proc = _cli(data, "ingest", str(corpus), "--no-embed", "--json")
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert _count(db, "SELECT COUNT(*) FROM documents WHERE status = 'ok'") == 1500
    expected = 0
    chunker = StructuredChunker(ChunkSettings())
    for path in corpus.iterdir():
        expected += len(chunker.chunk("x", extractor_for(path).extract(path.read_bytes(), name=str(path)).pages))
    assert _count(db, "SELECT COUNT(*) FROM chunks") == expected
    assert _count(db, "SELECT COUNT(*) FROM (SELECT document_id, ordinal FROM chunks GROUP BY 1, 2 HAVING COUNT(*) > 1)") == 0
    assert _count(db, "SELECT COUNT(*) FROM chunks_fts WHERE chunks_fts MATCH 'supplier'") == expected
    statuses = [r[0] for r in sqlite3.connect(db).execute("SELECT status FROM ingest_runs ORDER BY started_at")]
    assert statuses == ["interrupted", "finished"]


def test_kill_during_embedding_then_resume(tmp_path, monkeypatch):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(60):
        (corpus / f"note-{i:02d}.md").write_text(f"# Note {i}\n\nThe meeting room {i} has {i + 2} chairs and a screen.\n")
    data = tmp_path / "data"
    db = data / "citeline.db"
    proc = _cli(data, "ingest", str(corpus), "--no-embed")
    assert proc.wait(timeout=120) == 0
    monkeypatch.setenv("CITELINE_EMBEDDING__BATCH_SIZE", "4")
    proc = _cli(data, "embed")
    _kill_when(proc, db, "SELECT COUNT(*) FROM embeddings", 8)
    monkeypatch.delenv("CITELINE_EMBEDDING__BATCH_SIZE")
    partial = _count(db, "SELECT COUNT(*) FROM embeddings")
    assert 8 <= partial < 60
    proc = _cli(data, "embed", "--json")
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert _count(db, "SELECT COUNT(*) FROM embeddings") == _count(db, "SELECT COUNT(DISTINCT text_hash) FROM chunks") == 60
    assert b'"embedded": ' in out and int(out.split(b'"embedded": ')[1].split(b"}")[0]) == 60 - partial
