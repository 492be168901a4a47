"""Load test of `intently serve` with wrk on loopback: single-text and batch classification.

Trains the bundled example project in a temporary folder, starts `intently serve` with its
default settings (only an API key is added) and, beside it, an empty FastAPI POST endpoint on
the same uvicorn settings and worker count. wrk drives both from a second process, in
alternating rounds, with the same request; the JSON records requests/s and latency of both and
their ratio (how much of what the stack allows Intently keeps), the median over the rounds:

    .venv/bin/python bench/serve.py                      # linear model, default settings
    .venv/bin/python bench/serve.py --backend transformer --runtime onnx --precision int8 \
        --onnx-threads 1                                 # the int8 transformer, 1 thread/worker
    .venv/bin/python bench/serve.py --duration 30 --connections 64 --rounds 5

Writes docs/benchmarks/serve/<scenario>.json and rebuilds the "HTTP service" table in
docs/BENCHMARKS.md from every scenario file there.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "support-assistant"
BIN = Path(sys.executable).parent
KEY = "bench-predict-key"
START, END = "<!-- serve:start -->", "<!-- serve:end -->"
SAMPLE = [
    "where is my refund?",
    "I want to cancel my order",
    "how do I reset my password",
    "can I change the delivery address",
    "my package never arrived",
    "talk to a human please",
]
_UNIT = {"us": 1e-3, "ms": 1.0, "s": 1e3}
# What `intently serve` passes to uvicorn.run besides the app, the address and the workers;
# the empty baseline app gets the same.
UVICORN_SETTINGS: dict[str, Any] = {
    "access_log": False,
    "server_header": False,
    "date_header": False,
    "log_level": "info",
}


def empty_app() -> Any:
    """The baseline: the emptiest FastAPI POST endpoint, on the route the bench calls."""
    from fastapi import FastAPI

    app = FastAPI()

    @app.post("/v1/classify")
    async def classify() -> dict[str, Any]:
        return {}

    @app.get("/readyz")
    async def readyz() -> dict[str, Any]:
        return {}

    return app


def serve_empty(port: int, workers: int) -> None:
    """Runs in the baseline server process (``bench/serve.py --empty-server PORT``)."""
    import uvicorn

    uvicorn.run(
        "serve:empty_app",
        factory=True,
        app_dir=str(Path(__file__).parent),
        host="127.0.0.1",
        port=port,
        workers=workers,
        **UVICORN_SETTINGS,
    )


def stack() -> str:
    """What uvicorn's "auto" picks for the event loop and the HTTP parser here."""
    import importlib.util

    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    return f"uvicorn ({loop}, {http})"


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    print("wrk not found; installing it with apt-get (Debian package 'wrk')", flush=True)
    subprocess.run(
        ["apt-get", "install", "-y", "-q", "wrk"], check=False, stdout=subprocess.DEVNULL
    )
    found = shutil.which("wrk")
    if not found:
        sys.exit("wrk is required: install the Debian package 'wrk' and run again.")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"server not ready at {url} after {timeout:.0f}s")


def served_by(base: str) -> str:
    """Which runtime and precision answer, as `/v1/models` reports for the loaded version."""
    request = urllib.request.Request(
        base + "/v1/models", headers={"Authorization": f"Bearer {KEY}"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        versions = json.load(response)["versions"]
    loaded = next(v for v in versions if v["loaded"])
    return f"{loaded['runtime']} {loaded['precision'] or ''}".strip()


def lua_script(path: Path, body: dict[str, Any], route: str) -> Path:
    path.write_text(
        f'wrk.method = "POST"\nwrk.path = "{route}"\n'
        f'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["Authorization"] = "Bearer {KEY}"\n'
        f"wrk.body = [[{json.dumps(body)}]]\n"
        "done = function(summary, latency, requests)\n"
        '  io.write(string.format("non2xx=%d\\n", summary.errors.status))\n'
        "end\n",
        encoding="utf-8",
    )
    return path


def run_wrk(
    wrk: str, url: str, script: Path, *, duration: int, connections: int, threads: int
) -> dict[str, float]:
    command = [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration}s",
        "--latency",
        "-s",
        str(script),
        url,
    ]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    percentiles = {}
    for pct, value, unit in re.findall(
        r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s)\s*$", output, flags=re.MULTILINE
    ):
        percentiles[f"p{pct}_ms"] = float(value) * _UNIT[unit]
    non2xx = int(re.search(r"non2xx=(\d+)", output).group(1))
    return {"requests_per_s": rps, **percentiles, "non_2xx": non2xx}


def median_run(runs: list[dict[str, float]]) -> dict[str, float]:
    """Field-wise median of several wrk runs (``non_2xx`` summed)."""
    merged = {
        key: round(statistics.median(run[key] for run in runs), 2)
        for key in runs[0]
        if key != "non_2xx"
    }
    merged["non_2xx"] = sum(int(run["non_2xx"]) for run in runs)
    return merged


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="baseline/intently pairs")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--backend", default="linear", help="backend the example is trained with")
    parser.add_argument("--runtime", choices=("auto", "native", "onnx"), default=None)
    parser.add_argument("--precision", choices=("auto", "fp32", "int8"), default=None)
    parser.add_argument("--onnx-threads", type=int, default=None)
    parser.add_argument("--out-dir", type=Path, default=ROOT / "docs/benchmarks/serve")
    parser.add_argument("--table", type=Path, default=ROOT / "docs/BENCHMARKS.md")
    parser.add_argument("--empty-server", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.empty_server is not None:
        serve_empty(args.empty_server, args.workers)
        return 0
    wrk = ensure_wrk()
    # SIGTERM unwinds like Ctrl-C, so the servers (own sessions) and the folder go away too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("stopped by SIGTERM"))
    work = Path(tempfile.mkdtemp(prefix="intently-serve-bench-"))
    project_dir = work / "project"
    shutil.copytree(EXAMPLE, project_dir, ignore=shutil.ignore_patterns("models", "*.db"))
    project = project_dir / "intently.yaml"
    spec = yaml.safe_load(project.read_text(encoding="utf-8"))
    spec.setdefault("training", {})["backend"] = args.backend
    spec["training"]["params"] = {}
    project.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    subprocess.run(
        [BIN / "intently", "train", "--project", str(project)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    port, empty_port = free_port(), free_port()
    env = {**os.environ, "INTENTLY_API_KEYS": f"predict:{KEY}"}
    settings = {"runtime": args.runtime, "precision": args.precision}
    settings["onnx_threads"] = args.onnx_threads
    for name, value in settings.items():
        if value is not None:
            env[f"INTENTLY_{name.upper()}"] = str(value)
    changed = ", ".join(f"{k}={v}" for k, v in settings.items() if v is not None)
    scenario = "-".join([args.backend, *(str(v) for v in settings.values() if v is not None)])
    workers = ["--workers", str(args.workers)]
    servers = [
        subprocess.Popen(
            [BIN / "intently", "serve", "--project", str(project), "--port", str(port), *workers],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        ),
        subprocess.Popen(
            [sys.executable, __file__, "--empty-server", str(empty_port), *workers],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        ),
    ]
    try:
        base = f"http://127.0.0.1:{port}"
        empty_base = f"http://127.0.0.1:{empty_port}"
        wait_ready(base + "/readyz")
        wait_ready(empty_base + "/readyz")
        results: dict[str, Any] = {
            "served_by": served_by(base),
            "machine": f"{os.cpu_count()} CPU cores, server and wrk on the same machine",
            "load_average_before": [round(x, 2) for x in os.getloadavg()],
            "scenario": scenario,
            "backend": args.backend,
            "server": "intently serve, default settings" + (f" but {changed}" if changed else ""),
            "stack": f"{stack()}, {args.workers} workers",
            "baseline": "empty FastAPI POST endpoint, same uvicorn settings and workers",
            "wrk": f"-t{args.threads} -c{args.connections} -d{args.duration}s",
            "connections": args.connections,
            "duration_s": args.duration,
            "rounds": args.rounds,
        }
        single = lua_script(work / "single.lua", {"text": SAMPLE[0]}, "/v1/classify")
        batch_texts = [SAMPLE[i % len(SAMPLE)] for i in range(args.batch_size)]
        batch = lua_script(work / "batch.lua", {"texts": batch_texts}, "/v1/classify/batch")
        load = {"duration": args.duration, "connections": args.connections, "threads": args.threads}
        for url in (base, empty_base):  # warm up both
            run_wrk(wrk, url + "/v1/classify", single, duration=3, connections=8, threads=1)
        empty_runs, single_runs = [], []
        for _ in range(args.rounds):
            empty_runs.append(run_wrk(wrk, empty_base + "/v1/classify", single, **load))
            single_runs.append(run_wrk(wrk, base + "/v1/classify", single, **load))
        pairs = zip(single_runs, empty_runs, strict=True)
        ratios = [s["requests_per_s"] / e["requests_per_s"] for s, e in pairs]
        results["empty_fastapi"] = median_run(empty_runs)
        results["single"] = median_run(single_runs)
        results["ratio_to_empty"] = round(statistics.median(ratios), 3)
        results["ratios_per_round"] = [round(r, 3) for r in ratios]
        results["batch"] = run_wrk(
            wrk,
            base + "/v1/classify/batch",
            batch,
            duration=args.duration,
            connections=4,
            threads=1,
        )
        results["batch"]["batch_size"] = args.batch_size
        results["batch"]["texts_per_s"] = results["batch"]["requests_per_s"] * args.batch_size
        results["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    finally:
        for server in servers:
            os.killpg(server.pid, signal.SIGTERM)
        for server in servers:
            server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / f"{scenario}.json").write_text(
        json.dumps(results, indent=2) + "\n", encoding="utf-8"
    )
    scenarios = [
        json.loads(path.read_text(encoding="utf-8")) for path in sorted(args.out_dir.glob("*.json"))
    ]
    write_table(args.table, scenarios)
    print(json.dumps(results, indent=2))
    single, empty = results["single"], results["empty_fastapi"]
    print(
        f"POST /v1/classify: {single['requests_per_s']:,.0f} req/s, p50 {single['p50_ms']:.2f} ms, "
        f"p99 {single['p99_ms']:.2f} ms; empty FastAPI: {empty['requests_per_s']:,.0f} req/s, "
        f"p50 {empty['p50_ms']:.2f} ms, p99 {empty['p99_ms']:.2f} ms; "
        f"ratio {results['ratio_to_empty']:.2f} (rounds: {results['ratios_per_round']})"
    )
    return 0


def write_table(path: Path, scenarios: list[dict[str, Any]]) -> None:
    lines = [
        "_wrk on loopback from a second process, server and wrk on the same 2-core machine; "
        "single texts with the wrk settings shown (median of alternating rounds), batches of "
        '100 with 4 connections. "× empty" is requests/s over those of an empty FastAPI POST '
        "endpoint on the same uvicorn settings and workers, measured in the same run; load "
        "average is the machine's before and after the run. Reproduce: "
        "`.venv/bin/python bench/serve.py [--backend B --runtime onnx --precision int8]`._",
        "",
        "| model | server settings | request | requests/s | × empty | texts/s | p50 ms | p90 ms "
        "| p99 ms | non-2xx |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for results in scenarios:
        single, batch = results["single"], results["batch"]
        model = results.get("backend", "linear")
        server = results["server"]
        if results.get("served_by"):
            server += f" (answered by: {results['served_by']})"
        ratio = results.get("ratio_to_empty")
        wrk = results.get("wrk", f"-t1 -c{results.get('connections', 32)}")
        load = results.get("load_average_before"), results.get("load_average_after")
        if None not in load:
            server += f"; load {load[0][0]:.1f} → {load[1][0]:.1f}"
        lines += [
            f"| {model} | {server} | single text `POST /v1/classify`, wrk {wrk} | "
            f"{single['requests_per_s']:,.0f} | {'–' if ratio is None else f'{ratio:.2f}'} | "
            f"{single['requests_per_s']:,.0f} | "
            f"{single.get('p50_ms', 0):.2f} | {single.get('p90_ms', 0):.2f} | "
            f"{single.get('p99_ms', 0):.2f} | {single['non_2xx']} |",
            f"| {model} | {server} | batch of {batch['batch_size']} `POST /v1/classify/batch` | "
            f"{batch['requests_per_s']:,.0f} | – | {batch['texts_per_s']:,.0f} | "
            f"{batch.get('p50_ms', 0):.2f} | {batch.get('p90_ms', 0):.2f} | "
            f"{batch.get('p99_ms', 0):.2f} | {batch['non_2xx']} |",
        ]
        empty = results.get("empty_fastapi")
        if empty is not None:
            lines.append(
                f"| (baseline) | empty FastAPI POST endpoint, same uvicorn settings | "
                f"same request | {empty['requests_per_s']:,.0f} | 1.00 | – | "
                f"{empty.get('p50_ms', 0):.2f} | {empty.get('p90_ms', 0):.2f} | "
                f"{empty.get('p99_ms', 0):.2f} | {empty['non_2xx']} |"
            )
    table = "\n".join(lines) + "\n"
    text = path.read_text(encoding="utf-8") if path.is_file() else "# Benchmarks\n"
    block = f"{START}\n{table}{END}"
    if START in text and END in text:
        text = text[: text.index(START)] + block + text[text.index(END) + len(END) :]
    else:
        text = text.rstrip() + "\n\n## HTTP service (linear model)\n\n" + block + "\n"
    path.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
