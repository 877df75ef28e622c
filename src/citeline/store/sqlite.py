"""The embedded default store: one SQLite file in WAL mode with an FTS5 keyword index."""

from __future__ import annotations

import math
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from citeline.contracts import KeywordFeedback, Principal, SearchHit
from citeline.errors import StoreError
from citeline.store.keyword_index import KeywordIndex, query_words
from citeline.store.migrations import SQLITE_MIGRATIONS
from citeline.store.sql import SEARCHABLE, SqlStore, now

#: principals (tenant + groups) whose readable-chunk temp table is kept per store (FTS5 path)
READABLE_CACHE = 8
#: the keyword engines ``retrieval.keyword_index`` may name
KEYWORD_INDEXES = ("tantivy", "fts5")


def fts_query(text: str, max_terms: int = 32) -> str:
    """Turn free text into a safe FTS5 OR-query of quoted terms (no FTS syntax gets through).
    Stop words are dropped unless nothing else is left."""
    return fts_match(query_words(text, max_terms))


def fts_match(words: list[str]) -> str:
    """FTS5 OR-query of quoted words (``query_words`` output: \\w+ only, so quoting is safe)."""
    return " OR ".join(f'"{w}"' for w in words)


class SqliteStore(SqlStore):
    """SQLite backend. ``path`` may be ``":memory:"`` for throwaway use.

    ``keyword_index``: ``"tantivy"`` (default) ranks keyword queries on an in-memory tantivy index
    derived from the chunks (:mod:`citeline.store.keyword_index`); ``"fts5"`` ranks them with FTS5's
    ``bm25()`` in SQL. Both filter by tenant and ACL before scoring and give the same kind of hits."""

    def __init__(self, path: Path | str, *, timeout_s: float = 30.0, keyword_index: str = "tantivy"):
        super().__init__()
        if keyword_index not in KEYWORD_INDEXES:
            raise StoreError(f"unknown keyword index {keyword_index!r}: use one of {', '.join(KEYWORD_INDEXES)}")
        self._keyword_index = KeywordIndex(SEARCHABLE) if keyword_index == "tantivy" else None
        self.path = Path(path) if path != ":memory:" else path
        self._timeout_s = timeout_s
        self._read_lock = threading.Lock()
        self._read_conn: sqlite3.Connection | None = None
        self._readable_tables: OrderedDict[tuple, tuple[str, int]] = OrderedDict()
        self._readable_seq = 0
        self._df: dict[str, int] = {}
        self._df_gen: int | None = None
        self._fts_rows: int | None = None
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
    def keyword_search(self, query: str, principal: Principal, k: int = 10, *,
                       feedback: KeywordFeedback | None = None) -> list[SearchHit]:
        """BM25 over chunks the principal may read; the tenant and ACL filter is part of the ranking.

        Two steps: rank rowids, then fetch the top ``k`` rows, re-checked against tenant and ACL.
        Ranking runs in one read transaction (generation check, index catch-up, ranking: one
        snapshot), on the tantivy index (:mod:`citeline.store.keyword_index`) or, with
        ``keyword_index="fts5"``, in SQL (:meth:`_fts5_ranked`). Called inside the caller's own write
        transaction (only ``:memory:`` stores share one connection), it ranks with FTS5, which sees
        that transaction's writes: the tantivy index only ever holds committed state. ``feedback``
        (pseudo-relevance feedback) applies on the tantivy engine; FTS5 ranks the question alone."""
        words = query_words(query)
        if not principal.groups or not words:
            return []
        with self._read_snapshot() as (con, gen, own):
            if self._keyword_index is not None and own:
                ranked = self._keyword_index.search(con, gen, words, principal, k, feedback)
            else:
                ranked = self._fts5_ranked(con, gen, fts_match(words), principal, k, cache=own)
        rows = self.hits_by_rowid([r for r, _ in ranked], principal)
        hits = []
        for rowid, score in ranked:
            hit = rows.get(rowid)
            if hit is not None:
                hit.score = score
                hits.append(hit)
        return hits

    def warm_up(self) -> None:
        """Build (or catch up) the in-memory keyword index now rather than on the first search."""
        if self._keyword_index is None:
            return
        with self._read_snapshot() as (con, gen, own):
            if own:
                self._keyword_index.refresh(con, gen)

    @contextmanager
    def _read_snapshot(self) -> Iterator[tuple[sqlite3.Connection, int, bool]]:
        """(reader connection, store generation, whether this call owns the read transaction), with
        the reader's lock held: one snapshot for the generation check, index catch-up and ranking.
        ``own`` is false inside the caller's write transaction (``:memory:`` stores only)."""
        lock, con = self._reader()
        with lock:
            own = not con.in_transaction
            if own:
                con.execute("BEGIN")
            try:
                gen = con.execute("SELECT value FROM store_meta WHERE key = 'generation'").fetchone()[0]
                yield con, gen, own
            except BaseException:
                if own:
                    con.rollback()
                    self._forget_readable(con)
                raise
            else:
                if own:
                    con.commit()

    def _fts5_ranked(self, con: sqlite3.Connection, gen: int, match: str, principal: Principal, k: int, *,
                     cache: bool) -> list[tuple[int, float]]:
        """FTS5 ranking. The statement restricts matches to a per-principal temp table of readable
        chunk rowids (built in SQL from ``documents`` / ``document_acl``, cached per tenant + groups
        and rebuilt when the store generation moves). Probing that small in-memory table costs far
        less per matching row than joining ``chunks`` and probing the readable-document set, which
        dominated at 100k chunks (~3x faster there, bench/results/latency-kw-{before,after}.json); on
        top, :meth:`_ranked_pruned` scores only rows holding a rare query term when that provably
        leaves the top ``k`` unchanged. Same scores and ranking as the full query."""
        table = self._readable_table(con, principal, gen, cache=cache)
        ranked = self._ranked_pruned(con, match, table, k, gen)
        if ranked is None:
            # "+rowid": a plain expression, so SQLite filters the FTS5 scan row by row instead
            # of handing FTS5 one rowid lookup per readable chunk
            ranked = con.execute(
                f"""SELECT rowid, -bm25(chunks_fts, 1.0, 0.5) AS score FROM chunks_fts
                    WHERE chunks_fts MATCH ? AND +rowid IN temp.{table}
                    ORDER BY score DESC, rowid LIMIT ?""",
                (match, k),
            ).fetchall()
        return ranked

    def _ranked_pruned(self, con: sqlite3.Connection, match: str, table: str, k: int,
                       gen: int) -> list[tuple[int, float]] | None:
        """The exact top ``k`` of the full OR query, scoring only rows that hold a rare term (MaxScore).

        FTS5's bm25 is a sum over the query's phrases of ``idf × f·(k1+1) / (f + k1·norm)`` and each
        term is below ``idf × (k1+1)``. Rows holding none of the rarest ("essential") terms score less
        than the summed bound of the other terms, so when the k-th best score among rows holding an
        essential term beats that bound, those rows' top ``k`` is the full top ``k``: same scores
        (the statement still matches and scores every phrase), same order. Otherwise it widens the
        essential set once with the k-th score it saw; ``None`` means "run the full query"."""
        terms = match.split(" OR ")
        if len(terms) < 2:
            return None
        n_rows, df = self._fts_stats(con, terms, gen)
        if not n_rows:
            return None
        order = sorted(terms, key=lambda t: df[t])  # rarest first
        bounds = [_BM25_K1_PLUS_1 * _bm25_idf(n_rows, df[t]) for t in order]
        rest = [sum(bounds[j:]) for j in range(len(order) + 1)]  # bound of the terms after prefix j
        j = next(j for j in range(1, len(order) + 1) if rest[j] < _FIRST_GUESS * bounds[0])
        while j < len(order):
            ranked = con.execute(
                f"""SELECT rowid, -bm25(chunks_fts, 1.0, 0.5) AS score FROM chunks_fts
                    WHERE chunks_fts MATCH ? AND +rowid IN temp.{table}
                      AND +rowid IN (SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH ?)
                    ORDER BY score DESC, rowid LIMIT ?""",
                (match, " OR ".join(order[:j]), k),
            ).fetchall()
            if len(ranked) < k:
                return None
            theta = ranked[-1][1]
            if theta > rest[j] * (1 + 1e-9) + 1e-9:
                return ranked
            j = next((j2 for j2 in range(j + 1, len(order) + 1) if rest[j2] < theta), len(order))
        return None

    def _fts_stats(self, con: sqlite3.Connection, terms: list[str], gen: int) -> tuple[int, dict[str, int]]:
        """(rows in the FTS index, rows matching each phrase): the N and n of FTS5's bm25 idf, cached per
        store generation."""
        if self._df_gen != gen or len(self._df) > 50_000:
            self._df, self._df_gen, self._fts_rows = {}, gen, None
        if self._fts_rows is None:
            row = con.execute("SELECT block FROM chunks_fts_data WHERE id = 1").fetchone()  # averages record
            self._fts_rows = _varint(row[0]) if row and row[0] else 0
        missing = [t for t in terms if t not in self._df]
        if missing:
            counts = con.execute(
                "SELECT " + ", ".join(["(SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH ?)"] * len(missing)),
                missing,
            ).fetchone()
            self._df.update(zip(missing, counts, strict=True))
        return self._fts_rows, self._df

    def _reader(self) -> tuple[threading.RLock | threading.Lock, sqlite3.Connection]:
        """(lock, connection) for keyword ranking: a second connection to the same file, so its
        read transaction and temp tables never mix with the writer's; ``:memory:`` has only one."""
        if not isinstance(self.path, Path):
            return self._lock, self._conn
        with self._read_lock:
            if self._read_conn is None:
                con = sqlite3.connect(str(self.path), timeout=self._timeout_s, isolation_level=None,
                                      check_same_thread=False)
                con.execute(f"PRAGMA busy_timeout={int(self._timeout_s * 1000)}")
                con.execute("PRAGMA temp_store=MEMORY")
                self._read_conn = con
        return self._read_lock, self._read_conn

    def _readable_table(self, con: sqlite3.Connection, principal: Principal, gen: int, *, cache: bool) -> str:
        """Name of a temp table holding the rowids of every chunk ``principal`` may read at ``gen``.

        ``cache=False`` (called inside someone else's transaction, ``:memory:`` stores only): build
        a scratch table that is never reused, since that transaction may still roll back."""
        key = (principal.tenant, tuple(sorted(set(principal.groups))))
        if not cache:
            name = "citeline_readable_scratch"
        else:
            got = self._readable_tables.pop(key, None)
            if got is not None and got[1] == gen:
                self._readable_tables[key] = got  # most recently used last
                return got[0]
            if got is not None:
                name = got[0]
            else:
                while len(self._readable_tables) >= READABLE_CACHE:
                    _, (old, _) = self._readable_tables.popitem(last=False)
                    con.execute(f"DROP TABLE IF EXISTS temp.{old}")
                self._readable_seq += 1
                name = f"citeline_readable_{self._readable_seq}"
        readable, params = self._readable(Principal(principal.tenant, key[1]))
        con.execute(f"CREATE TEMP TABLE IF NOT EXISTS {name} (id INTEGER PRIMARY KEY)")
        con.execute(f"DELETE FROM temp.{name}")
        con.execute(
            f"""INSERT INTO temp.{name} (id) SELECT c.rowid FROM chunks c WHERE c.document_id IN (
                    SELECT d.id FROM documents d WHERE {readable}
                      AND d.status IN ({",".join("?" * len(SEARCHABLE))}))""",
            (*params, *SEARCHABLE),
        )
        if cache:
            self._readable_tables[key] = (name, gen)
        return name

    def _forget_readable(self, con: sqlite3.Connection) -> None:
        for name, _ in self._readable_tables.values():
            try:
                con.execute(f"DROP TABLE IF EXISTS temp.{name}")
            except sqlite3.Error:
                pass
        self._readable_tables.clear()

    def close(self) -> None:
        with self._read_lock:
            if self._read_conn is not None:
                self._read_conn.close()
                self._read_conn = None
            self._readable_tables.clear()
            self._df, self._df_gen, self._fts_rows = {}, None, None
            if self._keyword_index is not None:
                self._keyword_index.close()
        super().close()


_BM25_K1_PLUS_1 = 2.2  # FTS5's bm25: k1 = 1.2
_FIRST_GUESS = 0.8  # first essential set: the rest must bound below 0.8 × the rarest term's bound


def _bm25_idf(n_rows: int, n_hit: int) -> float:
    idf = math.log((n_rows - n_hit + 0.5) / (n_hit + 0.5))
    return idf if idf > 0 else 1e-6  # FTS5 clamps the same way


def _varint(b: bytes) -> int:
    """SQLite's varint (the leading field of FTS5's averages record: the number of rows)."""
    v = 0
    for i in range(8):
        c = b[i]
        v = (v << 7) | (c & 0x7F)
        if c < 0x80:
            return v
    return (v << 8) | b[8]


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
