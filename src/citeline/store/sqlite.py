"""The embedded default store: one SQLite file in WAL mode with an FTS5 keyword index."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from citeline.contracts import Principal, SearchHit
from citeline.errors import StoreError
from citeline.store.migrations import SQLITE_MIGRATIONS
from citeline.store.sql import SEARCHABLE, SqlStore, now

_WORD = re.compile(r"\w+", re.UNICODE)


_STOPWORDS = frozenset(
    "a an and are as at be but by do does did for from had has have how i if in into is it its me my no not of on or"
    " our so than that the their them then there these they this to was we were what when where which who why will"
    " with you your can could should would".split()
)


def fts_query(text: str, max_terms: int = 32) -> str:
    """Turn free text into a safe FTS5 OR-query of quoted terms (no FTS syntax gets through).
    Stop words are dropped unless nothing else is left."""
    words = list(dict.fromkeys(_WORD.findall(text.lower())))
    content = [w for w in words if w not in _STOPWORDS] or words
    return " OR ".join(f'"{w}"' for w in content[:max_terms])


class SqliteStore(SqlStore):
    """SQLite backend. ``path`` may be ``":memory:"`` for throwaway use."""

    def __init__(self, path: Path | str, *, timeout_s: float = 30.0):
        super().__init__()
        self.path = Path(path) if path != ":memory:" else path
        if isinstance(self.path, Path):
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise StoreError(f"cannot create data directory {self.path.parent}: {e.strerror}") from None
        try:
            self._conn = sqlite3.connect(
                str(self.path), timeout=timeout_s, isolation_level=None, check_same_thread=False
            )
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._conn.execute(f"PRAGMA busy_timeout={int(timeout_s * 1000)}")
            self._migrate()
        except sqlite3.DatabaseError as e:
            raise StoreError(f"cannot open database {self.path}: {e}") from None

    # -- migrations ------------------------------------------------------------------------
    def _migrate(self) -> None:
        with self._lock:
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                " applied_at TEXT NOT NULL)"
            )
            done = {r[0] for r in self._conn.execute("SELECT version FROM schema_migrations")}
            for version, name, sql in SQLITE_MIGRATIONS:
                if version in done:
                    continue
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    # re-check under the write lock: another process may have migrated meanwhile
                    if self._conn.execute("SELECT 1 FROM schema_migrations WHERE version = ?", (version,)).fetchone():
                        self._conn.rollback()
                        continue
                    for stmt in _split_sql(sql):
                        self._conn.execute(stmt)
                    self._conn.execute(
                        "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?,?,?)", (version, name, now())
                    )
                    self._conn.commit()
                except BaseException:
                    self._conn.rollback()
                    raise

    def schema_version(self) -> int:
        return self._conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()[0]

    # -- keyword search --------------------------------------------------------------------
    def keyword_search(self, query: str, principal: Principal, k: int = 10) -> list[SearchHit]:
        """BM25 over chunks the principal may read; the ACL and tenant filter is in the query.

        Two steps: rank rowids only (the set of readable documents is built once per query, so
        each matching row costs one probe instead of a join and an EXISTS), then fetch the top
        ``k`` rows, re-checked against tenant and ACL. Same ranking as a single joined statement,
        measured ~1.4× faster at 100k chunks (bench/README.md)."""
        match = fts_query(query)
        if not match or not principal.groups:
            return []
        groups = list(principal.groups)
        ranked = self._exec(
            f"""SELECT chunks_fts.rowid, -bm25(chunks_fts, 1.0, 0.5) AS score
                FROM chunks_fts JOIN chunks c ON c.rowid = chunks_fts.rowid
                WHERE chunks_fts MATCH ? AND c.document_id IN (
                    SELECT d.id FROM documents d WHERE d.tenant = ?
                      AND d.status IN ({",".join("?" * len(SEARCHABLE))})
                      AND EXISTS (SELECT 1 FROM document_acl a WHERE a.document_id = d.id
                                  AND a.grp IN ({",".join("?" * len(groups))})))
                ORDER BY score DESC LIMIT ?""",
            (match, principal.tenant, *SEARCHABLE, *groups, k),
        ).fetchall()
        rows = self.hits_by_rowid([r for r, _ in ranked], principal)
        hits = []
        for rowid, score in ranked:
            hit = rows.get(rowid)
            if hit is not None:
                hit.score = score
                hits.append(hit)
        return hits


def _split_sql(script: str) -> list[str]:
    """Split a migration into statements, keeping trigger bodies (BEGIN ... END;) whole."""
    out, buf = [], []
    for line in script.strip().splitlines():
        buf.append(line)
        candidate = "\n".join(buf).strip()
        if candidate.endswith(";") and sqlite3.complete_statement(candidate):
            out.append(candidate)
            buf = []
    if "\n".join(buf).strip():
        out.append("\n".join(buf).strip())
    return out
