"""Find the files to ingest: follows symlinks without looping, never raises on a bad path."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FileEntry:
    path: str  # absolute, symlinks kept: the document's source URI
    size: int
    mtime: float


@dataclass(frozen=True, slots=True)
class FileProblem:
    path: str
    reason: str
    is_file: bool  # True: a file we could not read (becomes a failed document); False: a directory


def _reason(e: OSError) -> str:
    if isinstance(e, PermissionError):
        return "permission denied"
    if e.errno == 40:  # ELOOP
        return "symbolic link loop"
    return e.strerror or type(e).__name__


def discover(paths: Iterable[str], include: Iterable[str]) -> Iterator[FileEntry | FileProblem]:
    exts = {e.lower() for e in include}
    seen_dirs: set[tuple[int, int]] = set()
    seen_files: set[str] = set()

    def file_entry(path: str, explicit: bool) -> FileEntry | FileProblem | None:
        try:
            st = os.stat(path)
        except OSError as e:
            if os.path.islink(path):
                return FileProblem(path, "broken symbolic link" if e.errno == 2 else _reason(e), True)
            return FileProblem(path, _reason(e), True)
        if not stat.S_ISREG(st.st_mode):
            return FileProblem(path, "not a regular file", True) if explicit else None
        if not os.access(path, os.R_OK):
            return FileProblem(path, "permission denied", True)
        return FileEntry(path, st.st_size, st.st_mtime)

    def walk(top: str) -> Iterator[FileEntry | FileProblem]:
        try:
            st = os.stat(top)
        except OSError as e:
            yield FileProblem(top, _reason(e), False)
            return
        key = (st.st_dev, st.st_ino)
        if key in seen_dirs:
            return  # symlink loop or the same directory reached twice
        seen_dirs.add(key)
        try:
            with os.scandir(top) as it:
                entries = sorted(it, key=lambda d: d.name)
        except OSError as e:
            yield FileProblem(top, _reason(e), False)
            return
        for d in entries:
            if d.name.startswith("."):
                continue
            path = os.path.join(top, d.name)
            try:
                is_dir = d.is_dir(follow_symlinks=True)
            except OSError:
                is_dir = False
            if is_dir:
                yield from walk(path)
            elif os.path.splitext(d.name)[1].lower() in exts:
                got = file_entry(path, explicit=False)
                if got is not None:
                    yield got

    for raw in paths:
        top = os.path.abspath(os.path.expanduser(raw))
        if os.path.isdir(top):
            items: Iterable[FileEntry | FileProblem] = walk(top)
        else:
            got = file_entry(top, explicit=True)
            if got is None:
                continue
            if isinstance(got, FileProblem) and not os.path.lexists(top):
                got = FileProblem(top, "no such file or directory", False)
            items = [got]
        for item in items:
            if item.path not in seen_files:
                seen_files.add(item.path)
                yield item
