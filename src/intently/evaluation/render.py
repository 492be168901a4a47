"""Human views of an ``EvaluationReport``: rich tables for a terminal, files for a browser.

Tables are built from data, not printed, so callers choose the console. ``write_report_files``
is the only function that touches the disk; matplotlib is imported inside it so that importing
this module stays cheap.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from intently.evaluation.gates import GateResult, WeakIntent
    from intently.evaluation.metrics import EvaluationReport

MAX_HEATMAP_LABELS = 40
MAX_HTML_MISCLASSIFIED = 50
TEXT_WIDTH = 60
DASH = "—"

_PASS_STYLE = "bold green"
_FAIL_STYLE = "bold red"


def report_table(
    report: EvaluationReport, *, title: str = "Evaluation", max_labels: int = 20
) -> Table:
    """Headline metrics as a two-column table.

    Parameters
    ----------
    report : EvaluationReport
    title : str, default "Evaluation"
    max_labels : int, default 20
        Most uncovered labels to name; the rest are counted.
    """
    table = Table(title=title, show_header=True)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in _headline_rows(report, max_labels=max_labels):
        # Text, not str: label names may contain "[", which rich would read as markup.
        table.add_row(name, Text(value))
    return table


def per_label_table(report: EvaluationReport, *, worst: int = 15) -> Table:
    """The ``worst`` labels by F1 (lowest first), each with its most frequent wrong prediction."""
    rows = _labels_by_f1(report)[:worst]
    table = Table(title=f"Worst {len(rows)} of {len(report.per_label)} labels by F1")
    table.add_column("label")
    for name in ("precision", "recall", "F1", "support"):
        table.add_column(name, justify="right")
    table.add_column("top confusion")
    for label in rows:
        score = report.per_label[label]
        table.add_row(
            Text(label),
            _num(score.precision),
            _num(score.recall),
            _num(score.f1),
            str(score.support),
            Text(_top_confusion(report, label)),
        )
    return table


def gates_table(results: list[GateResult]) -> Table:
    """One row per gate: required, actual and a coloured PASS/FAIL."""
    table = Table(title="Quality gates")
    table.add_column("gate")
    table.add_column("required", justify="right")
    table.add_column("actual", justify="right")
    table.add_column("result")
    for result in results:
        verdict = (
            Text("PASS", style=_PASS_STYLE) if result.passed else Text("FAIL", style=_FAIL_STYLE)
        )
        table.add_row(Text(result.name), _num(result.required), _num(result.actual), verdict)
    return table


def weak_intents_table(items: list[WeakIntent]) -> Table:
    """Intents below the per-intent gate, with how many more training examples might help."""
    table = Table(title="Weak intents")
    table.add_column("label")
    table.add_column("F1", justify="right")
    table.add_column("support", justify="right")
    table.add_column("train examples", justify="right")
    table.add_column("confused with")
    table.add_column("add", justify="right")
    for item in items:
        confused = ", ".join(f"{label} ({count})" for label, count in item.confused_with)
        table.add_row(
            Text(item.label),
            _num(item.f1),
            str(item.support),
            str(item.train_examples),
            Text(confused or DASH),
            f"~{item.more_examples} more examples",
        )
    return table


def given_weights_note(fit_info: dict[str, Any]) -> str:
    """One line for a stack with given weights: them, and the temperature fitted on the
    members' validation rows with the calibration error it fixed."""
    weights = " / ".join(
        f"{name} {weight:.2f}"
        for name, weight in zip(fit_info["members"], fit_info["weights"], strict=True)
    )
    error = fit_info["calibration_error"]
    return (
        f"stack, given weights {weights}: temperature {fit_info['temperature']:.2f}, fitted on "
        f"{fit_info['validation_rows']:,} validation rows, takes their calibration error from "
        f"{error['untempered']:.3f} to {error['tempered']:.3f} (the out-of-scope threshold "
        "reads the mix before it)"
    )


def stack_weights_table(fit_info: dict[str, Any]) -> Table:
    """A stack's learned weights beside the out-of-fold accuracy they were chosen on: each
    member's, the equal average's and the learned mix's (optimistic by its choice), and the
    mix's temperature with the calibration error it fixed (records from before temperatures
    have none)."""
    accuracy = fit_info["out_of_fold_accuracy"]
    caption = "the learned mix is scored on the rows its weights were chosen on"
    if "temperature" in fit_info:
        error = fit_info["calibration_error"]
        caption += (
            f"; its temperature {fit_info['temperature']:.2f} takes their calibration error "
            f"from {error['untempered']:.3f} to {error['tempered']:.3f} (the out-of-scope "
            "threshold reads the mix before it)"
        )
    table = Table(
        title=f"Stack weights, chosen on {fit_info['out_of_fold_rows']:,} out-of-fold rows",
        caption=caption,
    )
    table.add_column("member")
    table.add_column("weight", justify="right")
    table.add_column("out-of-fold accuracy", justify="right")
    for name, weight, score in zip(
        fit_info["members"], fit_info["weights"], accuracy["members"], strict=True
    ):
        table.add_row(Text(name), _num(weight, 2), _num(score))
    table.add_row("equal average", DASH, _num(accuracy["equal_average"]))
    table.add_row("learned mix", DASH, _num(accuracy["learned_weights"]))
    return table


def confusions_table(report: EvaluationReport, *, limit: int = 10) -> Table:
    """The most frequent (true, predicted) mistakes."""
    table = Table(title="Most confused pairs")
    table.add_column("true")
    table.add_column("predicted")
    table.add_column("count", justify="right")
    for pair in report.confused_with[:limit]:
        table.add_row(Text(pair["label"]), Text(pair["predicted"]), str(pair["count"]))
    return table


def misclassified_table(report: EvaluationReport, *, limit: int = 10) -> Table:
    """The most confident mistakes, texts shortened to one line."""
    table = Table(title="Misclassified examples (most confident first)")
    table.add_column("text")
    table.add_column("true")
    table.add_column("predicted")
    table.add_column("confidence", justify="right")
    for item in report.misclassified[:limit]:
        table.add_row(
            Text(_shorten(item["text"])),
            Text(item["label"]),
            Text(item["predicted"]),
            _num(item["confidence"]),
        )
    return table


def write_report_files(
    report: EvaluationReport,
    directory: Path,
    *,
    title: str,
    gates: list[GateResult] | None = None,
) -> list[Path]:
    """Write ``report.json``, ``report.html``, ``confusion.png`` and ``confidence.png``.

    Parameters
    ----------
    report : EvaluationReport
    directory : Path
        Created if missing; existing files of the same names are replaced.
    title : str
        Heading of the HTML page and the confusion plot.
    gates : list of GateResult, optional
        Added to the JSON and shown in the HTML when given.

    Returns
    -------
    list of Path
        The files written, in the order above.
    """
    # Figures are drawn with matplotlib.figure.Figure, never pyplot, so no GUI backend is needed
    # and a caller's own pyplot state is left alone.
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = [
        directory / name
        for name in ("report.json", "report.html", "confusion.png", "confidence.png")
    ]
    json_path, html_path, confusion_path, confidence_path = paths

    data = report.to_json()
    if gates is not None:
        data["gates"] = [vars(gate) for gate in gates]
    with json_path.open("w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, ensure_ascii=False)

    _save(_confusion_figure(report, title), confusion_path)
    _save(_confidence_figure(report), confidence_path)
    html_path.write_text(
        _html_page(
            report, title=title, gates=gates, images=(confusion_path.name, confidence_path.name)
        ),
        encoding="utf-8",
    )
    return paths


# --- shared pieces -------------------------------------------------------------------------


def _num(value: float | None, digits: int = 4) -> str:
    return DASH if value is None else f"{value:.{digits}f}"


def _shorten(text: str, width: int = TEXT_WIDTH) -> str:
    # Newlines would turn one table row into several.
    flat = " ".join(str(text).split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _name_list(labels: tuple[str, ...] | list[str], limit: int) -> str:
    shown = ", ".join(labels[:limit])
    return shown if len(labels) <= limit else f"{shown} … and {len(labels) - limit} more"


def _headline_rows(report: EvaluationReport, *, max_labels: int) -> list[tuple[str, str]]:
    coverage = _num(report.coverage)
    if report.uncovered:
        coverage += f" (uncovered: {_name_list(report.uncovered, max_labels)})"
    lowest = f"{_num(report.lowest_f1[1])} ({report.lowest_f1[0]})" if report.lowest_f1 else DASH
    rows = [
        ("examples", str(report.n)),
        ("accuracy", _num(report.accuracy)),
        ("macro precision", _num(report.macro_precision)),
        ("macro recall", _num(report.macro_recall)),
        ("macro F1", _num(report.macro_f1)),
        ("weighted F1", _num(report.weighted_f1)),
        ("lowest intent F1", lowest),
        ("coverage", coverage),
        ("ECE", _num(report.ece)),
        ("fallback rate", _num(report.fallback_rate)),
    ]
    if report.oos is not None:
        rows += [
            ("in-scope accuracy", _num(report.oos.in_scope_accuracy)),
            ("OOS recall", _num(report.oos.oos_recall)),
            ("threshold", _num(report.oos.threshold)),
        ]
    return rows


def _labels_by_f1(report: EvaluationReport) -> list[str]:
    return sorted(report.per_label, key=lambda label: (report.per_label[label].f1, label))


def _top_confusion(report: EvaluationReport, label: str) -> str:
    i = report.labels.index(label)
    row = report.confusion[i]
    # Highest count wins; ties go to the earlier label, as in the matrix order.
    best = max((j for j in range(len(row)) if j != i), key=lambda j: (row[j], -j), default=None)
    if best is None or row[best] == 0:
        return DASH
    return f"→ {report.labels[best]} ({row[best]})"


# --- figures -------------------------------------------------------------------------------


def _save(figure: Figure, path: Path) -> None:
    figure.savefig(path, format="png", dpi=100)


def _heatmap_labels(report: EvaluationReport) -> list[int]:
    """Indices of the labels to draw: all of them, or those involved in the most errors."""
    count = len(report.labels)
    if count <= MAX_HEATMAP_LABELS:
        return list(range(count))
    matrix = np.asarray(report.confusion, dtype=int)
    diagonal = np.diag(matrix)
    errors = matrix.sum(axis=1) + matrix.sum(axis=0) - 2 * diagonal
    # Stable sort keeps alphabetical order among equals, so the choice is deterministic.
    chosen = np.argsort(-errors, kind="stable")[:MAX_HEATMAP_LABELS]
    return sorted(int(i) for i in chosen)


def _confusion_figure(report: EvaluationReport, title: str) -> Figure:
    from matplotlib.figure import Figure

    keep = _heatmap_labels(report)
    k = len(keep)
    side = min(4.0 + 0.3 * k, 18.0)
    figure = Figure(figsize=(side + 1.5, side), layout="constrained")
    ax = figure.add_subplot()
    heading = f"{title}: confusion matrix (row-normalised)"
    if len(keep) < len(report.labels):
        heading += f"\nshowing the {k} of {len(report.labels)} labels with the most errors"
    ax.set_title(heading, fontsize=10)
    if k == 0:
        ax.text(0.5, 0.5, "no labels", ha="center", va="center")
        ax.set_axis_off()
        return figure

    matrix = np.asarray(report.confusion, dtype=float).reshape(len(report.labels), -1)
    # Normalise by the full row, so a shown cell is still the share of that label's examples.
    totals = matrix.sum(axis=1, keepdims=True)
    shares = np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)
    shown = shares[np.ix_(keep, keep)]
    image = ax.imshow(shown, cmap="Blues", vmin=0.0, vmax=1.0, aspect="auto")
    figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of true label")

    names = [report.labels[i] for i in keep]
    fontsize = 9 if k <= 15 else 8
    ax.set_xticks(range(k), names, rotation=90, fontsize=fontsize)
    ax.set_yticks(range(k), names, fontsize=fontsize)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if k <= 15:
        counts = matrix[np.ix_(keep, keep)].astype(int)
        for (row, col), value in np.ndenumerate(counts):
            if value:
                colour = "white" if shown[row, col] > 0.5 else "black"
                ax.text(col, row, str(value), ha="center", va="center", fontsize=8, color=colour)
    return figure


def _confidence_figure(report: EvaluationReport) -> Figure:
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    confidence = np.clip(np.asarray(report.confidences, dtype=float), 0.0, 1.0)
    correct = np.asarray(report.correct, dtype=bool)
    right, wrong = confidence[correct], confidence[~correct]
    figure = Figure(figsize=(7, 4), layout="constrained")
    ax = figure.add_subplot()
    ax.hist(
        [right, wrong],
        bins=np.linspace(0.0, 1.0, 21),
        stacked=True,
        color=["#2e7d32", "#c62828"],
        label=[f"correct ({len(right)})", f"wrong ({len(wrong)})"],
    )
    ax.set_xlim(0.0, 1.0)
    ax.set_xlabel("top confidence")
    ax.set_ylabel("examples")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    # With no examples, matplotlib centres the axis on zero; counts are never negative.
    ax.set_ylim(0, max(1.0, ax.get_ylim()[1]))
    ax.set_title("Confidence of correct and wrong predictions", fontsize=10)
    ax.legend(loc="upper left")
    return figure


# --- HTML ----------------------------------------------------------------------------------

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
       max-width: 1100px; color: #222; padding: 0 1rem; }
h1 { margin-bottom: 0.2rem; }
h2 { margin-top: 2rem; border-bottom: 1px solid #ddd; padding-bottom: 0.2rem; }
table { border-collapse: collapse; margin: 0.5rem 0; }
th, td { border: 1px solid #ddd; padding: 0.3rem 0.6rem; text-align: left;
         vertical-align: top; }
th { background: #f4f4f4; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.text { max-width: 520px; overflow-wrap: anywhere; }
.pass { color: #1b5e20; background: #e8f5e9; font-weight: bold; }
.fail { color: #b71c1c; background: #ffebee; font-weight: bold; }
.empty { color: #777; font-style: italic; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.5rem 0; }
"""


def _cell(value: Any, css: str | None = None) -> str:
    attribute = f' class="{css}"' if css else ""
    return f"<td{attribute}>{html.escape(str(value))}</td>"


def _html_table(headers: list[str], rows: list[str], empty: str) -> str:
    if not rows:
        return f'<p class="empty">{html.escape(empty)}</p>'
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "\n".join(f"<tr>{row}</tr>" for row in rows)
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"


def _html_label_row(report: EvaluationReport, label: str) -> str:
    score = report.per_label[label]
    numbers = "".join(_cell(_num(v), "num") for v in (score.precision, score.recall, score.f1))
    return (
        _cell(label, "text")
        + numbers
        + _cell(score.support, "num")
        + _cell(_top_confusion(report, label))
    )


def _html_page(
    report: EvaluationReport,
    *,
    title: str,
    gates: list[GateResult] | None,
    images: tuple[str, str],
) -> str:
    headline = [
        _cell(name) + _cell(value, "num")
        for name, value in _headline_rows(report, max_labels=len(report.uncovered))
    ]
    sections = [
        f"<h1>{html.escape(title)}</h1>",
        "<h2>Headline metrics</h2>",
        _html_table(["metric", "value"], headline, "No metrics."),
    ]
    if gates:
        rows = [
            _cell(g.name)
            + _cell(_num(g.required), "num")
            + _cell(_num(g.actual), "num")
            + (_cell("PASS", "pass") if g.passed else _cell("FAIL", "fail"))
            for g in gates
        ]
        sections += [
            "<h2>Quality gates</h2>",
            _html_table(["gate", "required", "actual", "result"], rows, ""),
        ]

    per_label = [_html_label_row(report, label) for label in _labels_by_f1(report)]
    pairs = [
        _cell(p["label"]) + _cell(p["predicted"]) + _cell(p["count"], "num")
        for p in report.confused_with
    ]
    wrong = [
        _cell(m["text"], "text")
        + _cell(m["label"])
        + _cell(m["predicted"])
        + _cell(_num(m["confidence"]), "num")
        for m in report.misclassified[:MAX_HTML_MISCLASSIFIED]
    ]
    confusion_png, confidence_png = (html.escape(name, quote=True) for name in images)
    sections += [
        "<h2>Per-label scores (lowest F1 first)</h2>",
        _html_table(
            ["label", "precision", "recall", "F1", "support", "top confusion"],
            per_label,
            "No labelled examples.",
        ),
        "<h2>Most confused pairs</h2>",
        _html_table(["true", "predicted", "count"], pairs, "No confusions."),
        f"<h2>Misclassified examples (up to {MAX_HTML_MISCLASSIFIED}, most confident first)</h2>",
        _html_table(
            ["text", "true", "predicted", "confidence"], wrong, "No misclassified examples."
        ),
        "<h2>Confusion matrix</h2>",
        f'<img src="{confusion_png}" alt="confusion matrix heatmap">',
        "<h2>Confidence</h2>",
        f'<img src="{confidence_png}" alt="histogram of confidence, correct vs wrong">',
    ]
    body = "\n".join(sections)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n"
    )
