"""The FastAPI application: state, middleware, and the one place errors become HTTP statuses.

``create_app(settings)`` is cheap; the embedder, store and background upload worker start in
the lifespan (``citeline serve`` or a test client's ``with`` block). Every route but
``/healthz`` needs credentials (see :mod:`citeline.server.auth`).
"""

from __future__ import annotations

import logging
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from citeline.config import Settings, load_settings
from citeline.errors import (
    AuthError,
    CitelineError,
    ConfigError,
    MissingDependencyError,
    ModelError,
    NotFoundError,
    RateLimitError,
    RequestError,
)
from citeline.server.auth import Authenticator
from citeline.server.limits import BodyLimitMiddleware, RequestIdMiddleware
from citeline.server.metrics import Metrics, MetricsMiddleware
from citeline.server.uploads import UploadWorker

log = logging.getLogger("citeline.server")


@dataclass
class ServerState:
    settings: Settings
    store: object
    service: object
    auth: Authenticator
    metrics: Metrics
    uploads: UploadWorker


def http_status(error: Exception) -> int:
    """The HTTP status for an error; the only mapping from the error tree to HTTP."""
    if isinstance(error, RequestError):
        return error.status
    if isinstance(error, NotFoundError):
        return 404
    if isinstance(error, ModelError):
        return 502
    if isinstance(error, (ConfigError, MissingDependencyError)):
        return 503
    if isinstance(error, CitelineError):
        return 400
    return 500


def error_body(kind: str, message: str, request_id: str | None, **extra) -> dict:
    return {"error": {"type": kind, "message": message, "request_id": request_id, **extra}}


def _wants_html(request: Request) -> bool:
    path = request.url.path
    return not (path.startswith("/api/") or path.startswith("/v1/") or path == "/metrics") and \
        "text/html" in request.headers.get("accept", "")


def create_app(settings: Settings | None = None, *, embedder=None, llm: bool | None = None) -> FastAPI:
    """``embedder``: share an already loaded embedder (tests); ``llm``: answer with the configured model
    endpoint when a request asks for it (default: when ``llm.base_url`` is set)."""
    settings = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        from citeline.answer.service import AskService
        from citeline.store import open_store

        store = open_store(settings)
        service = AskService(settings, store, embedder)
        if llm if llm is not None else bool(settings.llm.base_url):
            service.with_llm()
        service.warm_up()
        metrics = app.state.metrics
        uploads = UploadWorker(settings, service.embedder, metrics)
        uploads.start()
        app.state.citeline = ServerState(settings=settings, store=store, service=service,
                                         auth=Authenticator(store, settings.server), metrics=metrics,
                                         uploads=uploads)
        try:
            yield
        finally:
            uploads.stop()
            if service.llm is not None:
                service.llm.provider.close()
            store.close()

    app = FastAPI(title="citeline", version=_version(), lifespan=lifespan,
                  description="Answers with citations from your documents. Authenticate with "
                              "`Authorization: Bearer <api key>` (create one with `citeline keys create`).")
    app.state.metrics = Metrics()

    @app.exception_handler(CitelineError)
    async def _citeline_error(request: Request, exc: CitelineError):
        status = http_status(exc)
        rid = getattr(request.state, "request_id", None)
        if isinstance(exc, AuthError) and _wants_html(request):
            return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
        headers = {}
        if isinstance(exc, RateLimitError):
            request.app.state.metrics.rate_limited.inc()
            headers["Retry-After"] = str(max(1, round(exc.retry_after_s)))
        if isinstance(exc, AuthError):
            headers["WWW-Authenticate"] = "Bearer"
        return JSONResponse(error_body(type(exc).__name__, str(exc), rid, stage=exc.stage), status_code=status,
                            headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError):
        fields = [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()]
        message = "; ".join(f"{f['field']}: {f['message']}" for f in fields) or "invalid request"
        return JSONResponse(error_body("ValidationError", message, getattr(request.state, "request_id", None),
                                       fields=fields), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        return JSONResponse(error_body("HTTPError", str(exc.detail), getattr(request.state, "request_id", None)),
                            status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        rid = getattr(request.state, "request_id", None)
        log.exception("unhandled error in request %s", rid)
        return JSONResponse(error_body("InternalError", "internal error; the server log has the details under this "
                                       "request id", rid), status_code=500)

    from citeline.server import api, openai, ui

    app.include_router(api.router)
    app.include_router(openai.router)
    app.include_router(ui.router)

    app.add_middleware(BodyLimitMiddleware, default_kb=settings.server.max_body_kb,
                       upload_mb=settings.server.max_upload_mb, upload_paths=("/api/documents",))
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    app.add_middleware(RequestIdMiddleware)
    return app


def _version() -> str:
    from citeline import __version__

    return __version__


def new_request_id() -> str:
    return uuid.uuid4().hex[:16]
