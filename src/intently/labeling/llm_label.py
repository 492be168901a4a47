"""Labeling unlabeled texts with an LLM, checked against the task's own trained model.

The task's labels and their descriptions become a classification prompt for an
OpenAI-compatible endpoint (:mod:`intently.curation.llm_client`); texts go ``per_request`` at a
time and the answer must be a JSON list with one label per text, each one of the task's labels
or the fallback label (out of scope). An answer with a label outside that set is retried; when
the retries are spent the valid labels of the batch are kept and the others reported as
``invalid``.

Where the task has a trained model, each text also gets its prediction (fallback rule applied):
texts on which both agree become ``llm_labeled`` training examples; disagreements are for a
human to review. Without a model every valid LLM label becomes an example. This is how a team
replaces an LLM call in production with a model trained on its own traffic; how good the labels
are depends on the model the endpoint serves.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from intently.curation.llm_client import ChatClient, Message, Usage, parse_json_answer
from intently.data.example import Example, Source
from intently.errors import LLMBudgetExceeded
from intently.runtime import Classifier

SYSTEM_PROMPT = (
    "You classify messages that users send to an assistant. Each message gets exactly one "
    "label from the given list. Answer with a JSON array of labels, one per message, in order, "
    "and nothing else."
)
DEFAULT_PER_REQUEST = 10


@dataclass(frozen=True)
class LabeledText:
    """One text with the LLM's label and, when the task has a model, the model's answer."""

    text: str
    line: int | None
    llm_label: str | None
    """None: the LLM gave no valid label (see ``llm_answer``)."""
    llm_answer: str | None = None
    """What the LLM answered instead of a valid label."""
    model_label: str | None = None
    model_confidence: float | None = None
    model_ranking: tuple[tuple[str, float], ...] = ()

    @property
    def agrees(self) -> bool | None:
        """Whether LLM and model agree; None without a model or a valid LLM label."""
        if self.llm_label is None or self.model_label is None:
            return None
        return self.llm_label == self.model_label

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "line": self.line,
            "llm_label": self.llm_label,
            "llm_answer": self.llm_answer,
            "model_label": self.model_label,
            "model_confidence": self.model_confidence,
        }


@dataclass(frozen=True)
class LabelingResult:
    items: tuple[LabeledText, ...]
    usage: Usage
    llm_model: str
    model_version: str | None
    seconds: float
    stopped: str | None = None
    """Why labeling stopped before the last text (a cap), else None."""
    weight: float | None = None

    @property
    def agreed(self) -> tuple[LabeledText, ...]:
        return tuple(item for item in self.items if item.agrees)

    @property
    def disagreed(self) -> tuple[LabeledText, ...]:
        return tuple(item for item in self.items if item.agrees is False)

    @property
    def invalid(self) -> tuple[LabeledText, ...]:
        return tuple(item for item in self.items if item.llm_label is None)

    @property
    def agreement_rate(self) -> float | None:
        compared = len(self.agreed) + len(self.disagreed)
        return len(self.agreed) / compared if compared else None

    def examples(self) -> list[Example]:
        """Training examples: agreements, or every valid LLM label when there is no model."""
        chosen = [
            item
            for item in self.items
            if item.llm_label is not None and (self.model_version is None or item.agrees)
        ]
        meta: dict[str, Any] = {"llm_model": self.llm_model}
        if self.model_version is not None:
            meta["model_version"] = self.model_version
        return [
            Example(item.text, item.llm_label or "", Source.LLM_LABELED, self.weight, meta=meta)
            for item in chosen
        ]

    def summary(self) -> dict[str, Any]:
        """Counts, agreement and cost; ``examples`` is the number of training examples."""
        return {
            **self.usage.to_dict(),  # first: its "examples" (texts labeled) is overridden below
            "texts": len(self.items),
            "llm_labeled": len(self.items) - len(self.invalid),
            "invalid": len(self.invalid),
            "agreed": len(self.agreed),
            "disagreed": len(self.disagreed),
            "agreement_rate": self.agreement_rate,
            "examples": len(self.examples()),
            "llm_model": self.llm_model,
            "model_version": self.model_version,
            "seconds": round(self.seconds, 3),
            "stopped": self.stopped,
        }


def classification_messages(
    labels: Mapping[str, str], fallback_label: str, texts: Sequence[str]
) -> list[Message]:
    """The prompt: each label with its description, the fallback label, then the texts."""
    lines = ["Labels:"]
    lines += [
        f"- {name}: {about}" if about.strip() else f"- {name}" for name, about in labels.items()
    ]
    lines.append(f"- {fallback_label}: none of the labels above (out of scope)")
    lines.append("Messages:")
    lines += [f"{i}. {json.dumps(text, ensure_ascii=False)}" for i, text in enumerate(texts, 1)]
    lines.append(f"Answer with a JSON array of {len(texts)} labels from the list, one per message.")
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": "\n".join(lines)},
    ]


def parse_labels(
    content: str, allowed: Mapping[str, str], n: int, *, strict: bool
) -> list[tuple[str | None, str]]:
    """``(label, answered)`` per text; ``allowed`` maps casefolded names to labels.

    ``label`` is None when the answer is not one of them, or with ``strict`` a ValueError is
    raised instead (so the batch is asked again).
    """
    value = parse_json_answer(content)
    if isinstance(value, dict) and len(value) == 1:  # {"labels": [...]}
        value = next(iter(value.values()))
    if n == 1 and isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or len(value) != n:
        raise ValueError(f"expected a JSON list of {n} labels")
    answered = [v if isinstance(v, str) else json.dumps(v) for v in value]
    labels = [(allowed.get(a.strip().casefold()), a) for a in answered]
    unknown = sorted({repr(a) for label, a in labels if label is None})
    if strict and unknown:
        raise ValueError(f"label(s) outside the task's set: {', '.join(unknown)}")
    return labels


def label_texts(
    texts: Sequence[tuple[int | None, str]],
    *,
    labels: Mapping[str, str],
    fallback_label: str,
    client: ChatClient,
    classifier: Classifier | None = None,
    per_request: int = DEFAULT_PER_REQUEST,
    weight: float | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> LabelingResult:
    """Label ``texts`` (``(line, text)`` pairs) with the LLM behind ``client``.

    ``labels`` maps each label to its description. A cap of the client stops labeling early;
    what was labeled so far is returned with ``stopped`` set. An endpoint that keeps failing
    raises :class:`~intently.errors.LLMError` (answers received so far are cached, so a rerun
    does not pay for them again).
    """
    allowed = {name.casefold(): name for name in (*labels, fallback_label)}
    started = time.perf_counter()
    items: list[LabeledText] = []
    stopped = None
    for start in range(0, len(texts), per_request):
        batch = texts[start : start + per_request]
        batch_texts = [text for _, text in batch]
        messages = classification_messages(labels, fallback_label, batch_texts)
        try:
            answer = client.ask(
                messages,
                partial(parse_labels, allowed=allowed, n=len(batch), strict=True),
                params={"temperature": 0},
                lenient=partial(parse_labels, allowed=allowed, n=len(batch), strict=False),
            )
        except LLMBudgetExceeded as capped:
            stopped = capped.message
            break
        client.usage.examples += len(batch)
        predictions = classifier.predict_batch(batch_texts) if classifier is not None else None
        for i, ((line, text), (label, answered)) in enumerate(zip(batch, answer, strict=True)):
            prediction = predictions[i] if predictions is not None else None
            items.append(
                LabeledText(
                    text,
                    line,
                    label,
                    llm_answer=None if label is not None else answered,
                    model_label=prediction.label if prediction else None,
                    model_confidence=prediction.confidence if prediction else None,
                    model_ranking=prediction.ranking if prediction else (),
                )
            )
        if progress:
            progress(len(items), len(texts))
    return LabelingResult(
        tuple(items),
        client.usage,
        client.endpoint.model,
        classifier.version.id if classifier is not None else None,
        time.perf_counter() - started,
        stopped,
        weight,
    )
