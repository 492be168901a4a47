"""Deploy decisions: compare a candidate with the active model on one common evaluation set."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from intently.collect import build_dataset, defined_labels
from intently.errors import ModelError
from intently.evaluation.crossval import MIN_HELD_OUT
from intently.evaluation.metrics import evaluate_predictions
from intently.registry import Registry
from intently.registry.registry import Comparison, Pointer, Switch, VersionInfo
from intently.runtime import Classifier
from intently.runtime.manifest import int8_refused
from intently.runtime.onnx_model import MANIFEST_FILE, read_manifest
from intently.spec import DEFAULT_TASK, Project


@dataclass(frozen=True)
class DeployDecision:
    deployed: bool
    reason: str
    comparison: Comparison | None = None
    pointer: Pointer | None = None


PROBE_TEXTS = ("hello", "where is my order?", "x" * 300)


def registry_for(project: Project) -> Registry:
    return Registry(project.model_root())


def validate_model(path: Path) -> None:
    """Raise ModelError unless every way the service may serve ``path`` works.

    Every exported graph (fp32 and int8: the service may be started with either; each file
    checked against the SHA-256 recorded at export) and the native model are loaded and answer
    probe texts with finite probabilities. The native model is skipped only when its training
    libraries are not installed here, since such a host serves the exported graphs anyway.
    """
    runtimes = [("native", "auto")]
    if (path / MANIFEST_FILE).is_file():  # "auto" may pick the NumPy scorer of a linear export
        # a stack whose int8 mix failed parity at export offers fp32 only
        offered = ["fp32"] if int8_refused(read_manifest(path)) else ["fp32", "int8"]
        runtimes = [*(("onnx", p) for p in offered), ("auto", "auto"), *runtimes]
    for runtime, precision in runtimes:
        try:
            classifier = Classifier.load(path, runtime=runtime, precision=precision)
        except ModelError as error:
            if (
                runtime == "native"
                and runtimes[0][0] == "onnx"
                and "not installed" in error.message
            ):
                continue
            raise ModelError(
                f"version {path.name} cannot be served ({runtime}"
                f"{'' if runtime == 'native' else ' ' + precision}): {error.message}",
                hint=error.hint or "re-train or re-export it; the active version keeps serving.",
            ) from None
        try:
            classifier.predict_batch(PROBE_TEXTS)
        except Exception as exc:  # a model that loads but cannot predict must not be deployed
            raise ModelError(
                f"model {path.name} loads but fails to predict ({runtime}): {exc}.",
                hint="re-train it; the active version keeps serving.",
            ) from exc


def rollback_task(registry: Registry, task: str) -> Switch:
    """Re-activate the newest previously active version that still loads and predicts;
    versions that no longer do are skipped (the result names them)."""
    return registry.rollback(task, check=validate_model)


def compare_with_active(project: Project, task: str, candidate: str) -> Comparison:
    """Re-measure macro-F1 of ``candidate`` and the active version on the current test split.

    Both models answer the same texts with their own fallback rules; old reports are not
    trusted because the data may have changed since the active model was trained.
    """
    registry = registry_for(project)
    tolerance = project.deploy_for(task).max_macro_f1_drop
    info = registry.get(task, candidate)
    active = registry.active(task)
    if active is None or active.id == info.id:
        return Comparison(info.id, None, None, None, 0, tolerance)
    dataset = build_dataset(project, task)
    examples = dataset.test or dataset.valid
    if len(examples) < MIN_HELD_OUT:
        # Too few held-out texts to re-measure (and never the training data, which both
        # models have seen): compare what each version recorded at training time, which was
        # measured by cross-validation when the split was this small.
        return Comparison(
            info.id,
            active.id,
            _recorded_macro_f1(info),
            _recorded_macro_f1(active),
            0,
            tolerance,
        )
    labels = defined_labels(project, task) or dataset.labels
    scores = []
    for path in (info.path, active.path):
        classifier = Classifier.load(path)
        predictions = classifier.predict_batch([e.text for e in examples])
        report = evaluate_predictions(
            [e.text for e in examples],
            [e.label for e in examples],
            [p.label for p in predictions],
            [p.confidence for p in predictions],
            defined_labels=labels,
            fallback_label=classifier.rule.label,
        )
        scores.append(report.macro_f1)
    return Comparison(info.id, active.id, scores[0], scores[1], len(examples), tolerance)


def _recorded_macro_f1(info: VersionInfo) -> float:
    score = info.version.metrics.get("macro_f1") if info.version is not None else None
    if not isinstance(score, int | float):
        raise ModelError(
            f"version {info.id} recorded no macro-F1 and the test split is too small to "
            "re-measure it.",
            hint="add test examples, or deploy without --if-improved.",
        )
    return float(score)


def deploy_version(
    project: Project, task: str, version: str, *, if_improved: bool = False
) -> DeployDecision:
    """Deploy ``version`` of ``task``; with ``if_improved``, only when it is not worse."""
    registry = registry_for(project)
    comparison = None
    if if_improved:
        comparison = compare_with_active(project, task, version)
        if not comparison.improved_enough:
            return DeployDecision(
                False,
                f"macro-F1 {comparison.candidate_macro_f1:.4f} is below the active "
                f"{comparison.active}'s {comparison.active_macro_f1:.4f} minus the allowed "
                f"drop {comparison.tolerance:.2f} ({comparison.measured_on})",
                comparison,
            )
    switch = registry.deploy(task, version, check=validate_model)
    reason = f"{switch.pointer.active} is now active"
    if switch.repaired:
        reason += f" (the unreadable pointer was replaced: {switch.repaired})"
    return DeployDecision(True, reason, comparison, switch.pointer)


def auto_deploy(
    project: Project, task: str = DEFAULT_TASK, *, version: str, passed: bool
) -> DeployDecision:
    """Apply the project's deploy policy to a freshly trained version."""
    policy = project.deploy_for(task).policy
    if not passed:
        return DeployDecision(False, "it failed a quality gate")
    if policy == "manual":
        return DeployDecision(False, "the deploy policy is manual")
    try:
        return deploy_version(project, task, version, if_improved=policy == "if_improved")
    except ModelError as error:
        return DeployDecision(False, f"deploy refused: {error.message}")
