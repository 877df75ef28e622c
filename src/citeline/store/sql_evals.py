"""Evaluation runs, their per-example results and judge calibrations, shared by the SQL stores.

A run is written example by example as it goes, so a run that was stopped (a judge endpoint
failing, Ctrl-C, a killed process) keeps what it did and resumes from there. A running run records
its owner (host, pid and the process's start time); a run whose owner on this host is gone (killed,
out of memory, power cut) reads as ``interrupted`` with the reason, without anyone having to mark
it. An owner on another host cannot be checked and stays ``running``.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Iterator, Sequence
from functools import cache
from typing import Any

import psutil

from citeline.contracts import EvalRunRecord

_RUN_COLS = ("id, tenant, dataset_name, dataset_hash, config_hash, status, created_at, label, repeats, n_examples,"
             " settings, summary, error, finished_at, owner")


@cache
def _started(pid: int) -> float:
    return round(psutil.Process(pid).create_time(), 2)


def run_owner() -> str:
    """This process, as an eval run's owner: host, pid and start time (a pid alone can be reused)."""
    return json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "started": _started(os.getpid())})


def owner_state(owner: str | None) -> tuple[str, str]:
    """("alive" | "gone" | "unknown", description) of an eval run's owner: alive or gone only when it
    ran on this host; an owner elsewhere, or none recorded (runs from before migration 7), is unknown."""
    try:
        o = json.loads(owner or "")
        host, pid, started = o["host"], int(o["pid"]), float(o["started"])
    except (ValueError, TypeError, KeyError):
        return "unknown", "no owner recorded"
    where = f"pid {pid} on {host}"
    if host != socket.gethostname():
        return "unknown", where
    try:
        same = abs(round(psutil.Process(pid).create_time(), 2) - started) < 0.05
    except psutil.NoSuchProcess:
        same = False
    except psutil.Error:  # exists, but not ours to inspect
        same = True
    return ("alive" if same else "gone"), where


def _run(row: Sequence[Any]) -> EvalRunRecord:
    status, error = row[5], row[12]
    if status == "running":
        state, where = owner_state(row[14])
        if state == "gone":
            status, error = "interrupted", f"the process that ran it ({where}) stopped before it finished"
    return EvalRunRecord(id=row[0], tenant=row[1], dataset_name=row[2], dataset_hash=row[3], config_hash=row[4],
                         status=status, created_at=row[6], label=row[7], repeats=row[8], n_examples=row[9],
                         settings=json.loads(row[10]), summary=json.loads(row[11]), error=error,
                         finished_at=row[13], owner=row[14])


class EvalMixin:
    """Mixed into :class:`~citeline.store.sql.SqlStore`; uses its ``_exec`` and ``transaction``."""

    def create_eval_run(self, *, tenant: str, dataset_name: str, dataset_hash: str, config_hash: str,
                        n_examples: int, repeats: int = 1, label: str = "", settings: dict | None = None,
                        created_at: str) -> EvalRunRecord:
        run = EvalRunRecord(id="ev_" + uuid.uuid4().hex[:12], tenant=tenant, dataset_name=dataset_name,
                            dataset_hash=dataset_hash, config_hash=config_hash, status="running",
                            created_at=created_at, label=label, repeats=repeats, n_examples=n_examples,
                            settings=settings or {})
        with self.transaction(bump=False):
            self._exec(f"INSERT INTO eval_runs ({_RUN_COLS}) VALUES ({','.join('?' * 15)})",
                       (run.id, run.tenant, run.dataset_name, run.dataset_hash, run.config_hash, run.status,
                        run.created_at, run.label, run.repeats, run.n_examples, json.dumps(run.settings),
                        "{}", None, None, run_owner()))
        return run

    def finish_eval_run(self, run_id: str, *, status: str, summary: dict | None = None, error: str | None = None,
                        finished_at: str | None = None) -> None:
        """Set a run's status; ``running`` (a resume) makes this process its owner, any other status clears it."""
        with self.transaction(bump=False):
            self._exec("UPDATE eval_runs SET status = ?, summary = COALESCE(?, summary), error = ?, finished_at = ?,"
                       " owner = ? WHERE id = ?", (status, json.dumps(summary) if summary is not None else None, error,
                                                   finished_at, run_owner() if status == "running" else None, run_id))

    def get_eval_run(self, run_id: str, tenant: str | None = None) -> EvalRunRecord | None:
        sql, params = f"SELECT {_RUN_COLS} FROM eval_runs WHERE id = ?", [run_id]
        if tenant is not None:
            sql, params = sql + " AND tenant = ?", params + [tenant]
        row = self._exec(sql, params).fetchone()
        return _run(row) if row else None

    def list_eval_runs(self, tenant: str | None = None, limit: int = 50) -> list[EvalRunRecord]:
        where, params = ("WHERE tenant = ?", [tenant]) if tenant is not None else ("", [])
        rows = self._exec(f"SELECT {_RUN_COLS} FROM eval_runs {where} ORDER BY created_at DESC, rowid DESC LIMIT ?",
                          [*params, limit]).fetchall()
        return [_run(r) for r in rows]

    def put_eval_result(self, run_id: str, example_id: str, repeat: int, output: dict, metrics: dict,
                        created_at: str) -> None:
        with self.transaction(bump=False):
            self._exec("INSERT OR REPLACE INTO eval_results (run_id, example_id, repeat, output, metrics, created_at)"
                       " VALUES (?, ?, ?, ?, ?, ?)",
                       (run_id, example_id, repeat, json.dumps(output, ensure_ascii=False), json.dumps(metrics),
                        created_at))

    def eval_results(self, run_id: str) -> Iterator[tuple[str, int, dict, dict]]:
        """(example_id, repeat, output, metrics) in the order they were written."""
        for row in self._exec("SELECT example_id, repeat, output, metrics FROM eval_results WHERE run_id = ?"
                              " ORDER BY rowid", (run_id,)):
            yield row[0], row[1], json.loads(row[2]), json.loads(row[3])

    def done_eval_keys(self, run_id: str) -> set[tuple[str, int]]:
        return {(r[0], r[1]) for r in self._exec("SELECT example_id, repeat FROM eval_results WHERE run_id = ?",
                                                 (run_id,))}

    # -- calibrations ----------------------------------------------------------------------
    def put_calibration(self, *, judge: str, model: str | None, n: int, stats: dict, mapping: dict, trusted: bool,
                        created_at: str) -> str:
        cid = "cal_" + uuid.uuid4().hex[:12]
        with self.transaction(bump=False):
            self._exec("INSERT INTO eval_calibrations (id, judge, model, n, stats, mapping, trusted, created_at)"
                       " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       (cid, judge, model, n, json.dumps(stats), json.dumps(mapping), int(trusted), created_at))
        return cid

    def latest_calibration(self, judge: str) -> dict | None:
        row = self._exec("SELECT id, judge, model, n, stats, mapping, trusted, created_at FROM eval_calibrations"
                         " WHERE judge = ? ORDER BY created_at DESC, rowid DESC LIMIT 1", (judge,)).fetchone()
        if not row:
            return None
        return {"id": row[0], "judge": row[1], "model": row[2], "n": row[3], "stats": json.loads(row[4]),
                "mapping": json.loads(row[5]), "trusted": bool(row[6]), "created_at": row[7]}
