"""The parity check of an export: do the ONNX graphs answer like the native model?

For each precision: the share of texts whose top class (argmax) matches the native model's,
the largest absolute probability difference, and accuracy on the labels when they are known.
Export refuses graphs below :data:`MIN_AGREEMENT`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from intently.errors import DataError, Location

MIN_AGREEMENT = 0.995
EVALUATION_FILE = "evaluation.jsonl"
"""Written by training in the version directory: the evaluated split, ``{"text", "label"}``."""


@dataclass(frozen=True)
class PrecisionParity:
    """How one ONNX graph compares with the native model."""

    agreement: float
    disagreements: int
    max_abs_diff: float
    accuracy: float | None


@dataclass(frozen=True)
class ParityReport:
    """The parity check of ``n`` texts; ``source`` names where they came from."""

    n: int
    source: str
    min_agreement: float
    native_accuracy: float | None
    fp32: PrecisionParity
    int8: PrecisionParity

    def failures(self) -> list[str]:
        """One sentence per graph below ``min_agreement`` (empty when the check passes)."""
        return [
            f"{name} ONNX agrees with the native model on {p.agreement:.2%} of {self.n} texts "
            f"({p.disagreements} differ; minimum {self.min_agreement:.2%}), max |Δp| "
            f"{p.max_abs_diff:.4g}"
            + (f", accuracy {p.accuracy:.4f}" if p.accuracy is not None else "")
            for name, p in (("fp32", self.fp32), ("int8", self.int8))
            if p.agreement < self.min_agreement
        ]

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def compare(
    native: np.ndarray,
    fp32: np.ndarray,
    int8: np.ndarray,
    *,
    classes: Sequence[str],
    labels: Sequence[str] | None = None,
    source: str = "texts",
    min_agreement: float = MIN_AGREEMENT,
) -> ParityReport:
    """Compare (n, k) probability arrays; ``labels`` (same order) add accuracies."""
    truth = None
    if labels is not None:
        index = {label: i for i, label in enumerate(classes)}
        truth = np.asarray([index.get(label, -1) for label in labels])
    top = native.argmax(axis=1)

    def accuracy(proba: np.ndarray) -> float | None:
        return None if truth is None else float(np.mean(proba.argmax(axis=1) == truth))

    def against_native(proba: np.ndarray) -> PrecisionParity:
        same = proba.argmax(axis=1) == top
        return PrecisionParity(
            agreement=float(np.mean(same)),
            disagreements=int(np.sum(~same)),
            max_abs_diff=float(np.max(np.abs(proba - native))),
            accuracy=accuracy(proba),
        )

    return ParityReport(
        n=len(native),
        source=source,
        min_agreement=min_agreement,
        native_accuracy=accuracy(native),
        fp32=against_native(fp32),
        int8=against_native(int8),
    )


def write_labeled_texts(path: Path, texts: Sequence[str], labels: Sequence[str]) -> None:
    """``{"text", "label"}`` JSON lines, the format :func:`read_texts` reads."""
    with Path(path).open("w", encoding="utf-8") as handle:
        for text, label in zip(texts, labels, strict=True):
            handle.write(json.dumps({"text": text, "label": label}, ensure_ascii=False) + "\n")


def read_texts(path: Path) -> tuple[list[str], list[str] | None]:
    """Texts (and labels when every row has one) from a file.

    ``.jsonl`` files hold one ``{"text": ..., "label": ...}`` object per line (``label``
    optional); any other file holds one text per line. Blank lines are skipped.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise DataError(f"no such file: {path}.", hint="check the path.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read {path}: {exc}.", hint="use a UTF-8 text file.") from None
    texts: list[str] = []
    labels: list[str | None] = []
    jsonl = path.suffix.lower() == ".jsonl"
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if not jsonl:
            texts.append(line)
            labels.append(None)
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(
                f"not a JSON object ({exc.msg}).",
                where=Location(path, number),
                hint='write one {"text": ..., "label": ...} object per line.',
            ) from None
        if not isinstance(row, dict) or not isinstance(row.get("text"), str):
            raise DataError(
                'the row has no string "text".',
                where=Location(path, number),
                hint='write one {"text": ..., "label": ...} object per line.',
            )
        label = row.get("label")
        texts.append(row["text"])
        labels.append(label if isinstance(label, str) else None)
    if all(label is not None for label in labels):
        return texts, [label for label in labels if label is not None]
    return texts, None
