"""The ``citeline`` command line. Every listing/report command takes ``--json``."""

from __future__ import annotations

import json
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from citeline.config import Settings, load_settings
from citeline.contracts import EVERYONE, Principal
from citeline.errors import CitelineError
from citeline.evaluate.cli import eval_app
from citeline.guard.cli import guard_app, redteam

app = typer.Typer(no_args_is_help=True, add_completion=False, help="citeline: answers with citations from your documents.")
docs_app = typer.Typer(no_args_is_help=True, help="List, inspect and remove ingested documents.")
runs_app = typer.Typer(no_args_is_help=True, help="Ingestion runs.")
keys_app = typer.Typer(no_args_is_help=True, help="API keys: create (shown once), list, revoke.")
traces_app = typer.Typer(no_args_is_help=True, help="Answer traces.")
app.add_typer(docs_app, name="docs")
app.add_typer(runs_app, name="runs")
app.add_typer(keys_app, name="keys")
app.add_typer(traces_app, name="traces")
app.add_typer(eval_app, name="eval")
app.add_typer(guard_app, name="guard")
app.command("redteam")(redteam)

out = Console()
err = Console(stderr=True)


class _State:
    config: Path | None = None
    data_dir: Path | None = None


state = _State()


def _settings(**overrides) -> Settings:
    """Settings from --config / --data-dir (and the environment), plus per-command ``overrides``."""
    if state.data_dir:
        overrides["data_dir"] = state.data_dir
    return load_settings(state.config, **overrides)


def _store(settings: Settings):
    from citeline.store import open_store

    return open_store(settings)


def _emit_json(items) -> None:
    """One JSON object per line (JSON Lines) so scripts can stream it."""
    for item in items:
        sys.stdout.write(json.dumps(item, ensure_ascii=False, default=str) + "\n")


def _groups(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [g.strip() for g in value.split(",") if g.strip()]


def _short_path(path: str) -> str:
    """Path relative to the working directory when it lies below it."""
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return path


@app.callback()
def main(
    config: Annotated[Optional[Path], typer.Option("--config", help="TOML settings file (default ./citeline.toml).")] = None,
    data_dir: Annotated[Optional[Path], typer.Option("--data-dir", help="Data directory (default ./.citeline).")] = None,
) -> None:
    state.config = config
    state.data_dir = data_dir


@app.command()
def init() -> None:
    """Write a commented citeline.toml with the defaults and create the data directory."""
    settings = _settings()
    path = Path("citeline.toml")
    if not path.exists():
        path.write_text(
            "# citeline settings; every key can also be set as CITELINE_<SECTION>__<KEY>\n"
            f'data_dir = "{settings.data_dir}"\ntenant = "{settings.tenant}"\n\n'
            "[ingest]\n# workers = 0          # 0 = one per CPU\n# file_timeout_s = 300\n# max_file_mb = 512\n"
            "# ocr = true\n\n[chunking]\n# target_words = 280\n# max_words = 400\n\n"
            "[embedding]\n# batch_size = 32\n\n"
            "[guard]\n# enabled = true\n"
            "# policy = \"demo/policy.toml\"   # guard policy (TOML or YAML); unset = defaults\n"
        )
        out.print(f"wrote {path}")
    store = _store(settings)
    out.print(f"database {settings.db_path} (schema v{store.schema_version()}), config hash {settings.config_hash()}")
    store.close()


@app.command()
def ingest(
    paths: Annotated[list[str], typer.Argument(help="Files or directories.")],
    acl: Annotated[Optional[str], typer.Option("--acl", help="Comma-separated groups that may read these documents.")] = None,
    tenant: Annotated[Optional[str], typer.Option("--tenant", help="Tenant (default from settings).")] = None,
    password: Annotated[Optional[str], typer.Option("--password", help="Password for encrypted PDFs.")] = None,
    sync: Annotated[bool, typer.Option("--sync", help="Remove documents whose files are gone from these paths.")] = False,
    retry_failed: Annotated[bool, typer.Option("--retry-failed", help="Try unchanged files that failed before again.")] = False,
    embed: Annotated[bool, typer.Option("--embed/--no-embed", help="Compute embeddings (else later: citeline embed).")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Ingest files and folders: extract, chunk, index, embed. Incremental and resumable."""
    from citeline.ingest.embed import OnnxMiniLMEmbedder
    from citeline.ingest.pipeline import IngestPipeline
    from citeline.ingest.progress import RichProgress

    settings = _settings()
    store = _store(settings)
    embedder = OnnxMiniLMEmbedder(settings.embedding) if embed else None
    show = not as_json and err.is_terminal
    try:
        with RichProgress(err, enabled=show) as progress:
            report = IngestPipeline(settings, store, embedder, progress).run(
                paths, acl=_groups(acl), tenant=tenant, password=password, sync=sync, retry_failed=retry_failed,
                embed=embed)
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/]: run `citeline ingest` again to resume where it stopped")
        raise typer.Exit(130) from None
    finally:
        store.close()
    if as_json:
        _emit_json([report.to_json()])
        return
    c = report.counts
    table = Table(title=f"ingest run {report.run_id} · {report.seconds:.1f} s", show_lines=False)
    for col in ("files", "new", "updated", "unchanged", "failed", "removed", "pages", "chunks", "embedded"):
        table.add_column(col, justify="right")
    table.add_row(*(str(c[k]) for k in ("files_seen", "new", "updated", "unchanged", "failed", "removed", "pages",
                                         "chunks", "embedded")))
    out.print(table)
    if report.failures:
        ft = Table(title=f"{len(report.failures)} failed (citeline docs list --failed)", title_style="red")
        ft.add_column("file", overflow="fold")
        ft.add_column("reason", overflow="fold")
        for path, reason in report.failures[:25]:
            ft.add_row(path, reason)
        if len(report.failures) > 25:
            ft.add_row(f"… {len(report.failures) - 25} more", "")
        out.print(ft)
    for path, reason in report.warnings[:10]:
        err.print(f"[yellow]warning[/] {path}: {reason}")


@app.command()
def embed(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Compute embeddings for chunks that have none yet (after --no-embed or an interrupted run)."""
    from citeline.ingest.embed import OnnxMiniLMEmbedder
    from citeline.ingest.pipeline import IngestPipeline
    from citeline.ingest.progress import RichProgress

    settings = _settings()
    store = _store(settings)
    try:
        with RichProgress(err, enabled=not as_json and err.is_terminal) as progress:
            n = IngestPipeline(settings, store, OnnxMiniLMEmbedder(settings.embedding), progress).embed_pending()
    finally:
        store.close()
    if as_json:
        _emit_json([{"embedded": n}])
    else:
        out.print(f"embedded {n} chunks")


@docs_app.command("list")
def docs_list(
    failed: Annotated[bool, typer.Option("--failed", help="Only failed or stale documents.")] = False,
    status: Annotated[Optional[str], typer.Option("--status", help="Comma-separated statuses.")] = None,
    tenant: Annotated[Optional[str], typer.Option("--tenant")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List documents: id, source path, status, pages, chunks, error."""
    settings = _settings()
    store = _store(settings)
    statuses = _groups(status) or (["failed", "stale", "needs_ocr", "partial"] if failed else None)
    docs = store.list_documents(tenant or settings.tenant, status=statuses)
    store.close()
    if as_json:
        _emit_json(d.to_json() for d in docs)
        return
    table = Table(title=f"{len(docs)} documents")
    table.add_column("id", no_wrap=True)
    table.add_column("source", overflow="fold")
    table.add_column("status", no_wrap=True)
    table.add_column("pages", justify="right")
    table.add_column("chunks", justify="right")
    table.add_column("error", overflow="fold")
    colors = {"ok": "green", "partial": "yellow", "needs_ocr": "yellow", "failed": "red", "stale": "red"}
    for d in docs:
        table.add_row(d.id, _short_path(d.source_uri), f"[{colors.get(d.status, 'white')}]{d.status}[/]", str(d.page_count),
                      str(d.chunk_count), d.error or "")
    out.print(table)


@docs_app.command("show")
def docs_show(
    doc_id: str,
    chunks: Annotated[bool, typer.Option("--chunks", help="Also print the chunks.")] = False,
    tenant: Annotated[Optional[str], typer.Option("--tenant")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Show one document (and optionally its chunks with page and offsets)."""
    settings = _settings()
    store = _store(settings)
    t = tenant or settings.tenant
    doc = store.get_document(doc_id, tenant=t)
    if doc is None:
        store.close()
        raise CitelineError(f"no document {doc_id!r} in tenant {t!r} (see citeline docs list)")
    items = store.chunks_of(doc_id, tenant=t) if chunks else []
    store.close()
    data = doc.to_json() | {"metadata": doc.metadata}
    if chunks:
        data["chunk_list"] = [
            {"id": c.id, "page": c.page, "start": c.start, "end": c.end, "heading_path": c.heading_path, "text": c.text}
            for c in items
        ]
    if as_json:
        _emit_json([data])
        return
    for key, value in data.items():
        if key != "chunk_list":
            out.print(f"[bold]{key:>13}[/] {value}")
    for c in items:
        out.print(f"\n[bold cyan]p.{c.page} [{c.start}:{c.end}][/] [dim]{c.heading_path}[/]\n{c.text}")


@docs_app.command("rm")
def docs_rm(
    doc_ids: Annotated[list[str], typer.Argument(help="Document ids.")],
    tenant: Annotated[Optional[str], typer.Option("--tenant")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Remove documents with their chunks and vectors."""
    settings = _settings()
    store = _store(settings)
    results = [{"id": d, "removed": store.delete_document(d, tenant=tenant or settings.tenant)} for d in doc_ids]
    store.close()
    if as_json:
        _emit_json(results)
    else:
        for r in results:
            out.print(f"{r['id']}: {'removed' if r['removed'] else '[red]not found[/]'}")
    if not all(r["removed"] for r in results):
        raise typer.Exit(1)


@runs_app.command("list")
def runs_list(
    limit: Annotated[int, typer.Option("--limit")] = 20,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List ingestion runs with their status and counts."""
    settings = _settings()
    store = _store(settings)
    runs = store.list_runs(limit)
    store.close()
    if as_json:
        _emit_json(r.to_json() for r in runs)
        return
    table = Table(title="ingestion runs")
    for col in ("id", "status", "started", "files", "new", "updated", "failed", "chunks", "config"):
        table.add_column(col)
    for r in runs:
        c = r.counts
        table.add_row(r.id, r.status, r.started_at[:19], *(str(c.get(k, "")) for k in
                      ("files_seen", "new", "updated", "failed", "chunks")), r.config_hash)
    out.print(table)


def _questions(text: str | None, file: Path | None) -> list[str]:
    if file is not None:
        try:
            return [line.rstrip("\n") for line in file.read_text(encoding="utf-8", errors="replace").splitlines()
                    if line.strip()]
        except OSError as e:
            raise CitelineError(f"cannot read {file}: {e.strerror}") from None
    if text is None:
        raise CitelineError("give a question, or --file with one question per line")
    return [text]


def _hit_json(h) -> dict:
    return {"chunk_id": h.chunk_id, "document_id": h.document_id, "title": h.title, "source_path": h.source_uri,
            "page": h.page, "start": h.start, "end": h.end, "heading_path": h.heading_path,
            "score": round(h.score, 5), "text": h.text}


@app.command()
def search(
    query: Annotated[Optional[str], typer.Argument(help="What to look for.")] = None,
    file: Annotated[Optional[Path], typer.Option("--file", help="One query per line; writes JSON Lines.")] = None,
    as_groups: Annotated[Optional[str], typer.Option("--as", help="Search as a member of these groups.")] = None,
    k: Annotated[int, typer.Option("-k", help="Number of results.")] = 5,
    tenant: Annotated[Optional[str], typer.Option("--tenant")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Hybrid search (BM25 + vectors, reranked) over the chunks you may read."""
    from citeline.ingest.embed import OnnxMiniLMEmbedder
    from citeline.retrieve import HybridRetriever

    queries = _questions(query, file)
    settings = _settings()
    store = _store(settings)
    principal = Principal(tenant=tenant or settings.tenant, groups=tuple(_groups(as_groups) or [EVERYONE]))
    try:
        retriever = HybridRetriever(settings, store, OnnxMiniLMEmbedder(settings.embedding))
        results = [retriever.retrieve(q, principal, k=k).hits for q in queries]
    finally:
        store.close()
    if file is not None:
        _emit_json({"query": q, "hits": [_hit_json(h) for h in hits]} for q, hits in zip(queries, results))
        return
    hits = results[0]
    if as_json:
        _emit_json(_hit_json(h) for h in hits)
        return
    if not hits:
        out.print("no results")
    for i, h in enumerate(hits, 1):
        out.print(f"[bold]{i}. {h.title}[/] [dim]{_short_path(h.source_uri)} p.{h.page} · score {h.score:.3f}[/]")
        out.print("   " + " ".join(h.text.split())[:300])


@app.command()
def ask(
    question: Annotated[Optional[str], typer.Argument(help="Your question.")] = None,
    file: Annotated[Optional[Path], typer.Option("--file", help="One question per line; writes JSON Lines.")] = None,
    as_groups: Annotated[Optional[str], typer.Option("--as", help="Ask as a member of these groups.")] = None,
    llm: Annotated[bool, typer.Option("--llm", help="Answer with the configured language model (llm.base_url).")] = False,
    tenant: Annotated[Optional[str], typer.Option("--tenant")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Answer from the documents with citations, or decline when they don't say."""
    from citeline.answer.service import AskService

    questions = _questions(question, file)
    settings = _settings()
    store = _store(settings)
    principal = Principal(tenant=tenant or settings.tenant, groups=tuple(_groups(as_groups) or [EVERYONE]))
    try:
        service = AskService(settings, store)
        if llm:
            service.with_llm()
        if file is not None:
            for q in questions:
                _emit_json([service.ask(q, principal, use_llm=llm).model_dump(mode="json")])
            return
        result = service.ask(questions[0], principal, use_llm=llm)
    finally:
        store.close()
    if as_json:
        _emit_json([result.model_dump(mode="json")])
        return
    out.print(f"[bold]Q:[/] {result.question}")
    if result.decision in ("declined", "blocked"):
        out.print(f"[yellow]{result.answer}[/]")
        if result.reason:
            out.print(f"[dim]({result.reason})[/]")
        return
    out.print(f"[bold]A:[/] {result.answer}")
    for c in result.citations:
        out.print(f"  [cyan][{c.n}][/] {c.title} — {_short_path(c.source_path)}, p.{c.page}")
    if result.decision == "fallback":
        out.print(f"[yellow]language model unavailable ({result.reason}); this is the extractive answer[/]")
    out.print(f"[dim]confidence {result.confidence:.2f} · {result.timings_ms.get('total', 0):.0f} ms[/]")


@app.command()
def serve(
    host: Annotated[Optional[str], typer.Option("--host", help="Bind address (default server.host, 127.0.0.1).")] = None,
    port: Annotated[Optional[int], typer.Option("--port", help="Port (default server.port, 8000).")] = None,
    llm: Annotated[Optional[bool], typer.Option("--llm/--no-llm", help="Offer the configured language model "
                                                 "(default: when llm.base_url is set).")] = None,
) -> None:
    """Start the HTTP server: JSON API, OpenAI-compatible /v1, web UI, /metrics."""
    import uvicorn

    from citeline.server.app import create_app

    settings = _settings()
    h, p = host or settings.server.host, port or settings.server.port
    err.print(f"citeline serving {settings.db_path} on http://{h}:{p} (config {settings.config_hash()})")
    uvicorn.run(create_app(settings, llm=llm), host=h, port=p, log_level="warning", access_log=False)


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option("--role", help="admin (everything of its tenant) or member (ask, search, "
                                      "feedback, own traces).")] = "member",
    tenant: Annotated[Optional[str], typer.Option("--tenant", help="Tenant (default from settings).")] = None,
    groups: Annotated[Optional[str], typer.Option("--groups", help="Comma-separated ACL groups (default everyone).")] = None,
    name: Annotated[str, typer.Option("--name", help="A label: who or what uses the key.")] = "",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Create an API key. The key is printed once; only its hash is stored."""
    if role not in ("admin", "member"):
        raise CitelineError(f"--role must be admin or member, not {role!r}")
    settings = _settings()
    store = _store(settings)
    try:
        rec, token = store.create_api_key(tenant=tenant or settings.tenant, role=role,
                                          groups=_groups(groups) or [EVERYONE], name=name)
    finally:
        store.close()
    if as_json:
        _emit_json([rec.to_json() | {"key": token}])
        return
    out.print(f"created {role} key [bold]{rec.id}[/] for tenant {rec.tenant}, groups {', '.join(rec.groups)}")
    out.print("key (shown only now; store it safely):")
    out.print(token, markup=False, highlight=False, soft_wrap=True)


@keys_app.command("list")
def keys_list(
    tenant: Annotated[Optional[str], typer.Option("--tenant", help="Only this tenant.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List API keys (never their secrets)."""
    settings = _settings()
    store = _store(settings)
    keys = store.list_api_keys(tenant)
    store.close()
    if as_json:
        _emit_json(k.to_json() for k in keys)
        return
    table = Table(title=f"{len(keys)} API keys")
    for col in ("id", "name", "role", "tenant", "groups", "created", "last used", "revoked"):
        table.add_column(col)
    for k in keys:
        table.add_row(k.id, k.name, k.role, k.tenant, ", ".join(k.groups), (k.created_at or "")[:19],
                      (k.last_used_at or "")[:19], (k.revoked_at or "")[:19])
    out.print(table)


@keys_app.command("revoke")
def keys_revoke(key_ids: Annotated[list[str], typer.Argument(help="Key ids (from citeline keys list).")]) -> None:
    """Revoke keys: requests and web sessions with them stop working at once."""
    settings = _settings()
    store = _store(settings)
    results = {k: store.revoke_api_key(k) for k in key_ids}
    store.close()
    for k, ok in results.items():
        out.print(f"{k}: {'revoked' if ok else '[red]not found or already revoked[/]'}")
    if not all(results.values()):
        raise typer.Exit(1)


@traces_app.command("export")
def traces_export(
    fmt: Annotated[str, typer.Option("--format", help="jsonl (one trace per line).")] = "jsonl",
    tenant: Annotated[Optional[str], typer.Option("--tenant", help="Only this tenant.")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="File to write (default stdout).")] = None,
) -> None:
    """Export traces with their feedback, oldest first."""
    if fmt != "jsonl":
        raise CitelineError(f"--format must be jsonl, not {fmt!r}")
    settings = _settings()
    store = _store(settings)
    n = 0
    try:
        with (output.open("w", encoding="utf-8") if output else nullcontext(sys.stdout)) as fh:
            for trace in store.iter_traces(tenant):
                fh.write(json.dumps(trace.to_json(), ensure_ascii=False) + "\n")
                n += 1
    finally:
        store.close()
    if output:
        err.print(f"wrote {n} traces to {output}")


def run() -> None:
    try:
        app()
    except CitelineError as e:
        err.print(f"[red]error[/] ({e.stage}): {e}")
        sys.exit(1)
