"""What every benchmark records: the machine, versions, config hash, command, peak memory, timings."""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import shlex
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
WORK = BENCH_DIR / ".work"  # gitignored: generated corpora, throwaway data dirs
MB = 2**20


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info() -> dict:
    vm = psutil.virtual_memory()
    return {
        "cpu_count": os.cpu_count(),
        "cpu_physical": psutil.cpu_count(logical=False),
        "cpu_model": cpu_model(),
        "ram_gb": round(vm.total / 2**30, 1),
        "ram_available_gb": round(vm.available / 2**30, 1),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }


def versions(*packages: str) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for p in packages:
        try:
            out[p] = importlib.metadata.version(p)
        except importlib.metadata.PackageNotFoundError:
            out[p] = None
    return out


def command_line() -> str:
    """The command that reproduces this run, relative to the repository root."""
    script = os.path.relpath(os.path.abspath(sys.argv[0]), REPO)
    return " ".join(shlex.quote(a) for a in ["python", script, *sys.argv[1:]])


def citeline_env() -> list[str]:
    """Names (not values) of settings overrides a benchmark run would silently pick up."""
    names = sorted(k for k in os.environ if k.startswith("CITELINE_"))
    if Path("citeline.toml").is_file():
        names.append("./citeline.toml")
    return names


def write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=_jsonable) + "\n")
    os.replace(tmp, path)


def _jsonable(o):
    if hasattr(o, "__dataclass_fields__"):
        return asdict(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


@dataclass
class Peak:
    total_mb: float = 0.0  # main process + all descendants, summed at one instant
    main_mb: float = 0.0
    max_children: int = 0
    samples: int = 0


@dataclass
class Stage:
    name: str
    seconds: float = 0.0
    peak: Peak = field(default_factory=Peak)
    cpu_seconds: float = 0.0  # user + system of this process and its reaped children
    loadavg_start: list[float] = field(default_factory=list)
    loadavg_end: list[float] = field(default_factory=list)


class RssMonitor:
    """Samples RSS of this process and all its descendants every ``interval`` seconds in a thread.

    ``with monitor.stage("name") as st:`` times a stage and records the peaks seen during it;
    the overall peak covers everything since :meth:`start`. The sum counts pages shared between
    processes once per process (RSS, not PSS), so it is an upper bound of real memory use.
    """

    def __init__(self, interval: float = 0.05):
        self.interval = interval
        self.proc = psutil.Process()
        self.overall = Peak()
        self._open: list[Peak] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rss-monitor", daemon=True)

    def start(self) -> RssMonitor:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def sample(self) -> None:
        try:
            main = self.proc.memory_info().rss
            kids = self.proc.children(recursive=True)
        except psutil.Error:
            return
        total, n = main, 0
        for c in kids:
            try:
                total += c.memory_info().rss
                n += 1
            except psutil.Error:  # exited between listing and reading
                pass
        with self._lock:
            for p in (self.overall, *self._open):
                p.total_mb = max(p.total_mb, total / MB)
                p.main_mb = max(p.main_mb, main / MB)
                p.max_children = max(p.max_children, n)
                p.samples += 1

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def _cpu(self) -> float:
        t = self.proc.cpu_times()
        return t.user + t.system + t.children_user + t.children_system

    @contextmanager
    def stage(self, name: str) -> Iterator[Stage]:
        st = Stage(name=name, loadavg_start=[round(x, 2) for x in os.getloadavg()])
        with self._lock:
            self._open.append(st.peak)
        self.sample()
        cpu0 = self._cpu()
        t0 = time.perf_counter()
        try:
            yield st
        finally:
            st.seconds = time.perf_counter() - t0
            st.cpu_seconds = self._cpu() - cpu0
            self.sample()
            with self._lock:
                self._open.remove(st.peak)
            st.loadavg_end = [round(x, 2) for x in os.getloadavg()]


def fmt_duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
