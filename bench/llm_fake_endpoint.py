"""LLM generation and labeling against a local fake chat-completions endpoint.

The endpoint is the tests' real HTTP server (``tests/fake_llm.py``): it answers at once, so the
figures are Intently's own overhead (prompting, HTTP, validation, cache, model comparison), not
a model's speed, and the label quality is the one scripted here; with a real endpoint both
depend on the model it serves. Four runs on BANKING77's 77 intents:

1. ``generate``: the ``llm`` generator, 5 train examples shown per intent, 20 new texts per
   intent, 10 per request; then the same run again (the cache answers: no request);
2. ``generate_failures``: the same with 20% of the requests failing (timeout, HTTP 500 and 429,
   a text that is not JSON, a body that is not a chat completion), 5 retries;
3. ``label``: ``intently data label`` on the 3,080 test texts with a linear model trained on the
   train split; the fake LLM gives the true label for 90% of texts and a random other label for
   10%; 20 texts per request;
4. ``label_failures``: the same with 20% of the requests failing: labels outside the task's
   set, timeouts, HTTP 500, a text that is not JSON (3 retries).

    .venv/bin/python bench/llm_fake_endpoint.py --datasets /work/shared/datasets

Writes ``docs/benchmarks/llm_fake_endpoint.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from fake_llm import FakeChatServer  # noqa: E402
from intently import load_project, train  # noqa: E402
from intently.curation.llm_cache import ResponseCache  # noqa: E402
from intently.curation.llm_client import ChatClient  # noqa: E402
from intently.curation.llm_generate import GENERATORS, endpoint_from  # noqa: E402
from intently.data import Example, read_examples  # noqa: E402
from intently.generate.base import GenerationContext  # noqa: E402
from intently.labeling.run import label_file  # noqa: E402

OUT = ROOT / "docs" / "benchmarks" / "llm_fake_endpoint.json"
FAILURES = ("timeout", "500", "429", "invalid_json", "not_chat")


def _project(folder: Path, train_file: Path | None) -> Path:
    data: dict[str, Any] = {
        "name": "banking77-llm",
        "training": {"backend": "linear", "seed": 13},
        "gates": {"accuracy": 0, "macro_f1": 0, "min_intent_f1": 0, "coverage": 0},
        "fallback": {"threshold": 0.0},
    }
    if train_file is not None:
        data["datasets"] = [str(train_file)]
    path = folder / "intently.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def generate(project: Path, seeds: Sequence[Example], **params: Any) -> dict[str, Any]:
    kind = GENERATORS["llm"]
    settings = {"count": 20, "per_request": 10, "shots": 5, "max_requests": 10_000, **params}
    generator = kind.build(
        kind.params(**settings), GenerationContext(load_project(project), "intent")
    )
    started = time.perf_counter()
    made = generator.generate(seeds, np.random.default_rng(13))
    seconds = time.perf_counter() - started
    return {
        "examples": len(made),
        "intents": len({e.label for e in made}),
        "seconds": round(seconds, 3),
        "examples_per_second": round(len(made) / seconds, 1),
        **generator.usage.to_dict(),
    }


def label(
    project: Path,
    texts: Path,
    server: FakeChatServer,
    truth: dict[str, str],
    folder: Path,
    **kw: Any,
) -> dict[str, Any]:
    endpoint = endpoint_from(server.base_url, "fake", max_retries=kw.pop("max_retries", 3), **kw)
    client = ChatClient(endpoint, cache=ResponseCache(None))
    with client:
        run = label_file(
            load_project(project),
            "intent",
            texts,
            client=client,
            out=folder / "labeled.jsonl",
            disagreements=folder / "disagreements.jsonl",
            per_request=20,
        )
    result = run.result
    written = result.examples()
    wrong_llm = [
        i for i in result.items if i.llm_label is not None and i.llm_label != truth[i.text]
    ]
    summary = result.summary()
    return {
        **summary,
        "texts_per_second": round(summary["texts"] / summary["seconds"], 1),
        "examples_correct": round(sum(e.label == truth[e.text] for e in written) / len(written), 4),
        "llm_wrong": len(wrong_llm),
        "llm_wrong_caught": sum(not i.agrees for i in wrong_llm),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=Path, default=Path("/work/shared/datasets"))
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    folder = args.datasets / "banking77"
    train_examples = read_examples(folder / "train.jsonl")
    test_examples = read_examples(folder / "test.jsonl")
    by_label: dict[str, list[Example]] = {}
    for example in train_examples:
        by_label.setdefault(example.label, []).append(example)
    seeds = [e for label in sorted(by_label) for e in by_label[label][:5]]
    labels = sorted(by_label)
    draw = random.Random(13)
    truth = {e.text: e.label for e in test_examples}
    llm_answer = {
        text: label if draw.random() >= 0.1 else draw.choice([x for x in labels if x != label])
        for text, label in truth.items()
    }
    results: dict[str, Any] = {}
    with (
        tempfile.TemporaryDirectory() as tmp,
        FakeChatServer(lambda text, _labels: llm_answer[text], slow_s=0.4) as server,
    ):
        work = Path(tmp)
        bare = _project(work, None)
        base = {"base_url": server.base_url, "model": "fake"}
        results["generate"] = generate(bare, seeds, **base)
        results["generate_rerun"] = generate(bare, seeds, **base)
        server.fail_randomly(0.2, FAILURES, seed=13)
        results["generate_failures"] = generate(
            bare, seeds, **base, cache=None, max_retries=5, backoff_s=0.01, timeout_s=0.2
        )
        server.fail_randomly(0.0, FAILURES)
        (work / "model").mkdir()
        project = _project(work / "model", folder / "train.jsonl")
        started = time.perf_counter()
        run = train(load_project(project))
        results["model"] = {
            "version": run.version.id,
            "test_accuracy_in_training_report": run.report.accuracy,
            "train_seconds": round(time.perf_counter() - started, 1),
        }
        texts = work / "test.txt"
        texts.write_text("\n".join(truth) + "\n", encoding="utf-8")
        results["label"] = label(project, texts, server, truth, work)
        server.fail_randomly(0.2, ("bad_label", "timeout", "500", "invalid_json"), seed=13)
        results["label_failures"] = label(
            project, texts, server, truth, work, max_retries=3, backoff_s=0.01, timeout_s=0.2
        )
    results["load_average"] = [round(x, 2) for x in os.getloadavg()]
    results["cpus"] = os.cpu_count()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
