"""What an A/B test adds to one classify call, in-process (no HTTP): the route's extra steps.

Trains the bundled example project in a temporary folder, twice (champion and challenger),
and times with ``timeit`` (best of ``--repeat`` runs of ``--number`` calls, per call):

- ``predict``: the champion's ``Classifier.predict`` alone (what the route does without a test);
- ``pick``: ``LiveTest.pick`` alone (the sticky hash of a new user id);
- ``split``: ``LiveTest.pick`` plus the chosen model's ``predict``;
- ``shadow``: the champion's ``predict`` plus ``LiveTest.shadow`` (the challenger answers too).

    .venv/bin/python bench/ab_overhead.py

Writes ``docs/benchmarks/ab_overhead.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import timeit
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "support-assistant"
OUT = ROOT / "docs" / "benchmarks" / "ab_overhead.json"
TEXTS = ["where is my refund?", "I want to cancel my order", "talk to a human please"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--number", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()

    import intently
    from intently.loop.ab import AbTestRecord, Mode, StickyBy, TestStatus
    from intently.runtime import Classifier
    from intently.server.experiments import LiveTest

    with tempfile.TemporaryDirectory(prefix="intently-ab-") as folder:
        root = Path(folder) / "project"
        shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("models", "*.db"))
        project = intently.load_project(root / "intently.yaml")
        champion = Classifier.load(intently.train(project, write_reports=False).model_dir)
        challenger = Classifier.load(intently.train(project, write_reports=False).model_dir)

        def live(mode: Mode) -> LiveTest:
            test = AbTestRecord(
                "ab_bench",
                "intent",
                champion.version.id,
                challenger.version.id,
                0.5,
                mode,
                StickyBy.USER,
                TestStatus.RUNNING,
                datetime.now(UTC),
            )
            return LiveTest(test, challenger)

        split, shadow = live(Mode.SPLIT), live(Mode.SHADOW)
        counter = iter(range(10**9))

        def plain() -> None:
            champion.predict(TEXTS[next(counter) % 3])

        def pick_only() -> None:
            split.pick(champion, f"user-{next(counter)}", None)

        def with_split() -> None:
            i = next(counter)
            chosen, _extra = split.pick(champion, f"user-{i}", None)
            chosen.predict(TEXTS[i % 3])

        def with_shadow() -> None:
            text = TEXTS[next(counter) % 3]
            champion.predict(text)
            shadow.shadow([text])

        for warm in (plain, with_split, with_shadow):
            for _ in range(200):
                warm()
        results = {}
        calls = (
            ("predict", plain),
            ("pick", pick_only),
            ("split", with_split),
            ("shadow", with_shadow),
        )
        for name, call in calls:
            best = min(timeit.repeat(call, number=args.number, repeat=args.repeat))
            results[name] = round(best / args.number * 1e6, 1)
    data = {
        "benchmark": "A/B overhead per classify call, in-process",
        "model": "examples/support-assistant, linear, served as Classifier.load picks",
        "microseconds_per_call": results,
        "split_overhead_us": round(results["split"] - results["predict"], 1),
        "shadow_overhead_us": round(results["shadow"] - results["predict"], 1),
        "number": args.number,
        "repeat": args.repeat,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    OUT.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(data, indent=2))


if __name__ == "__main__":
    main()
