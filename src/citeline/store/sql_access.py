"""API keys, web sessions and permission-checked document reads, shared by the SQL stores.

Secrets are random 32-byte tokens; only their SHA-256 is stored (a key is high-entropy, so a
slow password hash adds nothing), and comparison is constant-time. Every document read here
takes a :class:`Principal` and filters by tenant *and* ACL in the statement itself: a document
the caller may not read is indistinguishable from one that does not exist.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from citeline.contracts import ApiKeyRecord, Block, DocumentRecord, Page, Principal

KEY_PREFIX = "cl"
_KEY_COLS = "id, tenant, role, groups, name, created_at, last_used_at, revoked_at"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _key(row: Sequence[Any]) -> ApiKeyRecord:
    return ApiKeyRecord(id=row[0], tenant=row[1], role=row[2], groups=json.loads(row[3]), name=row[4],
                        created_at=row[5], last_used_at=row[6], revoked_at=row[7])


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(ts: datetime) -> str:
    return ts.isoformat(timespec="milliseconds")


def split_key(token: str) -> tuple[str, str] | None:
    """``cl_<id>_<secret>`` → (id, secret); None when the token does not have that shape."""
    parts = token.strip().split("_")
    if len(parts) != 3 or parts[0] != KEY_PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


class AccessMixin:
    """Mixed into :class:`~citeline.store.sql.SqlStore`; uses its ``_exec`` and ``transaction``."""

    # -- api keys --------------------------------------------------------------------------
    def create_api_key(self, *, tenant: str, role: str, groups: Sequence[str], name: str = "") -> tuple[ApiKeyRecord, str]:
        """Store a new key and return it with its token, the only time the token exists in clear."""
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32).replace("_", "-")
        rec = ApiKeyRecord(id=key_id, tenant=tenant, role=role, groups=sorted(set(groups)), name=name,  # type: ignore[arg-type]
                           created_at=_iso(_now()))
        with self.transaction(bump=False):
            self._exec(
                "INSERT INTO api_keys (id, tenant, role, groups, name, secret_hash, created_at) VALUES (?,?,?,?,?,?,?)",
                (rec.id, tenant, role, json.dumps(rec.groups), name, _hash(secret), rec.created_at),
            )
        return rec, f"{KEY_PREFIX}_{key_id}_{secret}"

    def verify_api_key(self, token: str) -> ApiKeyRecord | None:
        """The active key this token belongs to, or None (unknown, malformed, wrong secret, revoked)."""
        parts = split_key(token)
        if parts is None:
            return None
        key_id, secret = parts
        row = self._exec(f"SELECT {_KEY_COLS}, secret_hash FROM api_keys WHERE id = ?", (key_id,)).fetchone()
        if row is None or not hmac.compare_digest(row[8], _hash(secret)) or row[7] is not None:
            return None
        return _key(row)

    def touch_api_key(self, key_id: str) -> None:
        with self.transaction(bump=False):
            self._exec("UPDATE api_keys SET last_used_at = ? WHERE id = ?", (_iso(_now()), key_id))

    def list_api_keys(self, tenant: str | None = None) -> list[ApiKeyRecord]:
        sql, params = f"SELECT {_KEY_COLS} FROM api_keys", []
        if tenant is not None:
            sql += " WHERE tenant = ?"
            params.append(tenant)
        return [_key(r) for r in self._exec(sql + " ORDER BY created_at", params).fetchall()]

    def revoke_api_key(self, key_id: str, *, tenant: str | None = None) -> bool:
        sql, params = "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", [_iso(_now()), key_id]
        if tenant is not None:
            sql += " AND tenant = ?"
            params.append(tenant)
        with self.transaction(bump=False):
            changed = self._exec(sql, params).rowcount > 0
            if changed:
                self._exec("DELETE FROM sessions WHERE key_id = ?", (key_id,))
        return changed

    # -- web sessions ----------------------------------------------------------------------
    def create_session(self, key_id: str, *, ttl_s: float) -> tuple[str, str]:
        """A new session for a verified key: (cookie token, CSRF token)."""
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        created = _now()
        with self.transaction(bump=False):
            self._exec("DELETE FROM sessions WHERE expires_at < ?", (_iso(created),))
            self._exec(
                "INSERT INTO sessions (token_hash, key_id, csrf, created_at, expires_at) VALUES (?,?,?,?,?)",
                (_hash(token), key_id, csrf, _iso(created), _iso(created + timedelta(seconds=ttl_s))),
            )
        return token, csrf

    def verify_session(self, token: str) -> tuple[ApiKeyRecord, str] | None:
        """(key, CSRF token) of a live session whose key is not revoked."""
        row = self._exec(
            f"SELECT {', '.join('k.' + c.strip() for c in _KEY_COLS.split(','))}, s.csrf FROM sessions s"
            " JOIN api_keys k ON k.id = s.key_id WHERE s.token_hash = ? AND s.expires_at > ? AND k.revoked_at IS NULL",
            (_hash(token), _iso(_now())),
        ).fetchone()
        return (_key(row), row[8]) if row else None

    def delete_session(self, token: str) -> None:
        with self.transaction(bump=False):
            self._exec("DELETE FROM sessions WHERE token_hash = ?", (_hash(token),))

    # -- permission-checked reads ----------------------------------------------------------
    def tenant_groups(self, tenant: str) -> list[str]:
        """Every ACL group used by a document of the tenant (an admin's reach)."""
        return [r[0] for r in self._exec(
            "SELECT DISTINCT a.grp FROM document_acl a JOIN documents d ON d.id = a.document_id WHERE d.tenant = ?"
            " ORDER BY a.grp", (tenant,)).fetchall()]

    def _readable(self, principal: Principal) -> tuple[str, list[Any]]:
        """The one SQL condition on ``documents d`` for "the principal may read it": tenant and ACL."""
        groups = list(principal.groups) or [""]
        return (f"d.tenant = ? AND EXISTS (SELECT 1 FROM document_acl a WHERE a.document_id = d.id"
                f" AND a.grp IN ({','.join('?' * len(groups))}))", [principal.tenant, *groups])

    def readable_documents(self, principal: Principal, *, limit: int = 1000, offset: int = 0) -> list[DocumentRecord]:
        from citeline.store.sql import _DOC_COLS, _doc

        where, params = self._readable(principal)
        cols = ", ".join("d." + c.strip() for c in _DOC_COLS.split(","))
        rows = self._exec(f"SELECT {cols} FROM documents d WHERE {where} ORDER BY d.title, d.source_uri LIMIT ? OFFSET ?",
                          [*params, limit, offset]).fetchall()
        return [_doc(r) for r in rows]

    def readable_document(self, doc_id: str, principal: Principal) -> DocumentRecord | None:
        from citeline.store.sql import _DOC_COLS, _doc

        where, params = self._readable(principal)
        cols = ", ".join("d." + c.strip() for c in _DOC_COLS.split(","))
        row = self._exec(f"SELECT {cols} FROM documents d WHERE d.id = ? AND {where}", [doc_id, *params]).fetchone()
        return _doc(row) if row else None

    def readable_page(self, doc_id: str, page: int, principal: Principal) -> Page | None:
        where, params = self._readable(principal)
        row = self._exec(
            "SELECT p.page_no, p.text, p.blocks, p.needs_ocr, p.ocr FROM pages p JOIN documents d ON d.id = p.document_id"
            f" WHERE p.document_id = ? AND p.page_no = ? AND {where}", [doc_id, page, *params]).fetchone()
        if row is None:
            return None
        blocks = [Block(kind=k, start=s, end=e, level=lv) for k, s, e, lv in json.loads(row[2])]
        return Page(number=row[0], text=row[1], blocks=blocks, needs_ocr=bool(row[3]), ocr=bool(row[4]))
