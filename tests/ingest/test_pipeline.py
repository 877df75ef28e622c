from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from citeline.config import load_settings
from citeline.contracts import Principal
from citeline.ingest.pipeline import IngestPipeline, Progress
from citeline.store import SqliteStore
from tests.conftest import SHARED_PDF
from tests.docgen import make_docx, make_pdf, paragraph


def small_corpus(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    make_pdf(root / "manual.pdf", [[("heading", "Setup"), ("para", paragraph(80, "Pair the hub first."))],
                                   [("heading", "Warranty"), ("para", "The warranty lasts 36 months.")]])
    make_docx(root / "policy.docx", [("h1", "Expenses"), ("para", "Submit receipts within 30 days.")])
    (root / "faq.md").write_text("# FAQ\n\nThe hub blinks blue while pairing.\n")
    (root / "page.html").write_text("<html><body><nav>menu</nav><main><h1>Returns</h1><p>Returns are free.</p></main>"
                                    "</body></html>")
    (root / "ignored.xyz").write_text("not picked up from a directory")
    return root


def run(settings, paths, **kw):
    store = SqliteStore(settings.db_path)
    try:
        return IngestPipeline(settings, store, None).run([str(p) for p in paths], embed=False, **kw), store
    finally:
        store.close()


def docs(settings, **kw):
    store = SqliteStore(settings.db_path)
    try:
        return {Path(d.source_uri).name: d for d in store.list_documents(settings.tenant, **kw)}
    finally:
        store.close()


def test_incremental_update_sync_and_acl(settings, tmp_path):
    corpus = small_corpus(tmp_path / "corpus")
    report, _ = run(settings, [corpus])
    assert report.counts["new"] == 4 and report.counts["failed"] == 0
    assert set(docs(settings)) == {"manual.pdf", "policy.docx", "faq.md", "page.html"}
    assert docs(settings)["manual.pdf"].page_count == 2

    again, _ = run(settings, [corpus])
    assert again.counts["unchanged"] == 4 and again.counts["new"] == again.counts["updated"] == 0

    (corpus / "faq.md").write_text("# FAQ\n\nThe hub blinks green when it is online.\n")
    os.utime(corpus / "page.html")  # touched but identical content: not re-indexed
    (corpus / "policy.docx").unlink()
    upd, _ = run(settings, [corpus], sync=True)
    assert upd.counts["updated"] == 1 and upd.counts["removed"] == 1 and upd.counts["unchanged"] == 2
    store = SqliteStore(settings.db_path)
    p = Principal(settings.tenant)
    assert store.keyword_search("blinks blue", p)[0].text.endswith("green when it is online.")
    assert store.keyword_search("receipts", p) == []
    store.close()

    acl, _ = run(settings, [corpus], acl=["hr"])
    assert acl.counts["unchanged"] == 3
    store = SqliteStore(settings.db_path)
    assert store.keyword_search("warranty", Principal(settings.tenant, ("everyone",))) == []
    assert store.keyword_search("warranty", Principal(settings.tenant, ("hr",)))
    store.close()


def test_every_shared_pdf_is_ingested_or_rejected_with_reason(settings):
    settings = settings.model_copy(update={"ingest": settings.ingest.model_copy(update={"file_timeout_s": 60})})
    report, _ = run(settings, [SHARED_PDF])
    files = [p for p in SHARED_PDF.rglob("*") if p.suffix.lower() in settings.ingest.include]
    store = SqliteStore(settings.db_path)
    all_docs = store.list_documents(settings.tenant)
    store.close()
    assert report.counts["files_seen"] == len(files) == len(all_docs)
    got = docs(settings)
    assert sum(p.suffix == ".pdf" for p in files) > 200
    for name, d in got.items():
        assert d.status in ("ok", "partial", "needs_ocr", "failed"), name
        if d.status == "failed":
            assert d.error and "\n" not in d.error
    assert got["libreoffice-writer-password.pdf"].error == "PDF is encrypted: pass --password"
    assert got["linn.pdf"].status == "needs_ocr"
    assert 150 < report.counts["new"] < len(files)
    assert 20 < report.counts["failed"] < 60


def test_encrypted_sample_opens_with_password(settings):
    sample = SHARED_PDF / "py-pdf-sample-files/005-libreoffice-writer-password/libreoffice-writer-password.pdf"
    run(settings, [sample])
    assert docs(settings)["libreoffice-writer-password.pdf"].status == "failed"
    report, _ = run(settings, [sample], password="openpassword")
    assert report.counts["updated"] == 1
    d = docs(settings)["libreoffice-writer-password.pdf"]
    assert d.status == "ok" and d.chunk_count >= 1


def test_bad_files_never_stop_the_batch(settings, tmp_path):
    root = tmp_path / "bad"
    root.mkdir()
    (root / "zero.pdf").write_bytes(b"")
    (root / "notpdf.pdf").write_bytes(b"<html>I am not a PDF</html>")
    (root / "broken.docx").write_bytes(b"PK\x03\x04garbage")
    (root / "dangling.md").symlink_to(root / "missing-target.md")
    (root / "good.md").write_text("# Good\n\nThis file is fine.\n")
    loop = root / "loop"
    loop.symlink_to(root, target_is_directory=True)
    report, _ = run(settings, [root, tmp_path / "does-not-exist"])
    got = docs(settings)
    assert got["good.md"].status == "ok"
    assert got["zero.pdf"].error == "empty file (0 bytes)"
    assert got["notpdf.pdf"].error.startswith("not a PDF")
    assert got["broken.docx"].status == "failed"
    assert got["dangling.md"].error == "broken symbolic link"
    assert report.counts["files_seen"] == 5  # the loop adds nothing twice
    assert any("no such file" in w for _, w in report.warnings)


def test_per_file_timeout(tmp_path):
    settings = load_settings(data_dir=tmp_path / "data", ingest={"workers": 2, "file_timeout_s": 1.5})
    root = tmp_path / "slow"
    root.mkdir()
    line = "- item with **bold** and `code` and a [link](http://example.com) " * 4 + "\n"
    (root / "slow.md").write_text(line * 150_000)  # ~40 MB of markdown: parsing takes far longer than 1.5 s
    (root / "ok.txt").write_text("Small and fine.")
    t0 = time.monotonic()
    run(settings, [root])
    got = docs(settings)
    assert got["ok.txt"].status == "ok"
    assert got["slow.md"].error == "timed out after 2 s (ingest.file_timeout_s)"
    assert time.monotonic() - t0 < 60


def test_worker_memory_cap(tmp_path):
    settings = load_settings(data_dir=tmp_path / "data", ingest={"workers": 1, "worker_memory_mb": 300})
    root = tmp_path / "big"
    root.mkdir()
    (root / "huge.csv").write_text("a,b,c\n" + "x" * 200_000_000 + ",1,2\n")  # parsing needs well over 300 MB
    (root / "ok.txt").write_text("Small and fine.")
    run(settings, [root])
    got = docs(settings)
    assert got["ok.txt"].status == "ok"
    err = got["huge.csv"].error
    assert got["huge.csv"].status == "failed" and ("out of memory" in err or "crashed" in err), err


def test_file_changed_or_removed_between_discovery_and_extraction(settings, tmp_path):
    root = tmp_path / "c"
    root.mkdir()
    (root / "a.md").write_text("# A\n\nOriginal text.\n")
    (root / "b.md").write_text("# B\n\nWill vanish.\n")

    class Meddler(Progress):
        def files_total(self, n):
            (root / "a.md").write_text("# A\n\nReplaced text while ingest was running.\n")
            (root / "b.md").unlink()

    store = SqliteStore(settings.db_path)
    IngestPipeline(settings, store, None, Meddler()).run([str(root)], embed=False)
    got = {Path(d.source_uri).name: d for d in store.list_documents(settings.tenant)}
    assert got["b.md"].error == "file disappeared before it could be read"
    chunks = store.chunks_of(got["a.md"].id, tenant=settings.tenant)
    assert "Replaced text" in chunks[0].text
    import hashlib

    assert got["a.md"].content_hash == hashlib.sha256((root / "a.md").read_bytes()).hexdigest()
    store.close()


def test_ten_thousand_tiny_files(settings, tmp_path):
    root = tmp_path / "many"
    for i in range(10_000):
        d = root / f"d{i // 500:02d}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"note-{i:05d}.txt").write_text(f"Note {i}: the access code for room {i} is {i * 7 % 1000}.")
    t0 = time.monotonic()
    report, _ = run(settings, [root])
    first = time.monotonic() - t0
    assert report.counts["new"] == 10_000 and report.counts["failed"] == 0
    t0 = time.monotonic()
    again, _ = run(settings, [root])
    assert again.counts["unchanged"] == 10_000
    assert time.monotonic() - t0 < first / 3  # re-runs skip by size+mtime without extracting


def test_permission_denied_file_and_directory(tmp_path):
    """Root ignores file modes, so as root the ingest runs without the DAC-override capabilities
    (setpriv) over files owned by another user; otherwise plain modes do the job."""
    base = tmp_path / "perm"
    (base / "docs" / "locked-dir").mkdir(parents=True)
    (base / "docs" / "open.md").write_text("# Open\n\nEveryone can read this.\n")
    (base / "docs" / "secret.md").write_text("# Secret\n\nOnly its owner.\n")
    (base / "docs" / "locked-dir" / "inner.md").write_text("# Inner\n\nHidden.\n")
    prefix: list[str] = []
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("setpriv (util-linux) is needed to drop root's file-permission override")
        for p in (base / "docs" / "secret.md", base / "docs" / "locked-dir"):
            os.chown(p, 65534, 65534)
        prefix = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"]
    os.chmod(base / "docs" / "secret.md", 0o600 if prefix else 0o000)
    os.chmod(base / "docs" / "locked-dir", 0o700 if prefix else 0o000)
    try:
        exe = Path(sys.executable).parent / "citeline"
        env = {**os.environ, "CITELINE_CONFIG": str(base / "none.toml")}
        proc = subprocess.run([*prefix, str(exe), "--data-dir", str(base / "data"), "ingest", str(base / "docs"),
                               "--no-embed", "--json"], env=env, cwd=base, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        import json

        report = json.loads(proc.stdout)
        assert report["new"] == 1 and report["failed"] == 1
        assert report["failures"] == [{"source_path": str(base / "docs" / "secret.md"), "error": "permission denied"}]
        assert report["warnings"] == [{"source_path": str(base / "docs" / "locked-dir"), "warning": "permission denied"}]
    finally:
        os.chmod(base / "docs" / "locked-dir", 0o755)


def test_no_embed_means_no_embedding_even_with_an_embedder(settings, tmp_path, embedder):
    corpus = small_corpus(tmp_path / "c")
    store = SqliteStore(settings.db_path)
    report = IngestPipeline(settings, store, embedder).run([str(corpus)], embed=False)
    assert report.counts["embedded"] == 0 and store.count_pending_embeddings(embedder.name) > 0
    store.close()
