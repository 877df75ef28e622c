"""Rich progress display for ingestion: files, pages, chunks, embeddings per second, ETA."""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from citeline.ingest.pipeline import Progress as ProgressCallbacks


class RichProgress(ProgressCallbacks):
    def __init__(self, console: Console, enabled: bool = True):
        self.console = console
        self._t0 = time.perf_counter()
        self._pages = self._chunks = self._embedded = 0
        self._bar = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description:<10}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            disable=not enabled,
            transient=False,
        )
        self._files = self._bar.add_task("files", total=None, detail="")
        self._embed = self._bar.add_task("embeddings", total=None, detail="", visible=False)

    def __enter__(self) -> RichProgress:
        self._bar.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._bar.__exit__(*exc)

    def _rate(self, n: int) -> float:
        return n / max(time.perf_counter() - self._t0, 1e-6)

    def files_total(self, n: int) -> None:
        self._t0 = time.perf_counter()
        self._bar.update(self._files, total=n)

    def file_done(self, path: str, status: str, pages: int, chunks: int) -> None:
        self._pages += pages
        self._chunks += chunks
        detail = f"{self._pages} pages ({self._rate(self._pages):.0f}/s) · {self._chunks} chunks"
        self._bar.update(self._files, advance=1, detail=detail)

    def embed_total(self, n: int) -> None:
        self._bar.update(self._embed, total=n, visible=True)

    def embedded(self, n: int) -> None:
        self._embedded += n
        task = self._bar.tasks[self._embed]
        rate = task.speed or 0.0
        self._bar.update(self._embed, advance=n, visible=True, detail=f"{rate:.1f}/s")
