"""The learning loop's store, measured: recording cost, export speed, loss on kill -9.

    .venv/bin/python bench/learning_store.py                 # all three parts
    .venv/bin/python bench/learning_store.py --parts export  # one part

- ``serve``: `POST /v1/classify` requests/s of `intently serve` with recording on and off
  (two servers of the same trained example, 2 workers each, alternating wrk rounds in the same
  run, as bench/serve.py does); afterwards the rows recorded are counted against the 2xx
  answers wrk saw (wrk drops answers in flight when a round ends, so rows >= answers).
- ``export``: 100,000 recorded interactions written as JSONL, CSV and Label Studio tasks
  (SQLite file; PostgreSQL too when INTENTLY_BENCH_POSTGRES_URL is set), with the library
  call and with `intently data export` end to end.
- ``kill``: a served project under load from 4 client threads that keep every
  interaction_id they were answered with; the server's process group is killed with SIGKILL
  (and, separately, stopped with SIGTERM) mid-load; the ids missing from the database,
  divided by the answer rate, are the seconds of answers lost, against the flush interval.

Writes docs/benchmarks/learning_store.json (the parts run) and prints it.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
import serve as serve_bench

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
KEY = serve_bench.KEY
OUT = ROOT / "docs" / "benchmarks" / "learning_store.json"


def train_example(work: Path) -> Path:
    project_dir = work / "project"
    shutil.copytree(
        serve_bench.EXAMPLE, project_dir, ignore=shutil.ignore_patterns("models", "*.db")
    )
    project = project_dir / "intently.yaml"
    subprocess.run(
        [BIN / "intently", "train", "--project", str(project)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return project


def start_server(project: Path, port: int, db: Path, **settings: Any) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTENTLY_")}
    env["INTENTLY_API_KEYS"] = f"predict:{KEY}"
    env["INTENTLY_DATABASE_URL"] = f"sqlite:///{db}"
    for name, value in settings.items():
        env[f"INTENTLY_{name.upper()}"] = str(value)
    command = [BIN / "intently", "serve", "--project", str(project), "--port", str(port)]
    return subprocess.Popen(
        [*command, "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def count_rows(db: Path) -> int:
    from intently.db import Database, InteractionStore

    database = Database(f"sqlite:///{db}")
    try:
        return InteractionStore(database).stats()["total"]
    finally:
        database.dispose()


def stop(process: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
    process.wait(timeout=60)


# -- recording on vs off ----------------------------------------------------------------------


def bench_serve(work: Path, project: Path, args: argparse.Namespace) -> dict[str, Any]:
    wrk = serve_bench.ensure_wrk()
    on_port, off_port = serve_bench.free_port(), serve_bench.free_port()
    on_db, off_db = work / "on.db", work / "off.db"
    servers = {
        "on": start_server(project, on_port, on_db, record="true"),
        "off": start_server(project, off_port, off_db, record="false"),
    }
    script = serve_bench.lua_script(
        work / "single.lua", {"text": serve_bench.SAMPLE[0]}, "/v1/classify"
    )
    load = {"duration": args.duration, "connections": args.connections, "threads": 2}
    runs: dict[str, list[dict[str, float]]] = {"on": [], "off": []}
    answered_on = 0
    try:
        for port in (on_port, off_port):
            serve_bench.wait_ready(f"http://127.0.0.1:{port}/readyz")
        before = [round(x, 2) for x in os.getloadavg()]
        for port in (on_port, off_port):  # warm-up
            serve_bench.run_wrk(
                wrk,
                f"http://127.0.0.1:{port}/v1/classify",
                script,
                duration=3,
                connections=8,
                threads=1,
            )
        warm_rows = _settled_rows(on_db)
        ports = {"on": on_port, "off": off_port}

        def measured(name: str, **settings: int) -> dict[str, float]:
            cpu = group_cpu_seconds(servers[name].pid)
            url = f"http://127.0.0.1:{ports[name]}/v1/classify"
            run = serve_bench.run_wrk(wrk, url, script, **settings)
            requests = run["requests_per_s"] * args.duration
            run["server_cpu_us_per_request"] = round(
                (group_cpu_seconds(servers[name].pid) - cpu) / requests * 1e6, 1
            )
            return run

        for _ in range(args.rounds):
            for name in ("off", "on"):
                runs[name].append(measured(name, **load))
                if name == "on":
                    run = runs[name][-1]
                    answered_on += round(run["requests_per_s"] * args.duration) - run["non_2xx"]
        # Both servers under the same load at the same time: whatever else the machine runs
        # then slows both alike, so the ratio of a round is not a ratio of two moments.
        half = {"duration": args.duration, "connections": args.connections // 2, "threads": 1}
        together: list[dict[str, dict[str, float]]] = []
        for _ in range(args.rounds):
            pair: dict[str, dict[str, float]] = {}

            def drive(name: str, into: dict[str, dict[str, float]]) -> None:
                into[name] = measured(name, **half)

            threads = [threading.Thread(target=drive, args=(n, pair)) for n in ("off", "on")]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            together.append(pair)
            answered_on += round(pair["on"]["requests_per_s"] * args.duration)
            answered_on -= int(pair["on"]["non_2xx"])
        after = [round(x, 2) for x in os.getloadavg()]
    finally:
        for process in servers.values():
            stop(process)
    rows = count_rows(on_db) - warm_rows
    ratios = [
        on["requests_per_s"] / off["requests_per_s"]
        for on, off in zip(runs["on"], runs["off"], strict=True)
    ]
    simultaneous = [p["on"]["requests_per_s"] / p["off"]["requests_per_s"] for p in together]
    cpu_off = statistics.median(run["server_cpu_us_per_request"] for run in runs["off"])
    cpu_on = statistics.median(run["server_cpu_us_per_request"] for run in runs["on"])
    return {
        "what": "POST /v1/classify, single text, recording on vs off, same run",
        "server": "intently serve, 2 workers, default settings (SQLite WAL, flush every 0.5 s "
        "or at 1,000 waiting answers)",
        "wrk": f"-t2 -c{args.connections} -d{args.duration}s, {args.rounds} alternating rounds",
        "load_average_before": before,
        "load_average_after": after,
        "recording_off": serve_bench.median_run(runs["off"]),
        "recording_on": serve_bench.median_run(runs["on"]),
        "ratio_on_to_off": round(statistics.median(ratios), 3),
        "ratios_per_round": [round(r, 3) for r in ratios],
        "simultaneous_wrk": f"-t1 -c{args.connections // 2} -d{args.duration}s against each "
        f"server at the same time, {args.rounds} rounds",
        "simultaneous_on_req_s": [round(p["on"]["requests_per_s"]) for p in together],
        "simultaneous_off_req_s": [round(p["off"]["requests_per_s"]) for p in together],
        "simultaneous_ratio_on_to_off": round(statistics.median(simultaneous), 3),
        "simultaneous_ratios_per_round": [round(r, 3) for r in simultaneous],
        # CPU time of the server processes (supervisor and workers, from /proc) per answered
        # request: what recording costs, whatever else the machine runs at the same time
        "server_cpu_us_per_request_off": cpu_off,
        "server_cpu_us_per_request_on": cpu_on,
        "capacity_ratio_from_cpu": round(cpu_off / cpu_on, 3),
        "rows_recorded_during_rounds": rows,  # alternating and simultaneous rounds
        "answers_wrk_counted": answered_on,
    }


def group_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and every process below it (Linux /proc)."""
    ticks, pending, seen = 0, [pid], set()
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            stat = Path(f"/proc/{current}/stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return ticks / os.sysconf("SC_CLK_TCK")


def _settled_rows(db: Path) -> int:
    time.sleep(1.5)  # past a flush interval: the warm-up's answers are written
    return count_rows(db)


# -- export -----------------------------------------------------------------------------------


def fill(url: str, n: int) -> None:
    from intently.db import Database, InteractionRecord, InteractionStore
    from intently.db.interactions import new_interaction_id

    database = Database(url)
    database.migrate()
    store = InteractionStore(database)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    labels = ["refund_status", "cancel_order", "reset_password", "delivery_address", "human"]
    batch = []
    for i in range(n):
        label = labels[i % len(labels)]
        batch.append(
            InteractionRecord(
                id=new_interaction_id(),
                task="intent",
                text=f"{serve_bench.SAMPLE[i % len(serve_bench.SAMPLE)]} #{i}",
                label=label,
                confidence=0.3 + (i % 70) / 100,
                ranking=((label, 0.6), ("human", 0.2), ("cancel_order", 0.1)),
                model_version="20261101T000000Z-bench",
                runtime="numpy",
                latency_ms=0.2,
                created_at=start + timedelta(seconds=i),
                review_status="approved" if i % 3 == 0 else "pending",
                reviewed_label=label if i % 3 == 0 else None,
            )
        )
        if len(batch) == 10_000:
            store.add_many(batch)
            batch = []
    store.add_many(batch)
    database.dispose()


def time_exports(url: str, work: Path, n: int) -> dict[str, Any]:
    from intently.db import Database, InteractionStore
    from intently.feedback import export_dataset

    database = Database(url)
    store = InteractionStore(database)
    result: dict[str, Any] = {}
    for fmt in ("jsonl", "csv", "label-studio"):
        path = work / f"export.{fmt}"
        started, cpu = time.perf_counter(), time.process_time()
        with path.open("w", encoding="utf-8") as stream:
            count = export_dataset(store, stream, fmt)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        assert count == n, (count, n)
        result[fmt] = {
            "seconds": round(seconds, 2),
            "cpu_seconds": round(cpu, 2),
            "rows": count,
            "bytes": path.stat().st_size,
        }
    database.dispose()
    return result


def bench_export(work: Path, project: Path, n: int) -> dict[str, Any]:
    db = project.parent / "intently.db"
    url = f"sqlite:///{db}"
    started = time.perf_counter()
    fill(url, n)
    filled = time.perf_counter() - started
    sqlite = time_exports(url, work, n)
    out = work / "cli.jsonl"
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    export = ["data", "export", "--recorded", "all", "--format", "jsonl", "--out", str(out)]
    subprocess.run(
        [BIN / "intently", *export, "--project", str(project)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    cli = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cli_cpu = after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime
    lines = sum(1 for _ in out.open(encoding="utf-8"))
    result: dict[str, Any] = {
        "rows": n,
        "insert_seconds_sqlite": round(filled, 2),
        "sqlite": sqlite,
        "cli_jsonl_seconds_sqlite": round(cli, 2),
        "cli_jsonl_cpu_seconds_sqlite": round(cli_cpu, 2),
        "cli_jsonl_rows": lines,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    pg = os.environ.get("INTENTLY_BENCH_POSTGRES_URL")
    if pg:
        from sqlalchemy import create_engine, text

        schema = f"bench_{os.getpid()}"
        admin = create_engine(pg)
        with admin.begin() as connection:
            connection.execute(text(f"CREATE SCHEMA {schema}"))
        url = f"{pg}?options=-csearch_path%3D{schema}"
        try:
            started = time.perf_counter()
            fill(url, n)
            result["insert_seconds_postgresql"] = round(time.perf_counter() - started, 2)
            result["postgresql"] = time_exports(url, work, n)
        finally:
            with admin.begin() as connection:
                connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
            admin.dispose()
    return result


# -- kill -9 ----------------------------------------------------------------------------------


def _client(port: int, ids: list[tuple[float, str]], stop_at: threading.Event) -> None:
    body = json.dumps({"text": serve_bench.SAMPLE[1]})
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    while not stop_at.is_set():
        try:
            connection.request("POST", "/v1/classify", body, headers)
            response = connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            return  # the server is gone
        if response.status == 200:
            ids.append((time.perf_counter(), json.loads(data)["interaction_id"]))


def loss_under(project: Path, work: Path, sig: int, interval_s: float) -> dict[str, Any]:
    port = serve_bench.free_port()
    db = work / f"kill-{sig}-{port}.db"
    server = start_server(project, port, db, record_flush_interval_s=interval_s)
    serve_bench.wait_ready(f"http://127.0.0.1:{port}/readyz")
    ids: list[tuple[float, str]] = []
    stop_at = threading.Event()
    clients = [threading.Thread(target=_client, args=(port, ids, stop_at)) for _ in range(4)]
    started = time.perf_counter()
    for thread in clients:
        thread.start()
    time.sleep(4.0)
    answered_before_signal = len(ids)
    elapsed = time.perf_counter() - started
    killed_at = time.perf_counter()
    os.killpg(server.pid, sig)
    for thread in clients:
        thread.join(timeout=30)
    stop_at.set()
    server.wait(timeout=60)
    from intently.db import Database, InteractionStore

    database = Database(f"sqlite:///{db}")
    stored = {record.id for record in InteractionStore(database).iter_records()}
    database.dispose()
    lost = [(when, iid) for when, iid in ids if iid not in stored]
    rate = answered_before_signal / elapsed
    return {
        "signal": signal.Signals(sig).name,
        "flush_interval_s": interval_s,
        "answers_received": len(ids),
        "answers_per_s": round(rate, 1),
        "lost": len(lost),
        # how long before the signal the oldest lost answer was received: the window lost
        "lost_window_s": round(killed_at - min(when for when, _ in lost), 3) if lost else 0.0,
        "recorded_but_not_received": len(stored - {iid for _, iid in ids}),
    }


def bench_kill(work: Path, project: Path) -> dict[str, Any]:
    return {
        "sigkill": [loss_under(project, work, signal.SIGKILL, 0.5) for _ in range(3)],
        "sigterm": loss_under(project, work, signal.SIGTERM, 0.5),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="serve,export,kill")
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("stopped by SIGTERM"))
    work = Path(tempfile.mkdtemp(prefix="intently-learning-bench-"))
    results: dict[str, Any] = json.loads(OUT.read_text()) if OUT.is_file() else {}
    results["machine"] = f"{os.cpu_count()} CPU cores, shared; server and clients on it"
    try:
        project = train_example(work)
        parts = args.parts.split(",")
        if "serve" in parts:
            results["recording_cost"] = bench_serve(work, project, args)
        if "export" in parts:
            results["export"] = bench_export(work, project, args.rows)
        if "kill" in parts:
            results["loss"] = bench_kill(work, project)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
