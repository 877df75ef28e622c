"""Numbered schema migrations, applied in order on open and recorded in ``schema_migrations``.

Never edit a released migration: add the next number.
"""

from __future__ import annotations

SQLITE_MIGRATIONS: list[tuple[int, str, str]] = [
    (
        1,
        "documents, pages, chunks, fts, embeddings, ingest runs",
        """
        CREATE TABLE documents (
            id            TEXT PRIMARY KEY,
            tenant        TEXT NOT NULL,
            source_uri    TEXT NOT NULL,
            content_hash  TEXT,
            title         TEXT,
            doc_type      TEXT,
            page_count    INTEGER NOT NULL DEFAULT 0,
            chunk_count   INTEGER NOT NULL DEFAULT 0,
            size_bytes    INTEGER,
            mtime         REAL,
            acl           TEXT NOT NULL DEFAULT '[]',
            metadata      TEXT NOT NULL DEFAULT '{}',
            status        TEXT NOT NULL,
            error         TEXT,
            run_id        TEXT,
            created_at    TEXT NOT NULL,
            updated_at    TEXT NOT NULL,
            UNIQUE (tenant, source_uri)
        );
        CREATE INDEX documents_status ON documents (tenant, status);

        CREATE TABLE document_acl (
            document_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
            grp         TEXT NOT NULL,
            PRIMARY KEY (document_id, grp)
        ) WITHOUT ROWID;
        CREATE INDEX document_acl_grp ON document_acl (grp, document_id);

        CREATE TABLE pages (
            document_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
            page_no     INTEGER NOT NULL,
            text        TEXT NOT NULL,
            blocks      TEXT NOT NULL DEFAULT '[]',
            needs_ocr   INTEGER NOT NULL DEFAULT 0,
            ocr         INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (document_id, page_no)
        );

        CREATE TABLE chunks (
            rowid        INTEGER PRIMARY KEY,
            id           TEXT NOT NULL UNIQUE,
            document_id  TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
            ordinal      INTEGER NOT NULL,
            page         INTEGER NOT NULL,
            start_char   INTEGER NOT NULL,
            end_char     INTEGER NOT NULL,
            heading_path TEXT NOT NULL DEFAULT '',
            text         TEXT NOT NULL,
            text_hash    TEXT NOT NULL
        );
        CREATE INDEX chunks_document ON chunks (document_id, ordinal);
        CREATE INDEX chunks_text_hash ON chunks (text_hash);

        CREATE VIRTUAL TABLE chunks_fts USING fts5 (
            text, heading_path, content='chunks', content_rowid='rowid',
            tokenize='porter unicode61 remove_diacritics 2'
        );
        CREATE TRIGGER chunks_ai AFTER INSERT ON chunks BEGIN
            INSERT INTO chunks_fts (rowid, text, heading_path) VALUES (new.rowid, new.text, new.heading_path);
        END;
        CREATE TRIGGER chunks_ad AFTER DELETE ON chunks BEGIN
            INSERT INTO chunks_fts (chunks_fts, rowid, text, heading_path)
            VALUES ('delete', old.rowid, old.text, old.heading_path);
        END;

        CREATE TABLE embeddings (
            text_hash TEXT NOT NULL,
            model     TEXT NOT NULL,
            dim       INTEGER NOT NULL,
            vector    BLOB NOT NULL,
            PRIMARY KEY (text_hash, model)
        ) WITHOUT ROWID;

        CREATE TABLE ingest_runs (
            id          TEXT PRIMARY KEY,
            started_at  TEXT NOT NULL,
            finished_at TEXT,
            status      TEXT NOT NULL,
            config_hash TEXT NOT NULL,
            args        TEXT NOT NULL DEFAULT '{}',
            counts      TEXT NOT NULL DEFAULT '{}'
        );
        """,
    ),
    (
        2,
        "store generation counter, per-chunk sentence vectors",
        """
        CREATE TABLE store_meta (
            key   TEXT PRIMARY KEY,
            value INTEGER NOT NULL
        );
        INSERT INTO store_meta (key, value) VALUES ('generation', 0);

        CREATE TABLE sentence_embeddings (
            text_hash TEXT NOT NULL,
            model     TEXT NOT NULL,
            spans     TEXT NOT NULL,
            vectors   BLOB NOT NULL,
            PRIMARY KEY (text_hash, model)
        ) WITHOUT ROWID;
        """,
    ),
    (
        3,
        "api keys, web sessions, traces, feedback, uploads",
        """
        CREATE TABLE api_keys (
            id          TEXT PRIMARY KEY,
            tenant      TEXT NOT NULL,
            role        TEXT NOT NULL,
            groups      TEXT NOT NULL DEFAULT '[]',
            name        TEXT NOT NULL DEFAULT '',
            secret_hash TEXT NOT NULL,
            created_at  TEXT NOT NULL,
            last_used_at TEXT,
            revoked_at  TEXT
        );
        CREATE INDEX api_keys_tenant ON api_keys (tenant);

        CREATE TABLE sessions (
            token_hash TEXT PRIMARY KEY,
            key_id     TEXT NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
            csrf       TEXT NOT NULL,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL
        );

        CREATE TABLE traces (
            id          TEXT PRIMARY KEY,
            tenant      TEXT NOT NULL,
            key_id      TEXT,
            groups      TEXT NOT NULL DEFAULT '[]',
            route       TEXT NOT NULL,
            question    TEXT NOT NULL,
            answer      TEXT NOT NULL,
            decision    TEXT NOT NULL,
            reason      TEXT,
            confidence  REAL NOT NULL DEFAULT 0,
            answerer    TEXT NOT NULL,
            model       TEXT,
            prompt_tokens     INTEGER NOT NULL DEFAULT 0,
            completion_tokens INTEGER NOT NULL DEFAULT 0,
            cost_usd    REAL,
            latency_ms  REAL NOT NULL DEFAULT 0,
            config_hash TEXT NOT NULL,
            response    TEXT NOT NULL,
            created_at  TEXT NOT NULL
        );
        CREATE INDEX traces_tenant_time ON traces (tenant, created_at);
        CREATE INDEX traces_key_time ON traces (key_id, created_at);

        CREATE TABLE feedback (
            trace_id   TEXT NOT NULL REFERENCES traces(id) ON DELETE CASCADE,
            key_id     TEXT NOT NULL,
            rating     INTEGER NOT NULL,
            comment    TEXT,
            created_at TEXT NOT NULL,
            PRIMARY KEY (trace_id, key_id)
        );

        CREATE TABLE uploads (
            id          TEXT PRIMARY KEY,
            tenant      TEXT NOT NULL,
            key_id      TEXT,
            filename    TEXT NOT NULL,
            path        TEXT NOT NULL,
            size_bytes  INTEGER NOT NULL,
            acl         TEXT NOT NULL DEFAULT '[]',
            status      TEXT NOT NULL,
            document_id TEXT,
            error       TEXT,
            created_at  TEXT NOT NULL,
            updated_at  TEXT NOT NULL
        );
        CREATE INDEX uploads_tenant ON uploads (tenant, created_at);
        """,
    ),
    (
        4,
        "evaluation runs, per-example results, judge calibrations",
        """
        CREATE TABLE eval_runs (
            id            TEXT PRIMARY KEY,
            tenant        TEXT NOT NULL,
            dataset_name  TEXT NOT NULL,
            dataset_hash  TEXT NOT NULL,
            config_hash   TEXT NOT NULL,
            label         TEXT NOT NULL DEFAULT '',
            repeats       INTEGER NOT NULL DEFAULT 1,
            n_examples    INTEGER NOT NULL DEFAULT 0,
            status        TEXT NOT NULL,
            settings      TEXT NOT NULL DEFAULT '{}',
            summary       TEXT NOT NULL DEFAULT '{}',
            error         TEXT,
            created_at    TEXT NOT NULL,
            finished_at   TEXT
        );
        CREATE INDEX eval_runs_time ON eval_runs (created_at);

        CREATE TABLE eval_results (
            run_id      TEXT NOT NULL REFERENCES eval_runs(id) ON DELETE CASCADE,
            example_id  TEXT NOT NULL,
            repeat      INTEGER NOT NULL DEFAULT 0,
            output      TEXT NOT NULL,
            metrics     TEXT NOT NULL,
            created_at  TEXT NOT NULL,
            PRIMARY KEY (run_id, example_id, repeat)
        );

        CREATE TABLE eval_calibrations (
            id          TEXT PRIMARY KEY,
            judge       TEXT NOT NULL,
            model       TEXT,
            n           INTEGER NOT NULL,
            stats       TEXT NOT NULL,
            mapping     TEXT NOT NULL,
            trusted     INTEGER NOT NULL,
            created_at  TEXT NOT NULL
        );
        CREATE INDEX eval_calibrations_judge ON eval_calibrations (judge, created_at);
        """,
    ),
    (
        5,
        "chunk flags from the document guard (indirect prompt injection, hidden text)",
        """
        CREATE TABLE chunk_flags (
            chunk_id    TEXT PRIMARY KEY REFERENCES chunks(id) ON DELETE CASCADE,
            document_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
            rule        TEXT NOT NULL,
            score       REAL NOT NULL DEFAULT 1,
            action      TEXT NOT NULL,
            detail      TEXT NOT NULL DEFAULT '',
            created_at  TEXT NOT NULL
        );
        CREATE INDEX chunk_flags_document ON chunk_flags (document_id);
        """,
    ),
    (
        6,
        "documents.index_gen: the store generation of a document's last write, for derived indexes",
        """
        ALTER TABLE documents ADD COLUMN index_gen INTEGER NOT NULL DEFAULT 0;
        CREATE INDEX documents_index_gen ON documents (index_gen);
        """,
    ),
    (
        7,
        "eval_runs.owner: the process running an evaluation, so a killed one reads as interrupted",
        """
        ALTER TABLE eval_runs ADD COLUMN owner TEXT;
        """,
    ),
    (
        8,
        "embeddings.gen: the store generation that added a vector, so the dense index refreshes by change",
        """
        ALTER TABLE embeddings ADD COLUMN gen INTEGER NOT NULL DEFAULT 0;
        CREATE INDEX embeddings_gen ON embeddings (model, gen);
        """,
    ),
]
