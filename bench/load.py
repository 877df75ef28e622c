"""HTTP load on /api/ask: N concurrent clients for T seconds against a real `citeline serve`.

    .venv/bin/python bench/load.py                          # concurrency 1, 4, 16, 32; 30 s each
    .venv/bin/python bench/load.py --concurrency 16 --seconds 60

The server is a separate process (`citeline serve`, one uvicorn worker, the embedded default:
SQLite, extractive answers) on the demo corpus, ingested once into bench/.work/load-<key>/.
The clients are this process: asyncio + httpx, each one sending the next question as soon as
its previous answer arrived (closed loop), cycling through the 120 questions of
demo/eval.jsonl, on loopback. Before measuring, every question is asked once (the server's
sentence-vector cache is warm, as in steady state). Rate limiting is off for the run
(CITELINE_SERVER__RATE_LIMIT_PER_MINUTE=0); authentication, tracing (one write per answer) and
metrics stay on. Server RSS is sampled every 0.2 s. Target on 2 cores: >= 50 answers/s at
concurrency 16 with p95 <= 300 ms and zero errors; for scale, RAGFlow users report about 2.7
queries/s (quoted, not measured here).
Output: a table and bench/results/load.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common_retrieval import (  # noqa: E402
    REPO,
    RESULTS,
    WORK,
    command_line,
    file_hash,
    loadavg,
    machine_info,
    markdown_table,
    pct,
    src_hash,
    versions,
    write_json,
)

CITELINE = Path(sys.executable).with_name("citeline")
RAGFLOW_QPS = 2.7


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare(env: dict) -> Path:
    corpus = sorted(p for p in (REPO / "demo" / "corpus").rglob("*") if p.is_file())
    key = file_hash(corpus)[:6] + src_hash("ingest")[:6]
    data = WORK / f"load-{key}"
    if not (data / "ready").exists():
        shutil.rmtree(data, ignore_errors=True)
        log(f"ingesting demo/corpus into {data} …")
        subprocess.run([str(CITELINE), "--data-dir", str(data), "ingest", str(REPO / "demo" / "corpus"),
                        "--acl", "everyone", "--json"], check=True, env=env, stdout=subprocess.DEVNULL)
        (data / "ready").write_text("ok\n")
    return data


def create_key(data: Path, env: dict) -> str:
    out = subprocess.run([str(CITELINE), "--data-dir", str(data), "keys", "create", "--role", "member",
                          "--name", "bench/load.py", "--json"], check=True, env=env, capture_output=True, text=True)
    return json.loads(out.stdout)["key"]


async def run_level(base: str, key: str, questions: list[str], concurrency: int, seconds: float,
                    server: psutil.Process) -> dict:
    latencies: list[float] = []
    errors: dict[str, int] = {}
    decisions: dict[str, int] = {}
    rss_peak = 0
    stop_at = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {key}"}, limits=limits,
                                 timeout=30.0) as client:
        async def worker(i: int) -> None:
            n = i
            while time.perf_counter() < stop_at:
                q = questions[n % len(questions)]
                n += concurrency
                t0 = time.perf_counter()
                try:
                    r = await client.post("/api/ask", json={"question": q})
                    dt = time.perf_counter() - t0
                    if r.status_code == 200:
                        latencies.append(dt)
                        d = r.json()["decision"]
                        decisions[d] = decisions.get(d, 0) + 1
                    else:
                        errors[str(r.status_code)] = errors.get(str(r.status_code), 0) + 1
                except httpx.HTTPError as e:
                    errors[type(e).__name__] = errors.get(type(e).__name__, 0) + 1

        async def sampler() -> None:
            nonlocal rss_peak
            while time.perf_counter() < stop_at:
                rss_peak = max(rss_peak, server.memory_info().rss)
                await asyncio.sleep(0.2)

        t0 = time.perf_counter()
        await asyncio.gather(sampler(), *(worker(i) for i in range(concurrency)))
        wall = time.perf_counter() - t0
    ms = [x * 1000 for x in latencies]
    return {
        "concurrency": concurrency, "seconds": round(wall, 2), "answers": len(latencies),
        "answers_per_s": round(len(latencies) / wall, 2),
        "p50_ms": round(pct(ms, 50), 1) if ms else None, "p95_ms": round(pct(ms, 95), 1) if ms else None,
        "p99_ms": round(pct(ms, 99), 1) if ms else None, "errors": errors, "decisions": decisions,
        "server_rss_peak_mb": round(rss_peak / 2**20, 1),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--concurrency", default="1,4,16,32", help="comma-separated client counts")
    ap.add_argument("--seconds", type=float, default=30.0, help="per concurrency level")
    ap.add_argument("--out", type=Path, default=RESULTS / "load.json")
    ap.add_argument("--server-env", action="append", default=[], metavar="KEY=VALUE",
                    help="extra environment for the server, e.g. CITELINE_EMBEDDING__THREADS=1")
    args = ap.parse_args()
    levels = [int(x) for x in args.concurrency.split(",")]

    env = {k: v for k, v in os.environ.items() if not k.startswith("CITELINE_")}
    env |= {"CITELINE_SERVER__RATE_LIMIT_PER_MINUTE": "0", "HF_HUB_OFFLINE": "1"}
    env |= dict(kv.split("=", 1) for kv in args.server_env)
    data = prepare(env)
    key = create_key(data, env)
    questions = [json.loads(line)["question"] for line in (REPO / "demo" / "eval.jsonl").read_text().splitlines()
                 if line.strip()]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([str(CITELINE), "--data-dir", str(data), "serve", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=REPO)
    load_start = loadavg()
    results = []
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"server did not start: {proc.stderr.read().decode()[-2000:]}")
            time.sleep(0.2)
        server = psutil.Process(proc.pid)
        rss_idle = server.memory_info().rss
        log(f"warming up: {len(questions)} questions once …")
        t0 = time.perf_counter()
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=60) as c:
            for q in questions:
                c.post("/api/ask", json={"question": q}).raise_for_status()
        warm_s = time.perf_counter() - t0
        for n in levels:
            log(f"concurrency {n} for {args.seconds:.0f} s …")
            results.append(asyncio.run(run_level(base, key, questions, n, args.seconds, server)))
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()

    rows = [[r["concurrency"], r["answers"], r["answers_per_s"], r["p50_ms"], r["p95_ms"], r["p99_ms"],
             sum(r["errors"].values()), r["server_rss_peak_mb"], f"{r['answers_per_s'] / RAGFLOW_QPS:.0f}×"]
            for r in results]
    table = markdown_table(["clients", "answers", "answers/s", "p50 ms", "p95 ms", "p99 ms", "errors",
                            "server RSS MB", "vs 2.7 q/s"], rows)
    print(table)
    at16 = next((r for r in results if r["concurrency"] == 16), None)
    target = None
    if at16:
        target = {"answers_per_s>=50": at16["answers_per_s"] >= 50, "p95_ms<=300": (at16["p95_ms"] or 1e9) <= 300,
                  "zero_errors": not at16["errors"]}
        print(f"\ntarget at 16 clients: {target}")
    write_json(args.out, {
        "benchmark": "load", "command": command_line(), "machine": machine_info(),
        "versions": versions("citeline", "fastapi", "uvicorn", "httpx", "onnxruntime", "numpy"),
        "loadavg_start": load_start, "loadavg_end": loadavg(), "seconds_per_level": args.seconds,
        "server_env": args.server_env, "questions": len(questions), "warm_up_s": round(warm_s, 1), "server_rss_idle_mb": round(rss_idle / 2**20, 1),
        "ragflow_reported_qps": RAGFLOW_QPS, "results": results, "target_at_16": target, "table": table,
    })
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
