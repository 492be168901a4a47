"""One training run end to end: examples → dataset → fit → evaluate → gates → model directory."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from intently.backends import Backend, ProgressFn, make_backend
from intently.backends.fitting import fit_failures
from intently.collect import build_dataset, defined_labels
from intently.curation.grow import GrowingMerge, grower_for
from intently.data import Dataset, Example, columns
from intently.errors import IntentlyError, TrainingError
from intently.evaluation.crossval import (
    CrossValidation,
    EvaluationMethod,
    cross_validate,
    evaluation_method,
)
from intently.evaluation.gates import (
    GateResult,
    WeakIntent,
    check_gates,
    gates_passed,
    weak_intents,
)
from intently.evaluation.metrics import EvaluationReport, evaluate_predictions
from intently.export import (
    EVALUATION_FILE,
    ExportReport,
    ExportUnsupportedError,
    export_backend,
    supports_onnx,
    write_labeled_texts,
)
from intently.registry import (
    ModelVersion,
    Registry,
    Status,
    library_versions,
    new_version_id,
    write_version,
)
from intently.runtime.fallback import FallbackRule, ThresholdChoice, tune_threshold, with_novelty
from intently.spec import DEFAULT_TASK, FallbackSpec, Project, TrainingSpec
from intently.tuning import StudyResult, TrialProgress


@dataclass(frozen=True)
class FittedModel:
    """A backend fitted on a dataset, with its tuned fallback rule."""

    model: Backend
    rule: FallbackRule
    threshold_choice: ThresholdChoice | None
    train_seconds: float

    def save(self, directory: Path) -> None:
        """The model's files and those its fallback rule names, into ``directory``."""
        self.model.save(directory)
        self.rule.save(directory)


MergeTrain = Callable[[Sequence[Example], Sequence[Example]], tuple[Example, ...]]
"""``(training examples, held-out examples) -> training examples``: adds examples that may
only ever be trained on (reviewed feedback, see ``intently.loop.feedback``). The held-out
examples are what the model will be scored on, so a merge must keep their texts out."""


@dataclass(frozen=True)
class TrainingRun:
    """What ``train`` produced: the stored version, its evaluation and gate verdicts."""

    task: str
    version: ModelVersion
    model_dir: Path
    report: EvaluationReport
    gates: list[GateResult]
    weak_intents: list[WeakIntent]
    dataset: Dataset
    train_seconds: float
    evaluation: EvaluationMethod
    report_files: list[Path] = field(default_factory=list)
    export: ExportReport | None = None
    study: StudyResult | None = None
    tuned_from: str | None = None  # the rejected version whose gate failure started tuning

    @property
    def passed(self) -> bool:
        return gates_passed(self.gates)


def _silent(_step: str, _done: float) -> None:
    return None


def fit_dataset(
    dataset: Dataset,
    training: TrainingSpec,
    fallback: FallbackSpec,
    *,
    progress: ProgressFn | None = None,
) -> FittedModel:
    """Fit ``training.backend`` on the train split; tune the fallback threshold on valid."""
    progress = progress or _silent
    texts, labels, weights = columns(dataset.train)
    valid_texts, valid_labels, _ = columns(dataset.valid)
    backend = make_backend(training.backend, training.params, seed=training.seed)
    started = time.perf_counter()
    with fit_failures(f"the {training.backend} backend failed to fit"):
        model = backend.fit(
            texts,
            labels,
            weights,
            valid=(valid_texts, valid_labels) if valid_texts else None,
            progress=lambda step, done: progress(f"fit: {step}", 0.9 * done),
        )
    train_seconds = time.perf_counter() - started
    progress("tuning fallback threshold", 0.92)
    choice = None
    threshold = 0.0
    # a stack's temperature, which its threshold reads undone (FallbackRule.temperature)
    temperature = float(getattr(model, "fallback_temperature_", 1.0))
    if fallback.threshold == "auto":
        if valid_texts:
            proba = model.validation_proba_
            if proba is None:
                proba = model.predict_proba(valid_texts)
            choice = tune_threshold(
                proba,
                valid_labels,
                model.classes_,
                fallback_label=fallback.label,
                ambiguity_threshold=fallback.ambiguity_threshold,
                max_in_scope_drop=fallback.max_in_scope_drop,
                temperature=temperature,
            )
            threshold = choice.threshold if choice else 0.0
    else:
        threshold = float(fallback.threshold)
    rule = FallbackRule(fallback.label, threshold, fallback.ambiguity_threshold, temperature)
    if fallback.novelty and choice is not None and hasattr(model, "training_vectors"):
        reference = model.training_vectors(fallback.label)
        if reference is not None and len(reference):
            progress("tuning the out-of-scope novelty", 0.93)
            vectors = model.sentence_vectors(valid_texts)
            rule = with_novelty(
                rule, choice, proba, valid_labels, model.classes_, vectors, reference
            )
    return FittedModel(model, rule, choice, train_seconds)


def evaluate_model(
    model: Backend, rule: FallbackRule, examples: Sequence[Example], *, defined: Sequence[str]
) -> EvaluationReport:
    """Predict ``examples`` in one batch and score them with the fallback rule applied."""
    texts, truth, _ = columns(examples)
    proba, predicted = decide(model, rule, texts)
    confidence = proba.max(axis=1) if texts else np.zeros(0)
    return evaluate_predictions(
        texts,
        truth,
        predicted,
        confidence,
        defined_labels=defined,
        fallback_label=rule.label,
        threshold=rule.threshold,
    )


def decide(model: Backend, rule: FallbackRule, texts: Sequence[str]) -> tuple[np.ndarray, list]:
    """The model's probabilities of ``texts`` and its answers with ``rule`` applied (the
    texts' sentence vectors too when the rule reads them)."""
    if not texts:
        return np.zeros((0, len(model.classes_))), []
    if rule.novelty is None:
        proba = model.predict_proba(texts)
        return proba, rule.labels(proba, model.classes_)
    proba, vectors = model.predict_proba_and_vectors(texts)  # type: ignore[attr-defined]
    return proba, rule.labels(proba, model.classes_, vectors)


def with_descriptions(training: TrainingSpec, project: Project, task: str) -> TrainingSpec:
    """``training`` for the zeroshot backend gets the task's intent descriptions (from the
    project's agents) unless its params name their own."""
    if training.backend != "zeroshot" or "descriptions" in training.params:
        return training
    described = {
        intent.name: intent.description
        for agent in project.agents
        for intent in agent.intents
        if intent.description.strip()
    }
    if task != DEFAULT_TASK or not described:
        return training
    return training.model_copy(update={"params": {**training.params, "descriptions": described}})


def with_spacy_config(training: TrainingSpec, project: Project) -> TrainingSpec:
    """``training`` with ``spacy_config`` (resolved from the project folder) passed to the
    spacy backend as its ``config`` parameter."""
    if training.spacy_config is None:
        return training
    path = str(project.resolve(training.spacy_config))
    return training.model_copy(update={"params": {**training.params, "config": path}})


def from_active_version(training: TrainingSpec, project: Project, task: str) -> TrainingSpec:
    """``training`` continuing from the task's active version (like Rasa's ``--finetune``)."""
    if training.backend != "transformer":
        raise TrainingError(
            f"--finetune continues a transformer model, but task '{task}' trains with the "
            f"{training.backend} backend.",
            hint="set training.backend: transformer, or train without --finetune.",
        )
    active = _active_version(project, task)
    if active is None:
        raise TrainingError(
            f"--finetune needs a deployed version of task '{task}' to continue from; none is "
            "active.",
            hint="train once without --finetune and deploy it (`intently models deploy`).",
        )
    path = _registry(project).task_dir(task) / active
    return training.model_copy(update={"params": {**training.params, "init_from": str(path)}})


def train(
    project: Project,
    task: str = DEFAULT_TASK,
    *,
    progress: ProgressFn | None = None,
    models_dir: Path | None = None,
    write_reports: bool = True,
    export: bool = True,
    finetune: bool = False,
    params: dict[str, Any] | None = None,
    study: StudyResult | None = None,
    auto_tune: bool = True,
    merge_train: MergeTrain | None = None,
) -> TrainingRun:
    """Train, evaluate and store a new version of ``task``'s classifier.

    The version is written atomically under ``models/<task>/`` with status ``candidate`` when
    every gate passes and ``rejected`` otherwise. Nothing existing is modified. The model is
    scored on the test split, or by cross-validation when that split is too small
    (:func:`~intently.evaluation.crossval.evaluation_method`; never on its training data), and
    the scored examples are stored as ``evaluation.jsonl``. With ``export`` (the default) a
    backend that can export is also written as ONNX (fp32 + int8, see ``intently.export``)
    before the version appears; an export that fails its parity check raises ExportError and
    leaves no version. With ``finetune`` a ``transformer`` task continues from its active
    version (``init_from``). ``merge_train`` changes the training part only (of the split, and
    of every cross-validation fold); what the model is scored on stays the project's own data.
    ``params`` replace ``training.params``; ``study`` (the study they came from) adds its
    files to the report. When a gate fails and ``tuning.auto`` is on (and ``auto_tune``), a
    study runs within ``tuning.budget_minutes``, a second version is trained with its best
    parameters, and that run is returned (``tuned_from`` names the first); if it still fails,
    its report holds the error analysis of the weak intents.
    """
    progress = progress or _silent
    progress("building dataset", 0.0)
    dataset = build_dataset(project, task)
    own_examples = dataset.all  # what cross-validation scores: never merged-in examples
    method = evaluation_method(dataset)  # decided on the project's own data, before merging
    grower = grower_for(project, task)  # the configured generators, on the train part only
    generation = GrowingMerge(grower, merge_train) if grower is not None else None
    merge_train = generation or merge_train
    if merge_train is not None:
        train_part = merge_train(dataset.train, (*dataset.valid, *dataset.test))
        dataset = replace(dataset, train=train_part, fingerprint="")
    training = with_descriptions(project.training_for(task), project, task)
    if params is not None:
        training = training.model_copy(update={"params": dict(params)})
    training = with_spacy_config(training, project)
    if finetune:
        training = from_active_version(training, project, task)
    fallback = project.fallback_for(task)
    gates = project.gates_for(task)
    fitted = fit_dataset(
        dataset, training, fallback, progress=lambda step, done: progress(step, 0.05 + 0.8 * done)
    )
    progress("evaluating", 0.88)
    labels = defined_labels(project, task) or dataset.labels
    cross_validation: CrossValidation | None = None
    if method.folds is None:
        evaluation_set = dataset.test or dataset.valid
        report = evaluate_model(fitted.model, fitted.rule, evaluation_set, defined=labels)
    else:
        evaluation_set = own_examples
        cross_validation = _cross_validate_examples(
            evaluation_set,
            training,
            fallback,
            task=task,
            defined=labels,
            folds=method.folds,
            on_fold=lambda f: progress(f"cross-validating: fold {f}/{method.folds}", 0.88),
            merge_train=merge_train,
        )
        report = cross_validation.pooled
    results = check_gates(report, gates)
    train_counts = Counter(example.label for example in dataset.train)
    weak = weak_intents(report, gates, dict(train_counts), fallback_label=fallback.label)
    passed = gates_passed(results)
    version = ModelVersion(
        id=new_version_id(),
        parent=_active_version(project, task),
        task=task,
        backend=training.backend,
        labels=tuple(fitted.model.classes_),
        params=fitted.model.get_params(),
        metrics=report.headline(),
        dataset_fingerprint=dataset.fingerprint,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        status=Status.CANDIDATE if passed else Status.REJECTED,
        fallback={**fitted.rule.record(), "tuning": _choice_json(fitted.threshold_choice)},
        versions=library_versions(),
        extra={
            "project": project.name,
            "seed": training.seed,
            "train_seconds": round(fitted.train_seconds, 3),
            "dataset": {
                "train": len(dataset.train),
                "valid": len(dataset.valid),
                "test": len(dataset.test),
                "evaluated_on": method.split,
            },
            "evaluation": {
                **method.to_json(),
                "fold_scores": (
                    None if cross_validation is None else [vars(f) for f in cross_validation.folds]
                ),
            },
            "gates": [vars(result) for result in results],
            "generation": generation.growths[0].to_json() if generation else None,
            "weak_intents": [vars(item) for item in weak],
            "fit_info": getattr(fitted.model, "fit_info_", None),
        },
    )
    progress("writing model", 0.94)
    written: list[Path] = []
    exported: list[ExportReport] = []
    eval_texts, eval_labels, _ = columns(evaluation_set)

    def write_files(directory: Path) -> None:
        fitted.save(directory)
        write_labeled_texts(directory / EVALUATION_FILE, eval_texts, eval_labels)
        if export and supports_onnx(fitted.model):
            try:
                report_export = export_backend(
                    fitted.model,
                    directory,
                    texts=eval_texts,
                    labels=eval_labels,
                    source=EVALUATION_FILE,
                    progress=lambda step, done: progress(f"export: {step}", 0.94 + 0.05 * done),
                )
            except ExportUnsupportedError:
                pass
            else:
                exported.append(report_export)
        if write_reports:
            from intently.evaluation.render import write_report_files

            title = f"{project.name} · {task}"
            if method.folds is not None:
                title += f" · {method.folds}-fold cross-validation"
            written.extend(write_report_files(report, directory, title=title, gates=results))
        if study is not None:
            from intently.tuning.report import write_error_analysis, write_study_files

            written.extend(write_study_files(study, directory, seed=training.seed))
            if not passed:
                threshold = gates.min_intent_f1
                where = method.describe()
                written.extend(
                    write_error_analysis(weak, directory, threshold=threshold, evaluated_on=where)
                )

    task_dir = models_dir or _registry(project).task_dir(task)  # a safe name, under the root
    model_dir = write_version(task_dir, version, write_files)
    progress("done", 1.0)
    run = TrainingRun(
        task,
        version,
        model_dir,
        report,
        results,
        weak,
        dataset,
        fitted.train_seconds,
        method,
        [model_dir / path.name for path in written],
        replace(exported[0], model_dir=model_dir) if exported else None,
        study,
    )
    if run.passed or not auto_tune or study is not None or not project.tuning_for(task).auto:
        return run
    return _tune_and_retrain(
        project,
        task,
        run,
        progress=progress,
        models_dir=models_dir,
        write_reports=write_reports,
        export=export,
        merge_train=generation.then if generation is not None else merge_train,
    )


def _tune_and_retrain(
    project: Project,
    task: str,
    failed: TrainingRun,
    *,
    progress: ProgressFn,
    models_dir: Path | None,
    write_reports: bool,
    export: bool,
    merge_train: MergeTrain | None,
) -> TrainingRun:
    """The automatic path: tune within the budget, retrain with the best parameters (and the
    caller's ``merge_train``; ``train`` adds the project's generators again)."""
    from intently.tuning import run_study

    tuning = project.tuning_for(task)
    budget = tuning.budget_minutes * 60

    def on_trial(done: TrialProgress) -> None:
        best = done.best.value if done.best is not None and done.best.value is not None else 0.0
        progress(f"tuning: trial {done.trial.number} (best {best:.4f})", 0.5)

    study = run_study(
        project,
        task,
        trials=tuning.trials,
        timeout=budget,
        study_name=f"{project.name}-{task}-auto-{failed.version.id}",
        on_trial=on_trial,
    )
    retrained = train(
        project,
        task,
        progress=progress,
        models_dir=models_dir,
        write_reports=write_reports,
        export=export,
        params=study.best_params,
        study=study,
        auto_tune=False,
        merge_train=merge_train,
    )
    return replace(retrained, tuned_from=failed.version.id)


def _registry(project: Project) -> Registry:
    return Registry(project.model_root())


def _active_version(project: Project, task: str) -> str | None:
    try:
        pointer = _registry(project).pointer(task)
    except IntentlyError:
        return None
    return None if pointer is None else pointer.active


def _choice_json(choice: ThresholdChoice | None) -> dict[str, Any] | None:
    return (
        None
        if choice is None
        else {
            "objective": "(in_scope_accuracy + oos_recall) / 2 on the validation split",
            "probability_threshold": choice.threshold,
            "valid_in_scope_accuracy": choice.in_scope_accuracy,
            "valid_oos_recall": choice.oos_recall,
            "valid_in_scope_accuracy_without_threshold": choice.baseline_in_scope_accuracy,
        }
    )


def cross_validate_task(
    project: Project,
    task: str = DEFAULT_TASK,
    *,
    folds: int = 5,
    on_fold: Callable[[int], None] | None = None,
) -> CrossValidation:
    """k-fold cross-validation of ``task`` with the project's backend and fallback settings
    (and its generators, run on each fold's training part)."""
    from intently.collect import validate_task

    report, examples = validate_task(project, task)
    if report.errors:
        build_dataset(project, task)  # raises the same DataError `train` would
    grower = grower_for(project, task)
    return _cross_validate_examples(
        examples,
        project.training_for(task),
        project.fallback_for(task),
        task=task,
        defined=defined_labels(project, task) or (),
        folds=folds,
        on_fold=on_fold,
        merge_train=GrowingMerge(grower) if grower is not None else None,
    )


def _cross_validate_examples(
    examples: Sequence[Example],
    training: TrainingSpec,
    fallback: FallbackSpec,
    *,
    task: str,
    defined: Sequence[str],
    folds: int,
    on_fold: Callable[[int], None] | None = None,
    merge_train: MergeTrain | None = None,
) -> CrossValidation:
    def predictor(dataset: Dataset, held: Sequence[Example]) -> tuple[list[str], np.ndarray]:
        if merge_train is not None:
            held_out = (*dataset.valid, *held)
            dataset = replace(dataset, train=merge_train(dataset.train, held_out), fingerprint="")
        fitted = fit_dataset(dataset, training, fallback)
        proba, predicted = decide(fitted.model, fitted.rule, [e.text for e in held])
        return predicted, proba.max(axis=1)

    return cross_validate(
        examples,
        predictor,
        k=folds,
        seed=training.seed,
        task=task,
        defined_labels=defined,
        fallback_label=fallback.label,
        on_fold=on_fold,
    )
