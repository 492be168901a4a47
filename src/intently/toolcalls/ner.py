"""The tool NER model: TOOL_NAME, PARAM_NAME and PARAM_VALUE in natural-language text.

It is trained from the registry's tools on generated sentences (:mod:`.ner_data`) with
spaCy's ``ner`` on a blank ``en`` pipeline, through the shared spaCy machinery
(:mod:`intently.backends.spacy_config` builds the config, :mod:`intently.backends.spacy_train`
runs spaCy's loop and keeps the best checkpoint on validation sentences), and evaluated on
held-out generated sentences (entity precision, recall and F1, exact span and label).

Plugged into :class:`~intently.toolcalls.ToolCallDetector` as the ``ner`` detector, it turns
the entities of a text into candidate calls (a tool name with the parameter names and values
around it); the aggregator then checks the arguments against the schema like any other
candidate.

Staleness: the model stores one fingerprint per tool it was trained on (a hash of name,
description and schema). It proposes a call only for a tool whose current definition has the
same fingerprint, so a model trained on another tool set is never used for a tool it does not
know, while the tools it does know keep working. :class:`NerRetrainer` subscribes to a
:class:`~intently.toolcalls.ToolRegistry`; a change starts a retrain in a background thread,
and the new model is swapped in when it is ready (one reference assignment, so a detection
in flight finishes with the model it started with).

On disk a model is a registry version (``models/tool_ner/<version>/``): ``metadata.json``,
the spaCy pipeline folder ``spacy/`` (read with ``spacy.load``; nothing is unpickled) and
``tools.json`` with the fingerprints.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from intently.errors import ModelError, TrainingError
from intently.toolcalls.ner_data import (
    LABELS,
    NerExample,
    generate_examples,
)
from intently.toolcalls.records import Tool

NER_TASK = "tool_ner"
BACKEND = "spacy-ner"
PIPELINE_DIR = "spacy"
TOOLS_FILE = "tools.json"


@dataclass(frozen=True)
class NerSettings:
    """How a tool NER model is trained: sentences per tool, passes, seed, held-out share."""

    per_tool: int = 60
    max_epochs: int = 12
    seed: int = 13
    held_out: float = 0.2
    width: int = 64
    hidden_width: int = 64


@dataclass(frozen=True)
class EntityScores:
    """Entity-level precision, recall and F1 (exact span and label), overall and per label."""

    precision: float
    recall: float
    f1: float
    support: int
    per_label: Mapping[str, Mapping[str, float]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "support": self.support,
            "per_label": {k: dict(v) for k, v in self.per_label.items()},
        }


def _prf(tp: int, n_pred: int, n_gold: int) -> dict[str, float]:
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def entity_scores(
    gold: Sequence[Iterable[tuple[int, int, str]]],
    predicted: Sequence[Iterable[tuple[int, int, str]]],
) -> EntityScores:
    """Micro-averaged scores over texts; an entity counts only with exact offsets and label."""
    if len(gold) != len(predicted):
        raise ValueError("gold and predicted must cover the same texts")
    counts = {label: [0, 0, 0] for label in LABELS}  # tp, predicted, gold
    for want, got in zip(gold, predicted, strict=True):
        want_set, got_set = set(want), set(got)
        for entity in want_set:
            counts.setdefault(entity[2], [0, 0, 0])[2] += 1
        for entity in got_set:
            row = counts.setdefault(entity[2], [0, 0, 0])
            row[1] += 1
            row[0] += entity in want_set
    total = [sum(row[i] for row in counts.values()) for i in range(3)]
    overall = _prf(*total)
    return EntityScores(
        precision=overall["precision"],
        recall=overall["recall"],
        f1=overall["f1"],
        support=total[2],
        per_label={label: {**_prf(*row), "support": row[2]} for label, row in counts.items()},
    )


def tool_fingerprint(tool: Tool) -> str:
    """A hash of what the model learned from: name, description and schema."""
    canonical = json.dumps(tool.to_dict(), sort_keys=True, ensure_ascii=False, default=str)
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def tool_set_fingerprint(fingerprints: Mapping[str, str]) -> str:
    canonical = json.dumps(sorted(fingerprints.items()))
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ToolNer:
    """A trained tool NER model and the tools it knows (name → fingerprint)."""

    nlp: Any
    tools: Mapping[str, str]
    metrics: Mapping[str, Any] = field(default_factory=dict)
    version: str | None = None

    @property
    def fingerprint(self) -> str:
        return tool_set_fingerprint(self.tools)

    def knows(self, tool: Tool) -> bool:
        """Whether the model was trained on exactly this definition of ``tool``."""
        return self.tools.get(tool.name) == tool_fingerprint(tool)

    def entities(self, text: str) -> list[tuple[int, int, str]]:
        return [(e.start_char, e.end_char, e.label_) for e in self.nlp(text).ents]


# -- training ---------------------------------------------------------------------------------


def _ner_config(settings: NerSettings, eval_frequency: int) -> Any:
    from intently.backends.spacy_config import LoopSettings, build_config

    model = {
        "@architectures": "spacy.TransitionBasedParser.v2",
        "state_type": "ner",
        "extra_state_tokens": False,
        "hidden_width": settings.hidden_width,
        "maxout_pieces": 2,
        "use_upper": True,
        "nO": None,
        "tok2vec": {
            "@architectures": "spacy.HashEmbedCNN.v2",
            "pretrained_vectors": None,
            "width": settings.width,
            "depth": 2,
            "embed_size": 2000,
            "window_size": 1,
            "maxout_pieces": 3,
            "subword_features": True,
        },
    }
    loop = LoopSettings(
        dropout=0.1,
        batch_start=8,
        batch_stop=32,
        patience=0,
        eval_frequency=eval_frequency,
        max_epochs=settings.max_epochs,
        seed=settings.seed,
    )
    return build_config(
        component="ner",
        factory="ner",
        model=model,
        settings=loop,
        score_weights={"ents_f": 1.0, "ents_p": 0.0, "ents_r": 0.0},
    )


def split_assignments(nlp: Any) -> None:
    """Make the tokenizer split ``city=Paris`` and ``city:Paris`` into three tokens (spaCy's
    English rules keep them whole), so a name and its value can be separate entities. Saved
    with the pipeline, so a loaded model tokenizes the same way."""
    from spacy.util import compile_infix_regex

    extra = (r"=", r"(?<=[A-Za-z_]):(?=[^\s/])")
    infixes = [*nlp.Defaults.infixes, *extra]
    nlp.tokenizer.infix_finditer = compile_infix_regex(infixes).finditer


def _spacy_examples(nlp: Any, examples: Sequence[NerExample]) -> list[Any]:
    """spaCy ``Example``s; sentences whose entities do not fall on token boundaries are left
    out (the tokenizer decides; a misaligned span would teach a wrong boundary)."""
    from spacy.training import Example

    split_assignments(nlp)
    made = []
    for example in examples:
        doc = nlp.make_doc(example.text)
        spans = [doc.char_span(s, e, label=label) for s, e, label in example.entities]
        if any(span is None for span in spans):
            continue
        made.append(Example.from_dict(doc, {"entities": list(example.entities)}))
    return made


def train_tool_ner(tools: Sequence[Tool], settings: NerSettings | None = None) -> ToolNer:
    """Train a tool NER model on sentences generated for ``tools``; its metrics are scored on
    held-out sentences generated with another seed (same templates, other draws)."""
    from intently.backends.spacy_train import init_pipeline, train_pipeline

    settings = settings or NerSettings()
    tools = list(tools)
    if not tools:
        raise TrainingError(
            "a tool NER model needs at least one tool to train on.",
            hint="offer tools first (the project's `tools:`, a tools file or an MCP server).",
        )
    sentences = generate_examples(tools, per_tool=settings.per_tool, seed=settings.seed)
    cut = max(1, int(len(sentences) * settings.held_out))
    valid_sentences, train_sentences = sentences[:cut], sentences[cut:]
    steps_per_epoch = max(1, len(train_sentences) // 16)
    config = _ner_config(settings, eval_frequency=steps_per_epoch * 2)
    nlp, train = init_pipeline(config, lambda made: _spacy_examples(made, train_sentences))
    valid = _spacy_examples(nlp, valid_sentences)
    train_pipeline(nlp, train, valid)
    test_sentences = generate_examples(
        tools, per_tool=max(5, settings.per_tool // 3), seed=settings.seed + 1
    )
    scores = evaluate_tool_ner(nlp, test_sentences)
    return ToolNer(
        nlp=nlp,
        tools={tool.name: tool_fingerprint(tool) for tool in tools},
        metrics={**scores.to_json(), "n_train": len(train), "n_test": len(test_sentences)},
    )


def evaluate_tool_ner(nlp: Any, examples: Sequence[NerExample]) -> EntityScores:
    predicted = [
        [(e.start_char, e.end_char, e.label_) for e in doc.ents]
        for doc in nlp.pipe(ex.text for ex in examples)
    ]
    return entity_scores([ex.entities for ex in examples], predicted)


# -- storage ----------------------------------------------------------------------------------


def save_tool_ner(model: ToolNer, models_root: Path, *, deploy: bool = True) -> ToolNer:
    """Write ``model`` as a new version of ``models_root/tool_ner``; with ``deploy`` make it
    the active one. Returns the model with its version id."""
    import spacy

    from intently.registry import ModelVersion, Registry, Status, new_version_id, write_version
    from intently.registry.store import library_versions
    from intently.runtime.model_files import write_json

    registry = Registry(models_root)
    version = ModelVersion(
        id=new_version_id(),
        task=NER_TASK,
        backend=BACKEND,
        labels=LABELS,
        params={"tools": sorted(model.tools)},
        metrics=dict(model.metrics),
        dataset_fingerprint=model.fingerprint,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        status=Status.CANDIDATE,
        fallback={},
        versions={**library_versions(), "spacy": spacy.__version__},
    )

    def write_files(folder: Path) -> None:
        model.nlp.to_disk(folder / PIPELINE_DIR)
        write_json(folder / TOOLS_FILE, dict(model.tools))

    write_version(registry.task_dir(NER_TASK), version, write_files)
    if deploy:
        registry.deploy(NER_TASK, version.id, check=_loads)
    return ToolNer(model.nlp, model.tools, model.metrics, version.id)


def _loads(path: Path) -> None:
    """The deploy check: a version is made active only when it loads."""
    load_tool_ner(path)


def load_tool_ner(path: Path) -> ToolNer:
    """A saved model (``spacy.load``: config, msgpack weights; nothing unpickled)."""
    import spacy

    from intently.registry import read_version

    version = read_version(path)
    if version.backend != BACKEND:
        raise ModelError(f"{path} holds a {version.backend} model, not a tool NER model.")
    try:
        tools = json.loads((path / TOOLS_FILE).read_text(encoding="utf-8"))
        nlp = spacy.load(path / PIPELINE_DIR)
    except (OSError, ValueError) as exc:
        raise ModelError(
            f"the tool NER model in {path} cannot be loaded ({exc}).",
            hint="retrain it (a change to the tool registry does, or NerRetrainer.trigger()).",
        ) from None
    if not isinstance(tools, dict) or "ner" not in nlp.pipe_names:
        raise ModelError(f"{path} is not a tool NER model (tools.json or the ner pipe missing).")
    return ToolNer(nlp, tools, version.metrics, version.id)


def load_active_tool_ner(models_root: Path) -> ToolNer | None:
    """The deployed tool NER model under ``models_root``, or None when there is none."""
    from intently.registry import Registry

    path = Registry(models_root).active_path(NER_TASK)
    return None if path is None else load_tool_ner(path)
