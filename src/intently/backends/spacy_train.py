"""Training a spaCy pipeline from a config on in-memory examples: spaCy's own loop, the best
checkpoint on validation kept.

Any trainable component trains through here (the ``spacy`` textcat backend; the tool-call
``ner`` model): :func:`init_pipeline` builds and initialises the pipeline the way
``spacy train`` does (``spacy.training.initialize.init_nlp``, minus the corpora files), and
:func:`train_pipeline` runs ``spacy.training.loop.train_while_improving`` with the config's
``[training]`` section: batcher, optimizer, dropout, ``eval_frequency``, ``patience`` and
``max_steps`` in update steps, ``max_epochs``. Each evaluation scores the validation examples
with ``Language.evaluate`` weighted by ``[training.score_weights]`` (spaCy's
``create_evaluation_callback``), and the components of the best one are restored at the end;
one more evaluation after the last step keeps spaCy's loop from ending on unscored updates.

Example weights: spaCy has none, so the trained components' ``get_loss`` is wrapped while
training to scale each example's gradient by its weight (``Doc.user_data[WEIGHT_KEY]``), the
same as repeating an example in proportion to its weight.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from intently.backends.base import ProgressFn, notify_epoch
from intently.errors import SpacyConfigError

WEIGHT_KEY = "intently_weight"


@dataclass(frozen=True)
class TrainOutcome:
    """What :func:`train_pipeline` did: the best validation score (``None`` without
    validation examples: the last step is kept), at which step and epoch, and how long."""

    best_score: float | None
    best_step: int
    epochs: int
    steps: int
    checkpoints: tuple[tuple[float, int], ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "best_score": self.best_score,
            "best_step": self.best_step,
            "epochs": self.epochs,
            "steps": self.steps,
        }


def training_section(nlp: Any) -> dict[str, Any]:
    """``[training]`` of ``nlp``'s config, resolved (optimizer and batcher built)."""
    from spacy.schemas import ConfigSchemaTraining
    from spacy.util import registry

    try:
        return registry.resolve(nlp.config.interpolate()["training"], schema=ConfigSchemaTraining)
    except Exception as exc:  # confection's ConfigValidationError and registry lookups
        raise SpacyConfigError(
            f"the spaCy config's [training] section is unusable: {exc}"
        ) from None


def init_pipeline(config: Any, make_examples: Callable[[Any], list[Any]]) -> tuple[Any, list[Any]]:
    """The pipeline ``config`` describes, initialised, and ``make_examples(nlp)``.

    As ``spacy train`` does: sourced components in ``frozen_components`` stay as they are,
    other sourced ones resume training, the rest are initialised on the examples (their labels
    too). The examples are made once the tokenizer is final (a ``before_init`` callback may
    copy a base pipeline's).
    """
    from spacy.util import fix_random_seed, get_sourced_components, load_model_from_config

    seed = config.get("training", {}).get("seed", 0)
    fix_random_seed(seed if isinstance(seed, int) else 0)
    try:
        nlp = load_model_from_config(config, auto_fill=True, validate=True)
    except OSError as exc:  # a sourced pipeline that is not installed
        raise SpacyConfigError(
            f"the spaCy config names a pipeline spaCy cannot load: {exc}"
        ) from None
    except Exception as exc:  # confection's ConfigValidationError and registry lookups
        raise SpacyConfigError(f"the spaCy config does not build a pipeline: {exc}") from None
    training = training_section(nlp)
    frozen = list(training["frozen_components"])
    resume = [name for name in get_sourced_components(config) if name not in frozen]
    optimizer = training["optimizer"]
    if resume:
        with nlp.select_pipes(enable=resume):
            nlp.resume_training(sgd=optimizer)
    nlp._link_components()  # listeners find their upstream tok2vec before initialising
    made: list[list[Any]] = []

    def examples() -> list[Any]:
        if not made:
            made.append(make_examples(nlp))
        return made[0]

    try:
        with nlp.select_pipes(disable=[*frozen, *resume]):
            nlp.initialize(examples, sgd=optimizer)
    except ValueError as exc:  # spaCy's E867 (one label), E923 (no examples), ...
        raise SpacyConfigError(f"spaCy cannot initialise the pipeline: {exc}") from None
    made.clear()  # the tokenizer may have changed during initialisation
    return nlp, examples()


def trained_components(nlp: Any) -> list[str]:
    """The components the loop updates: trainable and not frozen."""
    frozen = set(training_section(nlp)["frozen_components"])
    return [
        name
        for name, proc in nlp.pipeline
        if name not in frozen and getattr(proc, "is_trainable", False)
    ]


@contextlib.contextmanager
def weighted_losses(nlp: Any, names: Sequence[str]) -> Iterator[None]:
    """While open, each of ``names``' gradients is scaled per example by
    ``example.reference.user_data[WEIGHT_KEY]`` (1 when absent).

    Only components whose ``update`` goes through ``get_loss`` with one gradient row per
    example (textcat) are affected; others train unweighted."""
    wrapped = []
    for name in names:
        proc = nlp.get_pipe(name)
        original = proc.get_loss

        def get_loss(examples: Any, scores: Any, _original: Callable = original) -> Any:
            loss, gradient = _original(examples, scores)
            weights = [eg.reference.user_data.get(WEIGHT_KEY, 1.0) for eg in examples]
            if (
                isinstance(gradient, np.ndarray)
                and gradient.shape[:1] == (len(weights),)
                and any(w != 1.0 for w in weights)
            ):
                gradient = gradient * np.asarray(weights, dtype=gradient.dtype)[:, None]
            return loss, gradient

        proc.get_loss = get_loss
        wrapped.append(proc)
    try:
        yield
    finally:
        for proc in wrapped:
            del proc.get_loss


_nothing = contextlib.nullcontext


def _snapshot(nlp: Any, names: Sequence[str], optimizer: Any) -> dict[str, bytes]:
    """The trained components' bytes, with the optimizer's parameter averages when it keeps
    them (``use_averages``: what spaCy evaluates and saves)."""
    if optimizer.averages:
        with nlp.use_params(optimizer.averages):
            return {name: nlp.get_pipe(name).to_bytes() for name in names}
    return {name: nlp.get_pipe(name).to_bytes() for name in names}


def train_pipeline(
    nlp: Any,
    train: Sequence[Any],
    valid: Sequence[Any],
    *,
    progress: ProgressFn | None = None,
    weighted: bool = False,
    after_evaluation: Callable[[Any], None] | None = None,
) -> TrainOutcome:
    """Train ``nlp`` (from :func:`init_pipeline`) on ``train`` with its config's
    ``[training]``; with ``valid`` examples, the best-scoring components are restored.
    ``weighted``: scale each example's gradient by its ``WEIGHT_KEY`` (:func:`weighted_losses`).
    ``after_evaluation(nlp)`` runs after each evaluation, in ``TrainOutcome.checkpoints``
    order, with the weights that evaluation scored (the optimizer's averages where it keeps
    them): a caller records what each checkpoint predicts there.

    ``progress`` gets ``"epoch e/E step s: score x"`` and the share of the step budget
    (``max_steps``, else ``max_epochs`` passes) that is done. Without ``valid`` examples
    ``patience`` does not apply (there is no score to stop on) and the last step is kept.
    """
    from spacy.training.loop import (
        create_evaluation_callback,
        create_train_batches,
        train_while_improving,
    )
    from spacy.util import fix_random_seed

    training = training_section(nlp)
    fix_random_seed(int(training["seed"] or 0))
    random.seed(int(training["seed"] or 0))
    names = trained_components(nlp)
    max_epochs = int(training["max_epochs"])
    max_steps = int(training["max_steps"])
    if max_epochs <= 0 and max_steps <= 0:
        raise SpacyConfigError(
            "the spaCy config sets neither max_epochs nor max_steps; training would not end.",
            hint="set [training] max_epochs or max_steps.",
        )
    if valid:
        score_valid = create_evaluation_callback(
            nlp, lambda _nlp: list(valid), training["score_weights"]
        )
        # Frozen components nothing listens to score the same at every evaluation: skipping
        # them (a base pipeline's tagger, parser, ner) leaves the best checkpoint unchanged.
        annotating = set(training["annotating_components"])
        idle = [name for name in training["frozen_components"] if name not in annotating]

        def evaluate() -> tuple[float, dict[str, Any]]:
            with nlp.select_pipes(disable=idle):
                scored = score_valid()
            if after_evaluation is not None:
                after_evaluation(nlp)
            return scored

    else:

        def evaluate() -> tuple[float, dict[str, Any]]:
            return 0.0, {}

    batches = create_train_batches(nlp, lambda _nlp: list(train), training["batcher"], max_epochs)
    best: dict[str, bytes] = {}
    best_score: float | None = None
    best_step, step, epoch = 0, 0, 0
    checkpoints: tuple[tuple[float, int], ...] = ()
    per_epoch = max(1, len(train))
    report = progress or (lambda _step, _done: None)
    with weighted_losses(nlp, names) if weighted else _nothing():
        loop = train_while_improving(
            nlp,
            training["optimizer"],
            batches,
            evaluate,
            dropout=training["dropout"],
            eval_frequency=training["eval_frequency"],
            accumulate_gradient=training["accumulate_gradient"],
            patience=training["patience"] if valid else 0,  # no scores to stop on
            max_steps=max_steps,
            exclude=list(training["frozen_components"]),
            annotating_components=list(training["annotating_components"]),
            before_update=training["before_update"],
        )
        seen = 0
        for batch, info, is_best in loop:
            step, epoch = info["step"], info["epoch"]
            seen += len(batch)
            checkpoints = tuple(info["checkpoints"])
            if is_best:
                best_score, best_step = info["score"], step
                best = _snapshot(nlp, names, training["optimizer"])
            if info["score"] is not None:
                if progress is not None and valid:  # intently tune may prune the trial here
                    notify_epoch(progress, len(info["checkpoints"]), float(info["score"]))
                done = step / max_steps if max_steps else seen / (per_epoch * max_epochs)
                scored = f": score {info['score']:.4f}" if valid else ""
                report(f"epoch {epoch + 1}/{max_epochs or '-'} step {step}{scored}", min(1.0, done))
        optimizer = training["optimizer"]
        if valid and (not checkpoints or checkpoints[-1][1] != step):
            with nlp.use_params(optimizer.averages) if optimizer.averages else _nothing():
                score, _ = evaluate()
            checkpoints = (*checkpoints, (score, step))
            if best_score is None or score > best_score:
                best_score, best_step = score, step
                best = _snapshot(nlp, names, optimizer)
        elif not valid:
            best = _snapshot(nlp, names, optimizer)
    for name, data in best.items():
        nlp.get_pipe(name).from_bytes(data)
    return TrainOutcome(
        best_score=None if not valid else best_score,
        best_step=best_step if valid else step,
        epochs=epoch + 1,
        steps=step + 1,
        checkpoints=checkpoints,
    )
