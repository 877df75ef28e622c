"""Who is calling: API keys (``Authorization: Bearer cl_…``) or a web session cookie.

* No credentials, a malformed, unknown or revoked key, or an expired session → 401.
* A session-authenticated request that changes something must carry the session's CSRF token
  in ``X-CSRF-Token`` (the cookie is also ``SameSite=Strict`` and ``HttpOnly``) → else 403.
* Members act within their groups; admins reach every document and trace of their tenant.
* Each key has a token bucket (``server.rate_limit_per_minute``, ``server.rate_limit_burst``) → 429.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from fastapi import Request

from citeline.config import ServerSettings
from citeline.contracts import ApiKeyRecord, Principal
from citeline.errors import AuthError, ForbiddenError, RateLimitError

SESSION_COOKIE = "citeline_session"
CSRF_HEADER = "x-csrf-token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_TOUCH_EVERY_S = 60.0


@dataclass(slots=True)
class Caller:
    key: ApiKeyRecord
    principal: Principal
    via: str  # "key" | "session"
    csrf: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.key.role == "admin"

    @property
    def tenant(self) -> str:
        return self.key.tenant


class RateLimiter:
    """Token bucket per key: ``burst`` at once, refilled at ``per_minute / 60`` per second."""

    def __init__(self, per_minute: int, burst: int):
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def check(self, key_id: str) -> None:
        if self.rate <= 0:
            return
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key_id, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens < 1.0:
                self._buckets[key_id] = (tokens, now)
                raise RateLimitError(f"rate limit of {self.rate * 60:.0f} requests per minute exceeded for this key",
                                     retry_after_s=(1.0 - tokens) / self.rate)
            self._buckets[key_id] = (tokens - 1.0, now)


class Authenticator:
    def __init__(self, store, settings: ServerSettings):
        self.store = store
        self.limiter = RateLimiter(settings.rate_limit_per_minute, settings.rate_limit_burst)
        self._touched: dict[str, float] = {}
        self._admin_groups: dict[str, tuple[int, tuple[str, ...]]] = {}

    def principal_of(self, key: ApiKeyRecord) -> Principal:
        if key.role != "admin":
            return key.principal
        gen = self.store.generation()
        cached = self._admin_groups.get(key.tenant)
        if cached is None or cached[0] != gen:
            cached = (gen, tuple(self.store.tenant_groups(key.tenant)))
            self._admin_groups[key.tenant] = cached
        return Principal(tenant=key.tenant, groups=tuple(sorted(set(key.groups) | set(cached[1]))))

    def authenticate(self, request: Request) -> Caller:
        header = request.headers.get("authorization")
        if header is not None:
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise AuthError("the Authorization header must be 'Bearer <api key>'")
            key = self.store.verify_api_key(token.strip())
            if key is None:
                raise AuthError("invalid or revoked API key")
            caller = Caller(key=key, principal=self.principal_of(key), via="key")
        else:
            token = request.cookies.get(SESSION_COOKIE)
            found = self.store.verify_session(token) if token else None
            if found is None:
                raise AuthError("authentication required: send 'Authorization: Bearer <api key>' or log in"
                                if not token else "your session has expired or was revoked: log in again")
            key, csrf = found
            caller = Caller(key=key, principal=self.principal_of(key), via="session", csrf=csrf)
            if request.method not in _SAFE_METHODS and request.headers.get(CSRF_HEADER) != csrf:
                raise ForbiddenError("missing or wrong CSRF token (send the X-CSRF-Token header of your session)")
        self.limiter.check(key.id)
        now = time.monotonic()
        if now - self._touched.get(key.id, 0.0) > _TOUCH_EVERY_S:
            self._touched[key.id] = now
            self.store.touch_api_key(key.id)
        return caller


def require_admin(caller: Caller) -> Caller:
    if not caller.is_admin:
        raise ForbiddenError("this needs an admin key")
    return caller
