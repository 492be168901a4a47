"""A simulated week of the learning loop on BANKING77.

A model is trained on a stratified ``--train-share`` of BANKING77's train split and deployed.
BANKING77's test texts are then replayed as traffic over ``--days`` days: each day's texts are
classified by the active model and recorded as interactions (``intently.db.interactions``);
reviewers label ``--review-share`` of the day's volume from the review queue (lowest confidence
first, or a random sample with ``--review-order random``), answering with the true label
(``InteractionStore.correct``: an approval when the model was right, a correction otherwise);
then the automatic retrain check runs (``intently.loop.retrain.retrain_task``, the code path of
``intently retrain --if-needed``: it retrains once ``--retrain-after`` new labels exist and
deploys only if the new model is not worse on the project's own test split).

After each day the active model is scored on the held-out remainder of the train split (the
texts never used for training nor replayed: a fixed set, so days compare), and on the day's
traffic as it was answered.

    .venv/bin/python bench/simulated_week.py --datasets ../shared/datasets

Writes ``docs/benchmarks/learning_loop.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
OUT = HERE.parent / "docs" / "benchmarks" / "learning_loop.json"


def _read(path: Path) -> list[tuple[str, str]]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return [(row["text"], row["label"]) for row in rows]


def _stratified(
    rows: list[tuple[str, str]], share: float, seed: int
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    by_label: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for row in rows:
        by_label[row[1]].append(row)
    rng = random.Random(seed)
    taken, rest = [], []
    for label in sorted(by_label):
        members = by_label[label][:]
        rng.shuffle(members)
        cut = max(2, round(share * len(members)))
        taken += members[:cut]
        rest += members[cut:]
    return taken, rest


def _accuracy(classifier: Any, rows: list[tuple[str, str]]) -> float:
    predictions = classifier.predict_batch([text for text, _ in rows])
    return sum(p.label == label for p, (_, label) in zip(predictions, rows, strict=True)) / len(
        rows
    )


def simulate(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    from intently import load_project, train
    from intently.db import Database
    from intently.db.interactions import InteractionRecord, InteractionStore, new_interaction_id
    from intently.deploy import deploy_version, registry_for
    from intently.loop.retrain import retrain_task
    from intently.runtime import Classifier

    data = Path(args.datasets) / "banking77"
    seed_rows, remainder = _stratified(_read(data / "train.jsonl"), args.train_share, args.seed)
    traffic = _read(data / "test.jsonl")
    random.Random(args.seed).shuffle(traffic)
    labels = sorted({label for _, label in seed_rows})
    (workdir / "seed.jsonl").write_text(
        "".join(json.dumps({"text": t, "label": label}) + "\n" for t, label in seed_rows),
        encoding="utf-8",
    )
    project_file = workdir / "intently.yaml"
    project_file.write_text(
        yaml.safe_dump(
            {
                "name": "banking77-week",
                "datasets": ["seed.jsonl"],
                "training": {"backend": args.backend, "seed": args.seed},
                "gates": {"accuracy": 0.5, "macro_f1": 0.5, "min_intent_f1": 0.0},
                "learning": {"retrain_after": args.retrain_after},
            }
        ),
        encoding="utf-8",
    )
    project = load_project(project_file)
    started = time.perf_counter()
    first = train(project, write_reports=False)
    deploy_version(project, "intent", first.version.id)
    initial_seconds = time.perf_counter() - started
    database = Database(f"sqlite:///{workdir / 'intently.db'}")
    database.migrate()
    store = InteractionStore(database)
    registry = registry_for(project)

    def active() -> Classifier:
        info = registry.active("intent")
        assert info is not None
        return Classifier.load(info.path)

    classifier = active()
    days: list[dict[str, Any]] = [
        {
            "day": 0,
            "version": classifier.version.id,
            "train_examples": len(first.dataset.train),
            "remainder_accuracy": round(_accuracy(classifier, remainder), 4),
            "test_split_macro_f1": round(first.report.macro_f1, 4),
            "seconds": round(initial_seconds, 1),
        }
    ]
    print(json.dumps(days[0]), flush=True)
    per_day = -(-len(traffic) // args.days)
    truth: dict[str, str] = {}
    clock = datetime(2026, 1, 5, tzinfo=UTC)
    for day in range(1, args.days + 1):
        chunk = traffic[(day - 1) * per_day : day * per_day]
        predictions = classifier.predict_batch([text for text, _ in chunk])
        records = []
        for i, ((text, label), p) in enumerate(zip(chunk, predictions, strict=True)):
            record = InteractionRecord(
                id=new_interaction_id(),
                task="intent",
                text=text,
                label=p.label,
                confidence=p.confidence,
                ranking=tuple(p.ranking[:5]),
                model_version=p.model_version,
                fallback=p.fallback,
                created_at=clock + timedelta(days=day - 1, seconds=i * 86_400 / len(chunk)),
            )
            truth[record.id] = label
            records.append(record)
        store.add_many(records)
        served = sum(p.label == label for p, (_, label) in zip(predictions, chunk, strict=True))
        n_review = round(args.review_share * len(chunk))
        if args.review_order == "lowest":
            queue = store.pending("intent", limit=n_review)
        else:
            pending = store.pending("intent", limit=len(truth))
            queue = random.Random(args.seed + day).sample(pending, min(n_review, len(pending)))
        corrected = 0
        for item in queue:
            reviewed = store.correct(item.id, truth[item.id], reviewer="simulation", labels=labels)
            corrected += reviewed.review_status == "corrected"
        started = time.perf_counter()
        outcome = retrain_task(project_file, "intent", database)
        seconds = time.perf_counter() - started
        classifier = active()
        row = {
            "day": day,
            "traffic": len(chunk),
            "served_accuracy": round(served / len(chunk), 4),
            "reviewed": len(queue),
            "corrections": corrected,
            "retrain": outcome.started,
            "deployed": outcome.deployed,
            "reason": outcome.reason,
            "test_split_macro_f1_before": _round(outcome.before),
            "test_split_macro_f1_after": _round(outcome.after),
            "feedback": outcome.merge,
            "version": classifier.version.id,
            "remainder_accuracy": round(_accuracy(classifier, remainder), 4),
            "seconds": round(seconds, 1),
        }
        days.append(row)
        print(json.dumps(row), flush=True)
    database.dispose()
    return {
        "benchmark": "simulated week of the learning loop",
        "dataset": "banking77",
        "backend": args.backend,
        "train_share": args.train_share,
        "seed_examples": len(seed_rows),
        "remainder_examples": len(remainder),
        "traffic_examples": len(traffic),
        "days": args.days,
        "review_share": args.review_share,
        "review_order": args.review_order,
        "retrain_after": args.retrain_after,
        "seed": args.seed,
        "results": days,
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average": [round(x, 2) for x in os.getloadavg()],
        },
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default=str(HERE.parent.parent / "shared" / "datasets"))
    parser.add_argument("--backend", default="linear")
    parser.add_argument("--train-share", type=float, default=0.2)
    parser.add_argument("--review-share", type=float, default=0.2)
    parser.add_argument(
        "--review-order",
        choices=("lowest", "random", "both"),
        default="both",
        help="which pending answers reviewers label: the queue's lowest confidence first, a "
        "random sample, or one week of each (same seed model and traffic)",
    )
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--retrain-after", type=int, default=50)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args()
    orders = ("lowest", "random") if args.review_order == "both" else (args.review_order,)
    weeks = []
    for order in orders:
        with tempfile.TemporaryDirectory(prefix="intently-week-") as folder:
            weeks.append(
                simulate(argparse.Namespace(**{**vars(args), "review_order": order}), Path(folder))
            )
    result = weeks[0] if len(weeks) == 1 else {"weeks": weeks}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
