"""Start-up times: `intently --help`, `import intently.runtime`, and what they stand on.

Each command runs as a fresh process, interleaved with the others (so a load change hits all
alike), after two warm-up runs; the medians are written to docs/benchmarks/startup.json and as
a table between the ``startup`` markers of docs/BENCHMARKS.md. `python -c pass` and
`import numpy` are the floor the Python commands stand on, measured in the same run.

Usage: .venv/bin/python bench/startup.py [--runs 20]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
START, END = "<!-- startup:start -->", "<!-- startup:end -->"
TARGETS_MS = {"intently --help": 400, "import intently.runtime": 150}


def commands() -> dict[str, list[str]]:
    python = str(BIN / "python")
    return {
        "intently --help": [str(BIN / "intently"), "--help"],
        "import intently.runtime": [python, "-c", "import intently.runtime"],
        "from intently.runtime import Classifier": [
            python,
            "-c",
            "from intently.runtime import Classifier",
        ],
        "python -c pass": [python, "-c", "pass"],
        "import numpy": [python, "-c", "import numpy"],
    }


def measure(runs: int) -> dict[str, object]:
    timed = commands()
    samples: dict[str, list[float]] = {name: [] for name in timed}
    for command in timed.values():
        for _ in range(2):
            subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    load_before = os.getloadavg()
    for _ in range(runs):
        for name, command in timed.items():
            start = time.perf_counter()
            subprocess.run(
                command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True
            )
            samples[name].append(time.perf_counter() - start)
    return {
        "runs": runs,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "median_ms": {name: round(statistics.median(v) * 1000, 1) for name, v in samples.items()},
        "min_ms": {name: round(min(v) * 1000, 1) for name, v in samples.items()},
        "targets_ms": TARGETS_MS,
    }


def table(result: dict[str, object]) -> str:
    median, least = result["median_ms"], result["min_ms"]
    assert isinstance(median, dict) and isinstance(least, dict)
    load = result["load_average_before"], result["load_average_after"]
    lines = [
        f"_Fresh processes, interleaved, {result['runs']} runs each; load average "
        f"{load[0][0]:.1f} → {load[1][0]:.1f} on 2 cores. Reproduce: "  # type: ignore[index]
        "`.venv/bin/python bench/startup.py`._",
        "",
        "| command | median ms | min ms | target |",
        "|---|---:|---:|---|",
    ]
    for name in median:
        target = TARGETS_MS.get(name)
        verdict = (
            ""
            if target is None
            else f"≤ {target} ms: {'met' if median[name] <= target else 'missed'}"
        )
        lines.append(f"| `{name}` | {median[name]:.0f} | {least[name]:.0f} | {verdict} |")
    return "\n".join(lines) + "\n"


def splice(path: Path, block: str) -> None:
    text = path.read_text(encoding="utf-8")
    section = f"{START}\n{block}{END}"
    if START in text and END in text:
        text = text[: text.index(START)] + section + text[text.index(END) + len(END) :]
    else:
        text = text.rstrip() + "\n\n## Start-up\n\n" + section + "\n"
    path.write_text(text, encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--out", type=Path, default=ROOT / "docs/benchmarks/startup.json")
    parser.add_argument("--table", type=Path, default=ROOT / "docs/BENCHMARKS.md")
    args = parser.parse_args()
    result = measure(args.runs)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    splice(args.table, table(result))
    print(table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
