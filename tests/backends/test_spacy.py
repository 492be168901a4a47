"""The spacy backend: config generation, training, save/load, errors (spaCy is installed)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tiny_project import INTENTS, LABELS, TEXTS

spacy = pytest.importorskip("spacy")

from intently.backends import make_backend  # noqa: E402
from intently.backends.spacy_config import (  # noqa: E402
    LoopSettings,
    build_config,
    compounding_sizes,
    textcat_model,
)
from intently.backends.spacy_textcat import (  # noqa: E402
    PIPELINE_DIR,
    STATE_FILE,
    SpacyBackend,
    SpacyVersionWarning,
    case_marks_names,
)
from intently.errors import SpacyConfigError, SpacyPipelineError, TrainingError  # noqa: E402
from intently.evaluation.selection import validation_folds  # noqa: E402
from intently.export import export_backend  # noqa: E402

FAST = {"max_epochs": 8, "batch_size": [8, 16], "length": 4096, "learn_rate": 0.01, "min_steps": 0}


@pytest.fixture(scope="module")
def fitted() -> SpacyBackend:
    return make_backend("spacy", FAST, seed=3).fit(TEXTS, LABELS)  # type: ignore[return-value]


def test_generated_config_is_a_spacy_config_with_the_params() -> None:
    settings = LoopSettings(dropout=0.3, batch_start=4, batch_stop=64, max_epochs=7, seed=5)
    config = build_config(
        component="textcat",
        factory="textcat",
        model=textcat_model("bow", ngram_size=3, length=2048),
        settings=settings,
    )
    assert config["nlp"]["pipeline"] == ["textcat"]
    assert config["components"]["textcat"]["model"]["@architectures"] == "spacy.TextCatBOW.v3"
    assert config["components"]["textcat"]["model"]["ngram_size"] == 3
    training = config["training"]
    assert (training["dropout"], training["max_epochs"], training["seed"]) == (0.3, 7, 5)
    assert training["batcher"]["size"] == {
        "@schedules": "compounding.v1",
        "start": 4,
        "stop": 64,
        "compound": 1.001,
    }
    nlp = spacy.util.load_model_from_config(config, auto_fill=True, validate=True)
    assert nlp.pipe_names == ["textcat"]


def test_min_steps_stretches_the_evaluation_periods_of_small_data_only() -> None:
    backend = SpacyBackend(batch_size=(64, 256), max_epochs=10, patience=2, min_steps=800)
    small = backend.spacy_config(250)["training"]  # one pass: 4 steps
    assert (small["eval_frequency"], small["patience"]) == (80, 160)
    assert (small["max_epochs"], small["max_steps"]) == (0, 800)
    large = backend.spacy_config(9000)["training"]  # one pass: 89 steps, over 800 / 10
    assert (large["eval_frequency"], large["patience"]) == (89, 178)
    assert (large["max_epochs"], large["max_steps"]) == (10, 0)
    assert (
        SpacyBackend(max_epochs=10, min_steps=0).spacy_config(250)["training"]["eval_frequency"]
        == 4
    )


def test_a_small_fit_under_min_steps_takes_them() -> None:
    steps = []
    make_backend("spacy", {**FAST, "max_epochs": 2, "min_steps": 60}, seed=3).fit(
        TEXTS, LABELS, progress=lambda step, _done: steps.append(step)
    )
    assert any("step 60" in s for s in steps), steps[-3:]


@pytest.mark.parametrize(
    ("architecture", "registered"),
    [
        ("cnn", "spacy.TextCatCNN.v2"),
        ("reduce", "spacy.TextCatReduce.v1"),
        ("ensemble", "spacy.TextCatEnsemble.v2"),
    ],
)
def test_every_architecture_builds(architecture: str, registered: str) -> None:
    config = build_config(
        component="textcat",
        factory="textcat",
        model=textcat_model(architecture, width=16, embed_size=500),
        settings=LoopSettings(),
    )
    nlp = spacy.util.load_model_from_config(config, auto_fill=True, validate=True)
    assert nlp.config["components"]["textcat"]["model"]["@architectures"] == registered


def test_compounding_sizes_cover_the_data() -> None:
    sizes = compounding_sizes(4, 10, 1.5, 40)
    assert sizes[:4] == [4, 6, 9, 10] and sum(sizes) >= 40 and sum(sizes[:-1]) < 40


def test_fits_the_tiny_project_and_is_deterministic(fitted: SpacyBackend) -> None:
    proba = fitted.predict_proba(["where is my order", "hello there", "cancel my order"])
    assert proba.shape == (3, len(INTENTS))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    predicted = [fitted.classes_[i] for i in proba.argmax(axis=1)]
    assert predicted == ["order_status", "greeting", "cancel_order"]
    train_accuracy = np.mean(
        np.asarray(fitted.classes_)[fitted.predict_proba(TEXTS).argmax(axis=1)] == LABELS
    )
    assert train_accuracy > 0.9
    again = make_backend("spacy", FAST, seed=3).fit(TEXTS, LABELS)
    np.testing.assert_allclose(again.predict_proba(TEXTS), fitted.predict_proba(TEXTS))
    assert fitted.fit_info_["architecture"] == "spacy.TextCatBOW.v3"


def test_example_weights_change_the_model(fitted: SpacyBackend) -> None:
    weights = np.where(np.asarray(LABELS) == "greeting", 5.0, 1.0)
    plain = fitted
    heavy = make_backend("spacy", FAST, seed=3).fit(TEXTS, LABELS, weights)
    column = plain.classes_.index("greeting")
    probe = ["is anyone there"]
    assert heavy.predict_proba(probe)[0, column] > plain.predict_proba(probe)[0, column]


def test_save_load_round_trip_is_a_spacy_pipeline(fitted: SpacyBackend, tmp_path: Path) -> None:
    fitted.save(tmp_path)
    loaded = SpacyBackend.load(tmp_path)
    np.testing.assert_allclose(loaded.predict_proba(TEXTS), fitted.predict_proba(TEXTS))
    nlp = spacy.load(tmp_path / PIPELINE_DIR)
    cats = nlp("track my order please").cats
    assert max(cats, key=cats.get) == "order_status"


def test_bow_reads_lower_cased_text_and_so_does_its_export(
    fitted: SpacyBackend, tmp_path: Path
) -> None:
    assert fitted.get_params()["lowercase"] == "auto" and fitted.reads_lowercase
    shouted = [text.upper() for text in TEXTS]
    np.testing.assert_array_equal(fitted.predict_proba(shouted), fitted.predict_proba(TEXTS))
    cats = fitted.nlp_("where is my order").cats  # the saved pipeline reads lower case
    column = fitted.classes_.index("order_status")
    assert fitted.predict_proba(["WHERE is my Order"])[0, column] == pytest.approx(
        cats["order_status"], abs=1e-6
    )
    fitted.save(tmp_path)
    assert SpacyBackend.load(tmp_path).reads_lowercase
    report = export_backend(fitted, tmp_path, texts=[*shouted, *TEXTS], source="test")
    assert report.parity.fp32.agreement == 1.0 and report.parity.fp32.max_abs_diff < 1e-5


NAMED = [
    "play Hey Jude by The Beatles",
    "add Bohemian Rhapsody to my Road Trip playlist",
    "find the movie Blade Runner",
    "is it raining in New York today",
]


def test_case_marks_names_where_titles_are_capitalised() -> None:
    assert case_marks_names(NAMED)
    assert not case_marks_names(TEXTS)  # lower case
    assert not case_marks_names(["My card was declined at the ATM", "I lost my PIN"])
    assert not case_marks_names(["", "42"])


@pytest.mark.parametrize(
    ("params", "texts", "lower"),
    [
        ({}, TEXTS, True),
        ({}, NAMED, False),  # capitals mark names: keep them
        ({"lowercase": True}, NAMED, True),
        ({"lowercase": False}, TEXTS, False),
        ({"architecture": "cnn"}, TEXTS, True),
        ({"architecture": "ensemble"}, NAMED, False),
        ({"config": "config.cfg"}, TEXTS, False),  # a verbatim config reads text as spaCy does
        ({"config": "config.cfg", "lowercase": True}, TEXTS, True),
    ],
)
def test_lowercase_auto_decides_for_generated_configs_only(
    params: dict, texts: list[str], lower: bool
) -> None:
    assert SpacyBackend(**params).decide_lowercase(texts) is lower


def test_a_fit_on_named_texts_keeps_the_case() -> None:
    labels = ["music", "music", "movie", "weather"]
    model = SpacyBackend(**FAST, holdout=0).fit(NAMED * 2, labels * 2)
    assert not model.reads_lowercase and model.fit_info_["lowercase"] is False


@pytest.mark.parametrize(
    ("saved", "reads"),
    [(None, True), (False, False), (True, True), ("missing", False)],
)
def test_models_saved_before_auto_read_text_as_their_parameter_said(
    fitted: SpacyBackend, tmp_path: Path, saved: Any, reads: bool
) -> None:
    fitted.save(tmp_path)
    state = json.loads((tmp_path / STATE_FILE).read_text())
    del state["fit_info"]["lowercase"]
    if saved == "missing":  # saved before the parameter: texts as they are
        del state["params"]["lowercase"]
    else:
        state["params"]["lowercase"] = saved  # None: the generated bow lower-cased
    (tmp_path / STATE_FILE).write_text(json.dumps(state))
    loaded = SpacyBackend.load(tmp_path)
    assert loaded.reads_lowercase is reads and loaded.lowercase is reads


def test_without_validation_every_epoch_runs_whatever_the_patience() -> None:
    params = {**FAST, "holdout": 0.0, "patience": 1, "max_epochs": 5}
    model = make_backend("spacy", params, seed=3).fit(TEXTS, LABELS)
    assert model.fit_info_["epochs"] == 5 and model.fit_info_["best_score"] is None


def test_validation_rows_come_from_checkpoints_chosen_on_the_other_rows() -> None:
    valid_texts = ["where is my parcel", "hey there", "please cancel it", "status of my order"]
    valid_labels = ["order_status", "greeting", "cancel_order", "order_status"]
    model = make_backend("spacy", FAST, seed=3).fit(
        TEXTS, LABELS, valid=(valid_texts, valid_labels)
    )
    info = model.fit_info_
    steps = info["validation_steps_by_fold"]
    assert len(steps) == 4 and all(0 < step <= info["steps"] for step in steps)
    assert info["best_step"] in steps
    targets = np.searchsorted(model.classes_, valid_labels)
    fold = validation_folds(targets, len(steps), seed=3)
    restored = model.predict_proba(valid_texts)
    assert model.validation_proba_ is not None
    for f, step in enumerate(steps):
        if step == info["best_step"]:  # the kept checkpoint predicts exactly these rows
            np.testing.assert_allclose(model.validation_proba_[fold == f], restored[fold == f])


def test_loading_under_another_spacy_version_warns(fitted: SpacyBackend, tmp_path: Path) -> None:
    fitted.save(tmp_path)
    state = json.loads((tmp_path / STATE_FILE).read_text())
    (tmp_path / STATE_FILE).write_text(json.dumps(state | {"spacy_version": "3.0.0"}))
    with pytest.warns(SpacyVersionWarning, match="saved with spaCy 3.0.0"):
        SpacyBackend.load(tmp_path)
    (tmp_path / STATE_FILE).write_text(json.dumps(state))
    with warnings.catch_warnings():
        warnings.simplefilter("error", SpacyVersionWarning)
        SpacyBackend.load(tmp_path)


def test_missing_base_pipeline_says_how_to_install() -> None:
    backend = make_backend("spacy", {**FAST, "base_model": "xx_no_such_pipeline_sm"})
    with pytest.raises(SpacyPipelineError, match=r"xx_no_such_pipeline_sm.*not installed") as info:
        backend.fit(TEXTS, LABELS)
    assert "spacy download xx_no_such_pipeline_sm" in str(info.value)
    assert info.value.code == "E310"


def tiny_bow_config() -> Any:
    """A small BOW textcat config that trains in a moment."""
    return build_config(
        component="textcat",
        factory="textcat",
        model=textcat_model("bow", length=2048),
        settings=LoopSettings(batch_start=8, batch_stop=8, max_epochs=3, eval_frequency=5),
    )


def test_verbatim_config_file(tmp_path: Path) -> None:
    config = tiny_bow_config()
    path = tmp_path / "config.cfg"
    config.to_disk(path)
    backend = make_backend("spacy", {"config": str(path), "architecture": "ensemble"}).fit(
        TEXTS, LABELS
    )
    assert backend.fit_info_["architecture"] == "spacy.TextCatBOW.v3"
    with pytest.raises(SpacyConfigError, match="does not exist"):
        make_backend("spacy", {"config": str(tmp_path / "nope.cfg")}).fit(TEXTS, LABELS)


def test_bad_params_are_refused_before_training() -> None:
    with pytest.raises(TrainingError, match="architecture"):
        make_backend("spacy", {"architecture": "lstm"}).fit(TEXTS, LABELS)


def test_the_same_machinery_trains_a_ner_model() -> None:
    from spacy.training import Example

    from intently.backends.spacy_train import init_pipeline, train_pipeline

    data = [
        ("call get_weather for Paris", [(5, 16, "TOOL_NAME"), (21, 26, "PARAM_VALUE")]),
        ("run search with query cats", [(4, 10, "TOOL_NAME"), (16, 21, "PARAM_NAME")]),
    ] * 8
    settings = LoopSettings(batch_start=4, batch_stop=8, max_epochs=6, eval_frequency=4)
    config = build_config(
        component="ner",
        factory="ner",
        model=None,
        settings=settings,
        score_weights={"ents_f": 1.0},
    )

    def make(nlp: object) -> list[Example]:
        return [Example.from_dict(nlp.make_doc(t), {"entities": e}) for t, e in data]  # type: ignore[attr-defined]

    nlp, train = init_pipeline(config, make)
    outcome = train_pipeline(nlp, train, train[:4])
    assert outcome.best_score == 1.0
    found = [(e.text, e.label_) for e in nlp("call get_weather for Paris").ents]
    assert found == [("get_weather", "TOOL_NAME"), ("Paris", "PARAM_VALUE")]


@pytest.mark.slow  # loads en_core_web_sm four times (config, sourcing, tokenizer copy, save)
def test_builds_on_an_installed_base_pipeline(tmp_path: Path) -> None:
    installed = sorted(spacy.util.get_installed_models())
    if not installed:
        pytest.skip("no trained spaCy pipeline installed")
    model = make_backend("spacy", {**FAST, "base_model": installed[0]}, seed=3).fit(TEXTS, LABELS)
    assert model.nlp_.pipe_names[-1] == "textcat" and "tagger" in model.nlp_.pipe_names
    model.save(tmp_path)
    doc = spacy.load(tmp_path / PIPELINE_DIR)("where is my order")
    assert max(doc.cats, key=doc.cats.get) == "order_status"
    assert doc.has_annotation("TAG")  # the base components still run, untouched


def test_project_spacy_config_is_resolved_and_checked(tmp_path: Path) -> None:
    import yaml

    import intently
    from intently.errors import SpecError
    from tiny_project import project_data

    config = tiny_bow_config()
    config.to_disk(tmp_path / "textcat.cfg")
    data = project_data()
    data["training"] = {"backend": "spacy", "spacy_config": "textcat.cfg"}
    (tmp_path / "intently.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    run = intently.train(
        intently.load_project(tmp_path / "intently.yaml"), write_reports=False, export=False
    )
    assert Path(run.version.params["config"]) == tmp_path / "textcat.cfg"
    data["training"] = {"backend": "linear", "spacy_config": "textcat.cfg"}
    (tmp_path / "intently.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(SpecError, match="spacy_config is read by the spacy backend only"):
        intently.load_project(tmp_path / "intently.yaml")


def test_a_config_without_a_textcat_is_refused(tmp_path: Path) -> None:
    config = build_config(
        component="ner", factory="ner", model=None, settings=LoopSettings(max_epochs=1)
    )
    config.to_disk(tmp_path / "ner.cfg")
    with pytest.raises(SpacyConfigError, match="exactly one 'textcat'"):
        make_backend("spacy", {"config": str(tmp_path / "ner.cfg")}).fit(TEXTS, LABELS)
