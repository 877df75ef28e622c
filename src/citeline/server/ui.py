"""The web UI: server-rendered pages (Jinja2) with a little inline JavaScript.

Login exchanges an API key for a session cookie (``HttpOnly``, ``SameSite=Strict``, ``Secure``
over https); pages read through the same permission-filtered store calls as the API; scripts
call the JSON API with the session's CSRF token. Every page but /login needs a session.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from citeline.errors import CitelineError, ForbiddenError
from citeline.server.api import state
from citeline.server.auth import SESSION_COOKIE, Caller

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def _page(request: Request, name: str, context: dict, *, status: int = 200,
          caller: Caller | None = None) -> HTMLResponse:
    nonce = secrets.token_urlsafe(16)
    response = templates.TemplateResponse(request, name, {"nonce": nonce, "me": caller, **context},
                                          status_code=status)
    response.headers["Content-Security-Policy"] = (
        f"default-src 'self'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; img-src 'self' data:;"
        " connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


def _session_caller(request: Request) -> Caller:
    """The logged-in user; API keys work too (for scripts), but the pages are meant for sessions."""
    return state(request).auth.authenticate(request)


def _error_page(request: Request, error: CitelineError, caller: Caller | None, status: int) -> HTMLResponse:
    return _page(request, "error.html", {"status": status, "message": str(error)}, status=status, caller=caller)


def _safe_next(target: str | None) -> str:
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


# ---------------------------------------------------------------- login


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/") -> HTMLResponse:  # noqa: A002 - the query parameter's name
    return _page(request, "login.html", {"next": _safe_next(next), "error": None})


@router.post("/login")
def login(request: Request, key: Annotated[str, Form(max_length=200)],
          next: Annotated[str, Form(max_length=500)] = "/"):  # noqa: A002
    st = state(request)
    record = st.store.verify_api_key(key)
    if record is None:
        return _page(request, "login.html", {"next": _safe_next(next), "error": "That key is not valid (or was "
                                             "revoked)."}, status=401)
    ttl = st.settings.server.session_hours * 3600
    token, _ = st.store.create_session(record.id, ttl_s=ttl)
    response = RedirectResponse(_safe_next(next), status_code=303)
    secure = st.settings.server.secure_cookies
    if secure is None:
        secure = request.url.scheme == "https"
    response.set_cookie(SESSION_COOKIE, token, max_age=int(ttl), httponly=True, samesite="strict", secure=secure,
                        path="/")
    return response


@router.post("/logout")
def logout(request: Request):
    caller = _session_caller(request)  # CSRF-checked: a session POST needs the token
    token = request.cookies.get(SESSION_COOKIE)
    if token and caller.via == "session":
        state(request).store.delete_session(token)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# ---------------------------------------------------------------- pages


@router.get("/", response_class=HTMLResponse)
def chat_page(request: Request) -> HTMLResponse:
    caller = _session_caller(request)
    st = state(request)
    return _page(request, "chat.html", {"csrf": caller.csrf or "", "llm": st.service.llm is not None},
                 caller=caller)


@router.get("/documents", response_class=HTMLResponse)
def documents_page(request: Request) -> HTMLResponse:
    caller = _session_caller(request)
    st = state(request)
    if caller.is_admin:
        docs = st.store.list_documents(caller.tenant)
        uploads = st.store.list_uploads(tenant=caller.tenant, limit=50)
    else:
        docs, uploads = st.store.readable_documents(caller.principal), []
    return _page(request, "documents.html", {"docs": docs, "uploads": uploads, "csrf": caller.csrf or "",
                                             "max_mb": st.settings.server.max_upload_mb,
                                             "types": ", ".join(st.settings.ingest.include)}, caller=caller)


@router.get("/documents/{doc_id}", response_class=HTMLResponse)
def document_page(request: Request, doc_id: str, page: Annotated[int, Query(ge=1)] = 1,
                  start: Annotated[int | None, Query(ge=0)] = None,
                  end: Annotated[int | None, Query(ge=0)] = None) -> HTMLResponse:
    caller = _session_caller(request)
    st = state(request)
    doc = st.store.readable_document(doc_id, caller.principal)
    found = st.store.readable_page(doc_id, page, caller.principal) if doc is not None else None
    if found is None:
        return _error_page(request, CitelineError(f"no document {doc_id!r} (or no page {page})"), caller, 404)
    text = found.text
    if start is not None and end is not None and 0 <= start < end <= len(text):
        parts = (text[:start], text[start:end], text[end:])
    else:
        parts = (text, "", "")
    return _page(request, "document.html", {"doc": doc, "page": found, "before": parts[0], "quote": parts[1],
                                            "after": parts[2], "pages": range(1, doc.page_count + 1)},
                 caller=caller)


@router.get("/admin/traces", response_class=HTMLResponse)
def traces_page(request: Request, decision: str | None = None, rating: str | None = None,
                since: str | None = None) -> HTMLResponse:
    caller = _session_caller(request)
    if not caller.is_admin:
        return _error_page(request, ForbiddenError("this page is for admins"), caller, 403)
    decision = decision if decision in ("answered", "declined", "blocked", "fallback") else None
    rating_value = {"up": 1, "down": -1}.get(rating or "")
    since = (since or "").strip()[:40] or None
    traces = state(request).store.list_traces(caller.key, decision=decision, rating=rating_value, since=since,
                                              limit=200)
    return _page(request, "traces.html", {"traces": traces, "decision": decision or "", "rating": rating or "",
                                          "since": since or ""}, caller=caller)


@router.get("/admin/traces/{trace_id}", response_class=HTMLResponse)
def trace_page(request: Request, trace_id: str) -> HTMLResponse:
    caller = _session_caller(request)
    if not caller.is_admin:
        return _error_page(request, ForbiddenError("this page is for admins"), caller, 403)
    trace = state(request).store.get_trace(trace_id, caller.key)
    if trace is None:
        return _error_page(request, CitelineError(f"no trace {trace_id!r}"), caller, 404)
    return _page(request, "trace.html", {"t": trace, "r": trace.response}, caller=caller)


@router.get("/admin/evals", response_class=HTMLResponse)
def evals_page(request: Request) -> HTMLResponse:
    caller = _session_caller(request)
    if not caller.is_admin:
        return _error_page(request, ForbiddenError("this page is for admins"), caller, 403)
    runs = state(request).store.list_eval_runs(caller.tenant, 200)
    return _page(request, "evals.html", {"runs": runs}, caller=caller)


@router.get("/admin/evals/{run_id}", response_class=HTMLResponse)
def eval_page(request: Request, run_id: str, compare: str | None = None) -> HTMLResponse:
    """The run's self-contained report, as ``citeline eval report`` writes it."""
    from citeline.evaluate.compare import compare as paired
    from citeline.evaluate.report import render
    from citeline.evaluate.runner import load_run

    caller = _session_caller(request)
    if not caller.is_admin:
        return _error_page(request, ForbiddenError("this page is for admins"), caller, 403)
    store = state(request).store
    try:
        data = load_run(store, run_id, caller.tenant)
        other = load_run(store, compare, caller.tenant) if compare else None
        comparison = paired(other, data) if other else None
    except CitelineError as e:
        return _error_page(request, e, caller, 404 if "no evaluation run" in str(e) else 422)
    calibration = store.latest_calibration("correctness") if "correctness" in data.metrics else None
    nonce = secrets.token_urlsafe(16)
    response = HTMLResponse(render(data, comparison=comparison, other=other, calibration=calibration, nonce=nonce))
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; style-src 'nonce-{nonce}'; img-src data:; frame-ancestors 'none'; base-uri 'none'")
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


def citation_href(c: dict) -> str:
    return (f"/documents/{quote(c['document_id'])}?page={int(c['page'])}&start={int(c['start'])}"
            f"&end={int(c['end'])}")


templates.env.globals["citation_href"] = citation_href
