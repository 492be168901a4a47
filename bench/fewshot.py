"""Few-shot protocol for the ``embedding`` backend (and, with ``--setfit``, SetFit itself).

For each seed, ``--shots`` training examples per intent are drawn from the dataset's train split
(``numpy.random.default_rng(seed)``, labels in sorted order, without replacement); the model is
fitted on them alone and scored on the full test split. The row reports each seed and the mean.
Training time is the wall-clock time of ``fit`` (loading the body included).

    .venv/bin/python bench/fewshot.py --datasets ../shared/datasets --name auto
    .venv/bin/python bench/fewshot.py --name frozen --params '{"finetune": "none"}'
    .venv/bin/python bench/fewshot.py --setfit --setfit-python /tmp/setfit-venv/bin/python

SetFit runs in a virtual environment of its own, so that installing it cannot change the main
one's torch; a ``.pth`` file lends it the main environment's torch and transformers, and pip
adds only setfit and its remaining dependencies (datasets, evaluate, accelerate):

    python3.11 -m venv /tmp/setfit-venv
    echo "$PWD/.venv/lib/python3.11/site-packages" \
        > /tmp/setfit-venv/lib/python3.11/site-packages/intently-main.pth
    /tmp/setfit-venv/bin/pip install setfit==1.2.0

SetFit's default is 20 pair iterations (2 x 20 x 770 pairs for 10-shot BANKING77), about 25
minutes a seed on 2 CPU cores; ``--setfit-iterations`` lowers it to compare at similar cost.

With ``--zeroshot FILE.yaml`` it runs the ``zeroshot`` backend instead: no training examples,
only the ``descriptions`` of the YAML file, scored on the valid (when present) and test splits:

    .venv/bin/python bench/fewshot.py --dataset snips --zeroshot bench/zeroshot_snips.yaml

With ``--full`` it trains on the whole train (+valid) split through ``intently.benchmark``
(the same row as ``make bench``), for the full-data figure of the same backend settings:

    .venv/bin/python bench/fewshot.py --full --name default

Writes ``docs/benchmarks/fewshot/<dataset>__<shots>shot__<name>.json`` (``0shot`` for zero-shot,
``all`` for ``--full``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

HERE = Path(__file__).resolve().parent


def read_jsonl(path: Path) -> tuple[list[str], list[str]]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return [r["text"] for r in rows], [r["label"] for r in rows]


def sample_shots(labels: list[str], shots: int, seed: int) -> list[int]:
    """Row indices: ``shots`` per label, drawn with ``default_rng(seed)`` in sorted label order."""
    rng = np.random.default_rng(seed)
    by_label: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        by_label.setdefault(label, []).append(i)
    picked: list[int] = []
    for label in sorted(by_label):
        rows = by_label[label]
        picked.extend(
            int(rows[j]) for j in rng.choice(len(rows), size=min(shots, len(rows)), replace=False)
        )
    return sorted(picked)


def macro_f1(truth: list[str], predicted: list[str]) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(truth, predicted, average="macro"))


def machine() -> dict[str, Any]:
    """CPU count and load average: on a shared machine, timings depend on the neighbours."""
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "load_average_1m_at_end": round(os.getloadavg()[0], 2),
    }


def versions(*packages: str) -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in packages:
        with contextlib.suppress(importlib_metadata.PackageNotFoundError):
            found[name] = importlib_metadata.version(name)
    return found


def run_intently(train, test, *, shots, seeds, params) -> list[dict[str, Any]]:
    from intently.backends import make_backend

    texts, labels = train
    test_texts, test_labels = test
    rows = []
    for seed in seeds:
        picked = sample_shots(labels, shots, seed)
        model = make_backend("embedding", params, seed=seed)
        started = time.perf_counter()
        model.fit([texts[i] for i in picked], [labels[i] for i in picked])
        train_seconds = time.perf_counter() - started
        started = time.perf_counter()
        proba = model.predict_proba(test_texts)
        predict_seconds = time.perf_counter() - started
        predicted = [model.classes_[i] for i in proba.argmax(axis=1)]
        accuracy = float(np.mean([p == t for p, t in zip(predicted, test_labels, strict=True)]))
        row = {
            "seed": seed,
            "n_train": len(picked),
            "accuracy": round(accuracy, 4),
            "macro_f1": round(macro_f1(test_labels, predicted), 4),
            "train_seconds": round(train_seconds, 1),
            "predict_seconds": round(predict_seconds, 1),
            "fit_info": model.fit_info_,
        }
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


SETFIT_SCRIPT = r"""
import json, sys, time, os
os.environ.setdefault("HF_HUB_OFFLINE", "1")
import numpy as np
from datasets import Dataset
from setfit import SetFitModel, Trainer, TrainingArguments
job = json.loads(sys.stdin.read())
model = SetFitModel.from_pretrained(job["body"])
args = TrainingArguments(batch_size=job["batch_size"], num_epochs=1,
                         num_iterations=job["num_iterations"], seed=job["seed"])
train = Dataset.from_dict({"text": job["texts"], "label": job["labels"]})
started = time.perf_counter()
Trainer(model=model, args=args, train_dataset=train).train()
seconds = time.perf_counter() - started
predicted = [str(p) for p in model.predict(job["test_texts"])]
print(json.dumps({"predicted": predicted, "train_seconds": seconds}))
"""


def run_setfit(train, test, *, shots, seeds, python, num_iterations, batch_size):
    from intently.backends.bodies import default_body_path

    texts, labels = train
    test_texts, test_labels = test
    rows = []
    for seed in seeds:
        picked = sample_shots(labels, shots, seed)
        job = {
            "body": str(default_body_path()),
            "texts": [texts[i] for i in picked],
            "labels": [labels[i] for i in picked],
            "test_texts": test_texts,
            "seed": seed,
            "num_iterations": num_iterations,
            "batch_size": batch_size,
        }
        # SetFit's trainer writes checkpoints into the working directory: keep them out of the repo.
        with tempfile.TemporaryDirectory(prefix="setfit-") as scratch:
            done = subprocess.run(
                [python, "-c", SETFIT_SCRIPT],
                input=json.dumps(job),
                capture_output=True,
                text=True,
                check=True,
                cwd=scratch,
            )
        answer = json.loads(done.stdout.strip().splitlines()[-1])
        predicted = answer["predicted"]
        accuracy = float(np.mean([p == t for p, t in zip(predicted, test_labels, strict=True)]))
        row = {
            "seed": seed,
            "n_train": len(picked),
            "accuracy": round(accuracy, 4),
            "macro_f1": round(macro_f1(test_labels, predicted), 4),
            "train_seconds": round(answer["train_seconds"], 1),
        }
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def run_zeroshot(folder: Path, descriptions_file: Path, params: dict[str, Any]) -> dict[str, Any]:
    import yaml

    from intently.backends import make_backend

    descriptions = yaml.safe_load(descriptions_file.read_text(encoding="utf-8"))["descriptions"]
    model = make_backend("zeroshot", {**params, "descriptions": descriptions})
    started = time.perf_counter()
    model.fit([], [])
    fit_seconds = time.perf_counter() - started
    scores: dict[str, Any] = {"fit_seconds": round(fit_seconds, 2)}
    for split in ("valid", "test"):
        path = folder / f"{split}.jsonl"
        if not path.is_file():
            continue
        texts, labels = read_jsonl(path)
        proba = model.predict_proba(texts)
        predicted = [model.classes_[i] for i in proba.argmax(axis=1)]
        accuracy = float(np.mean([p == t for p, t in zip(predicted, labels, strict=True)]))
        scores[split] = {
            "n": len(texts),
            "accuracy": round(accuracy, 4),
            "macro_f1": round(macro_f1(labels, predicted), 4),
        }
        print(split, json.dumps(scores[split]), flush=True)
    return {"descriptions": descriptions, "params": params, **scores}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=Path, default=HERE.parent.parent / "shared/datasets")
    parser.add_argument("--dataset", default="banking77")
    parser.add_argument("--shots", type=int, default=10)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--params", default="{}", help="embedding backend params as JSON")
    parser.add_argument("--name", default="auto", help="row name (output file suffix)")
    parser.add_argument("--setfit", action="store_true", help="run SetFit instead")
    parser.add_argument("--zeroshot", type=Path, help="YAML with descriptions: zero-shot run")
    parser.add_argument("--full", action="store_true", help="train on all data (benchmark row)")
    parser.add_argument("--setfit-python", default=sys.executable)
    parser.add_argument("--setfit-iterations", type=int, default=20)
    parser.add_argument("--setfit-batch-size", type=int, default=16)
    parser.add_argument("--out", type=Path, default=HERE.parent / "docs/benchmarks/fewshot")
    args = parser.parse_args()
    folder = args.datasets / args.dataset
    train, test = read_jsonl(folder / "train.jsonl"), read_jsonl(folder / "test.jsonl")
    params = json.loads(args.params)
    if args.full:
        from intently.benchmark import run_benchmark

        row = run_benchmark(folder, backend="embedding", params=params)
        result = {"name": args.name, "params": params, **row}
        args.out.mkdir(parents=True, exist_ok=True)
        out = args.out / f"{args.dataset}__all__{args.name}.json"
        out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        print(json.dumps({k: row[k] for k in ("accuracy", "macro_f1", "train_seconds")}))
        print(f"wrote {out}")
        return 0
    if args.zeroshot is not None:
        result = {
            "dataset": args.dataset,
            "protocol": "zero-shot: intent descriptions only, no training examples",
            "name": args.name if args.name != "auto" else "zeroshot",
            **run_zeroshot(folder, args.zeroshot, params),
            "machine": machine(),
            "versions": versions("intently", "torch", "transformers"),
        }
        args.out.mkdir(parents=True, exist_ok=True)
        out = args.out / f"{args.dataset}__0shot__{result['name']}.json"
        out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {out}")
        return 0
    if args.setfit:
        name = f"setfit-{args.setfit_iterations}it"
        rows = run_setfit(
            train,
            test,
            shots=args.shots,
            seeds=args.seeds,
            python=args.setfit_python,
            num_iterations=args.setfit_iterations,
            batch_size=args.setfit_batch_size,
        )
        setup = {
            "peer": "setfit",
            "num_iterations": args.setfit_iterations,
            "batch_size": args.setfit_batch_size,
            "num_epochs": 1,
        }
        found = json.loads(
            subprocess.run(
                [
                    args.setfit_python,
                    "-c",
                    "import json,setfit,torch;print(json.dumps("
                    "{'setfit':setfit.__version__,'torch':torch.__version__}))",
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
    else:
        name = args.name
        rows = run_intently(train, test, shots=args.shots, seeds=args.seeds, params=params)
        setup = {"backend": "embedding", "params": params}
        found = versions("intently", "torch", "transformers", "scikit-learn")
    result = {
        "dataset": args.dataset,
        "protocol": f"{args.shots} examples per label from train, seeds {args.seeds}, "
        "scored on the full test split",
        "name": name,
        "setup": setup,
        "mean_accuracy": round(float(np.mean([r["accuracy"] for r in rows])), 4),
        "mean_macro_f1": round(float(np.mean([r["macro_f1"] for r in rows])), 4),
        "mean_train_seconds": round(float(np.mean([r["train_seconds"] for r in rows])), 1),
        "runs": rows,
        "machine": machine(),
        "versions": found,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"{args.dataset}__{args.shots}shot__{name}.json"
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: result[k] for k in ("name", "mean_accuracy", "mean_train_seconds")}))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
