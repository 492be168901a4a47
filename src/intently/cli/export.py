"""`intently export`: ONNX fp32 + int8 graphs of a model version, checked for parity."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from intently.cli._app import app, escape, out, progress_bar

# intently.export.parity's default (a test keeps them equal): importing export loads the
# training stack, which `intently --help` must not.
MIN_AGREEMENT = 0.995


def _share(value: float | None) -> str:
    return "—" if value is None else f"{value:.2%}"


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


@app.command("export")
def export_command(
    model_dir: Annotated[
        Path, typer.Argument(help="A model version directory (models/<task>/<version>).")
    ],
    texts: Annotated[
        Path | None,
        typer.Option(
            "--texts",
            help="Parity texts: one per line, or .jsonl with text (and label). "
            "Default: the version's evaluation.jsonl.",
        ),
    ] = None,
    min_agreement: Annotated[
        float,
        typer.Option(
            "--min-agreement",
            min=0.0,
            max=1.0,
            help="Least share of texts on which each ONNX graph's top class must match the "
            "native model's.",
        ),
    ] = MIN_AGREEMENT,
) -> None:
    """Export a model version to ONNX (model.onnx + int8 model.int8.onnx) and check that
    both answer like the native model; nothing is written when they do not.

    Example: intently export models/intent/20261122T030512Z-3fa1
    """
    from rich.table import Table

    from intently.export import export_model, read_texts

    parity_texts, labels = read_texts(texts) if texts is not None else (None, None)
    with progress_bar(f"exporting {model_dir.name}") as progress:
        report = export_model(
            model_dir,
            texts=parity_texts,
            labels=labels,
            progress=progress,
            min_agreement=min_agreement,
        )
    parity = report.parity
    table = Table(title=f"ONNX parity · {parity.n} texts from {escape(parity.source)}")
    for column in ("graph", "agreement", "max |Δp|", "accuracy", "MB"):
        table.add_column(column, justify="left" if column == "graph" else "right")
    table.add_row("native", "", "", _number(parity.native_accuracy), "")
    for name, item in (("fp32", parity.fp32), ("int8", parity.int8)):
        table.add_row(
            name,
            _share(item.agreement),
            f"{item.max_abs_diff:.2g}",
            _number(item.accuracy),
            f"{report.sizes_mb[name]:.1f}",
        )
    out().print(table)
    level = report.quantization.get("level")
    if level and level != "full":
        out().print(
            f"[yellow]int8 quantized at level '{level}'[/]: the full int8 graph fell below "
            f"{min_agreement:.2%} agreement (see quantization in onnx.json)."
        )
    out().print(
        f"[green]exported[/] {report.kind} model → {escape(str(report.model_dir))} "
        f"({', '.join(report.files)}) in {report.seconds:.1f}s"
    )
