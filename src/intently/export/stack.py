"""Exporting a ``stack``: each member into its own folder, then the mix checked as a whole."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from intently.backends import ProgressFn
from intently.errors import ExportError
from intently.export.files import replace_manifest
from intently.export.manifest import PRECISIONS, ExportReport, stack_manifest
from intently.export.parity import compare
from intently.export.serving import choose_precision
from intently.runtime.onnx_model import MANIFEST_FILE, STACK_KIND, OnnxModel, OnnxStack

ExportMember = Callable[..., ExportReport]
"""``export_backend``: exports one member into its folder, with its own parity check."""


def export_stack(
    model: Any,
    directory: Path,
    *,
    export_member: ExportMember,
    texts: list[str],
    labels: list[str] | None,
    source: str,
    progress: ProgressFn,
    min_agreement: float,
    started: float,
) -> ExportReport:
    """Export each member of a stack into its ``member_<i>/`` folder (each with its own parity
    check), then check the weighted mix of the members' graphs against the native stack and
    write the stack's ``onnx.json`` naming the members, their weights and the temperature."""
    members = model.export_members()
    reports = []
    for i, (name, member) in enumerate(members):
        share = 0.9 / len(members)
        reports.append(
            export_member(
                member,
                directory / name,
                texts=texts,
                labels=labels,
                source=source,
                progress=lambda step, done, i=i, share=share, name=name: progress(
                    f"{name}: {step}", i * share + done * share
                ),
                min_agreement=min_agreement,
            )
        )
    progress("parity check: the stack", 0.92)
    names = [name for name, _ in members]
    weights = [float(w) for w in model.weights_]
    native = model.predict_proba(texts)
    stacks = {
        precision: OnnxStack(
            [OnnxModel.load(directory / name, precision=precision) for name in names],
            weights,
            precision=precision,
            temperature=model.temperature_,
        )
        for precision in PRECISIONS
    }
    mixed = {precision: stack.predict_proba(texts) for precision, stack in stacks.items()}
    parity = compare(
        native,
        mixed["fp32"],
        mixed["int8"],
        classes=model.classes_,
        labels=labels,
        source=source,
        min_agreement=min_agreement,
    )
    failures = parity.failures()
    if parity.fp32.agreement < min_agreement:
        raise ExportError(
            "the ONNX export of the stack does not answer like the native stack: "
            + "; ".join(failures)
            + ".",
            hint="each member passed its own check, so the mix amplifies small differences; "
            "serve the native stack, or accept less agreement (`intently export "
            "--min-agreement`). No stack manifest was written.",
        )
    quantization = {"members": [r.quantization for r in reports]}
    # Each member's int8 graph passed its own check, but their mix can still flip a text
    # whose members nearly tie; then the stack serves fp32 only (OnnxStack.load refuses int8).
    passing = {p: stacks[p] for p in PRECISIONS if p == "fp32" or not failures}
    serving = choose_precision({p: stack.predict_proba for p, stack in passing.items()}, texts)
    if failures:
        serving["reason"] = f"{failures[0]}: fp32 serves"
    manifest = stack_manifest(model, names, weights, quantization, parity, serving)
    replace_manifest(directory, manifest)
    progress("done", 1.0)
    return ExportReport(
        model_dir=directory,
        kind=STACK_KIND,
        files=(
            *(f"{name}/{file}" for name, r in zip(names, reports, strict=True) for file in r.files),
            MANIFEST_FILE,
        ),
        parity=parity,
        quantization=quantization,
        sizes_mb={
            precision: round(sum(r.sizes_mb[precision] for r in reports), 3)
            for precision in PRECISIONS
        },
        seconds=round(time.perf_counter() - started, 3),
        manifest=manifest,
    )
