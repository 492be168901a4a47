import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from intently.backends import make_backend
from intently.backends.linear import LinearBackend, fit_temperature
from intently.errors import ModelError, SpecError, TrainingError

DATA = {
    "balance": [
        "what is my balance",
        "check my account balance",
        "how much money do I have",
        "show my balance please",
        "current balance",
        "balance of my savings account",
        "how much is left in my account",
        "tell me my balance",
        "account balance now",
        "what's my available balance",
    ],
    "card_lost": [
        "I lost my card",
        "my card was stolen",
        "block my card",
        "I can't find my credit card",
        "freeze my lost card",
        "someone stole my card",
        "report a stolen card",
        "card missing, please block it",
        "lost debit card",
        "my wallet and card are gone",
    ],
    "transfer": [
        "send money to my friend",
        "transfer 50 dollars to savings",
        "make a transfer",
        "wire money abroad",
        "move money between accounts",
        "pay my sister 20 euros",
        "transfer funds to John",
        "send a payment to my landlord",
        "how do I transfer money",
        "international transfer please",
    ],
    "greeting": [
        "hello",
        "hi there",
        "good morning",
        "hey",
        "hello, anyone here?",
        "hi, good afternoon",
        "hey there friend",
        "good evening",
        "hiya",
        "greetings",
    ],
}
TEXTS = [text for texts in DATA.values() for text in texts]
LABELS = [label for label, texts in DATA.items() for _ in texts]
PROBES = {
    "what's the balance on my account": "balance",
    "my credit card got stolen": "card_lost",
    "transfer money to my savings": "transfer",
    "hello hello": "greeting",
}


@pytest.fixture(scope="module")
def model() -> LinearBackend:
    return LinearBackend(seed=3).fit(TEXTS, LABELS)


def test_probabilities_sum_to_one_and_rank_the_right_class(model):
    assert model.classes_ == ("balance", "card_lost", "greeting", "transfer")
    proba = model.predict_proba(list(PROBES))
    assert proba.shape == (len(PROBES), 4)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert (proba >= 0).all()
    predicted = [model.classes_[i] for i in proba.argmax(axis=1)]
    assert predicted == list(PROBES.values())
    assert model.temperature_ > 0
    assert model.validation_proba_ is None


def test_same_seed_gives_identical_weights(model):
    again = LinearBackend(seed=3).fit(TEXTS, LABELS)
    np.testing.assert_array_equal(again.coef_, model.coef_)
    np.testing.assert_array_equal(again.intercept_, model.intercept_)
    assert again.temperature_ == model.temperature_


def test_single_text_fast_path_equals_batch_path(model):
    texts = [*PROBES, "zzz qqq", "card"]
    batch = model.predict_proba(texts)
    for i, text in enumerate(texts):
        np.testing.assert_allclose(model.predict_proba([text])[0], batch[i], atol=1e-6)


def test_save_load_round_trip_gives_identical_probabilities(model, tmp_path):
    model.save(tmp_path)
    loaded = LinearBackend.load(tmp_path)
    texts = [*PROBES, "anything else"]
    np.testing.assert_array_equal(loaded.predict_proba(texts), model.predict_proba(texts))
    assert loaded.classes_ == model.classes_
    assert loaded.get_params() == model.get_params()
    assert loaded.validation_proba_ is None


def test_saved_files_are_json_and_pickle_free_npz(model, tmp_path):
    model.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "linear_vocabulary.json",
        "linear_weights.npz",
    ]
    vocab = json.loads((tmp_path / "linear_vocabulary.json").read_text(encoding="utf-8"))
    assert vocab["format"] == "intently.linear.v1"
    assert vocab["classes"] == list(model.classes_)
    with np.load(tmp_path / "linear_weights.npz", allow_pickle=False) as arrays:
        assert {"coef", "intercept"} <= set(arrays.files)
        for key in arrays.files:
            assert arrays[key].dtype != object
    assert b"pickle" not in (tmp_path / "linear_weights.npz").read_bytes()


@pytest.fixture
def saved(model, tmp_path) -> Path:
    model.save(tmp_path)
    return tmp_path


def _edit_vocab(directory: Path, edit) -> None:
    path = directory / "linear_vocabulary.json"
    vocab = json.loads(path.read_text(encoding="utf-8"))
    edit(vocab)
    path.write_text(json.dumps(vocab), encoding="utf-8")


def test_load_truncated_npz_is_a_model_error(saved):
    weights = saved / "linear_weights.npz"
    data = weights.read_bytes()
    for size in (len(data) // 2, 10, 0):
        weights.write_bytes(data[:size])
        with pytest.raises(ModelError, match="corrupt"):
            LinearBackend.load(saved)


def test_load_missing_file_is_a_model_error(saved):
    (saved / "linear_weights.npz").unlink()
    with pytest.raises(ModelError, match=r"linear_weights\.npz"):
        LinearBackend.load(saved)


def test_load_foreign_format_is_a_model_error(saved):
    _edit_vocab(saved, lambda vocab: vocab.update(format="intently.linear.v0"))
    with pytest.raises(ModelError, match=r"unsupported linear model format 'intently\.linear\.v0'"):
        LinearBackend.load(saved)


@pytest.mark.parametrize(
    "edit",
    [
        lambda vocab: vocab["spaces"][0]["terms"].pop(),  # IDF no longer matches terms
        lambda vocab: vocab["classes"].append("extra"),  # more classes than weight columns
        lambda vocab: vocab.pop("params"),
        lambda vocab: vocab.update(temperature="hot"),
        lambda vocab: vocab["params"].update(bogus=1),
    ],
    ids=["terms", "classes", "no-params", "temperature", "unknown-param"],
)
def test_load_tampered_vocabulary_is_a_model_error(saved, edit):
    _edit_vocab(saved, edit)
    with pytest.raises(ModelError):
        LinearBackend.load(saved)


def test_load_mismatched_weight_shapes_is_a_model_error(saved):
    path = saved / "linear_weights.npz"
    with np.load(path, allow_pickle=False) as arrays:
        loaded = {key: arrays[key] for key in arrays.files}
    loaded["coef"] = loaded["coef"][:-1]
    np.savez_compressed(path, **loaded)
    with pytest.raises(ModelError, match="weight shapes"):
        LinearBackend.load(saved)


def test_load_json_that_is_not_an_object_is_a_model_error(saved):
    (saved / "linear_vocabulary.json").write_text("[]", encoding="utf-8")
    with pytest.raises(ModelError):
        LinearBackend.load(saved)
    (saved / "linear_vocabulary.json").write_text("{", encoding="utf-8")
    with pytest.raises(ModelError, match="corrupt"):
        LinearBackend.load(saved)


def test_example_weights_decide_a_conflict():
    conflict = "card transfer"
    texts = [*TEXTS, conflict, conflict]
    labels = [*LABELS, "card_lost", "transfer"]

    def winner(weight_lost: float, weight_transfer: float) -> str:
        weights = np.ones(len(texts))
        weights[-2:] = (weight_lost, weight_transfer)
        model = LinearBackend(seed=3, holdout=0.0).fit(texts, labels, weights)
        return model.classes_[int(model.predict_proba([conflict])[0].argmax())]

    assert winner(20.0, 1.0) == "card_lost"
    assert winner(1.0, 20.0) == "transfer"


def test_example_weights_change_the_weights():
    plain = LinearBackend(seed=3).fit(TEXTS, LABELS)
    weights = np.ones(len(TEXTS))
    weights[0] = 5.0
    weighted = LinearBackend(seed=3).fit(TEXTS, LABELS, weights)
    assert not np.array_equal(plain.coef_, weighted.coef_)


def test_binary_problem():
    texts = DATA["balance"] + DATA["greeting"]
    labels = ["balance"] * 10 + ["greeting"] * 10
    model = LinearBackend().fit(texts, labels)
    assert model.classes_ == ("balance", "greeting")
    assert model.coef_.shape[1] == 2
    proba = model.predict_proba(["how much money is in my account", "hey hello"])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert list(proba.argmax(axis=1)) == [0, 1]
    np.testing.assert_allclose(model.predict_proba(["hey hello"])[0], proba[1], atol=1e-6)


def test_crammer_singer_and_word_only_variants_fit():
    model = LinearBackend(multi_class="crammer_singer", char_ngrams=None).fit(TEXTS, LABELS)
    assert len(model.featurizer_.spaces) == 1
    assert model.get_params()["char_ngrams"] is None
    proba = model.predict_proba(list(PROBES))
    assert [model.classes_[i] for i in proba.argmax(axis=1)] == list(PROBES.values())


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"C": 0}, "'C'"),
        ({"C": -1.0}, "'C'"),
        ({"multi_class": "multinomial"}, "'multi_class'"),
        ({"class_weight": "auto"}, "'class_weight'"),
    ],
)
def test_invalid_parameters_are_training_errors(params, match):
    with pytest.raises(TrainingError, match=match):
        LinearBackend(**params).fit(TEXTS, LABELS)


def test_a_single_label_is_a_training_error():
    with pytest.raises(TrainingError, match="two labels"):
        LinearBackend().fit(DATA["balance"], ["balance"] * 10)


def test_make_backend_unknown_parameter_suggests_the_right_one():
    with pytest.raises(SpecError) as info:
        make_backend("linear", {"Cx": 1})
    message = str(info.value)
    assert "'Cx'" in message
    assert "Did you mean 'C'?" in message
    assert "char_weight" in message  # the hint lists the valid parameters


def test_make_backend_unknown_name_lists_backends():
    with pytest.raises(SpecError) as info:
        make_backend("lineer")
    message = str(info.value)
    assert "unknown backend 'lineer'" in message
    assert "Did you mean 'linear'?" in message
    assert "available backends:" in message
    assert "linear" in message.split("available backends:")[1]


def test_validation_rows_are_scaled_by_temperatures_fitted_on_the_other_rows(monkeypatch):
    fitted_on: list[int] = []

    def recording(scores: np.ndarray, targets: np.ndarray) -> float:
        fitted_on.append(len(targets))
        return fit_temperature(scores, targets)

    monkeypatch.setattr("intently.backends.linear.fit_temperature", recording)
    valid_texts = ["balance please", "hi", "lost card", "hello", "my balance", "card gone"]
    valid_labels = ["balance", "greeting", "card_lost", "greeting", "balance", "card_lost"]
    model = LinearBackend().fit(TEXTS, LABELS, valid=(valid_texts, valid_labels))
    # the model's temperature on all six rows, then five folds: each fitted on the other rows
    assert fitted_on[0] == 6 and sorted(fitted_on[1:]) == [4, 5, 5, 5, 5]
    assert model.validation_proba_ is not None


def test_make_backend_passes_params_and_seed():
    backend = make_backend("linear", {"C": 3.0}, seed=99)
    assert isinstance(backend, LinearBackend)
    assert backend.get_params()["C"] == 3.0
    assert backend.get_params()["seed"] == 99
    assert make_backend("linear", {"seed": 5}, seed=99).get_params()["seed"] == 5


def test_validation_proba_only_with_validation_data():
    valid_texts = ["balance of my account please", "hi hello", "I lost my card today"]
    valid_labels = ["balance", "greeting", "card_lost"]
    model = LinearBackend().fit(TEXTS, LABELS, valid=(valid_texts, valid_labels))
    assert model.validation_proba_ is not None
    assert model.validation_proba_.shape == (3, 4)
    np.testing.assert_allclose(model.validation_proba_.sum(axis=1), 1.0, rtol=1e-6)
    assert LinearBackend().fit(TEXTS, LABELS).validation_proba_ is None
    # Validation labels the model cannot predict are ignored rather than crashing.
    unknown = LinearBackend().fit(TEXTS, LABELS, valid=(["what"], ["weather"]))
    assert unknown.validation_proba_ is None


def test_progress_is_reported():
    steps = []
    LinearBackend().fit(TEXTS, LABELS, progress=lambda step, done: steps.append((step, done)))
    assert steps[-1] == ("done", 1.0)
    assert [done for _, done in steps] == sorted(done for _, done in steps)


def test_load_copy_in_other_directory(saved, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("copy")
    shutil.copytree(saved, elsewhere, dirs_exist_ok=True)
    assert LinearBackend.load(elsewhere).classes_ == LinearBackend.load(saved).classes_
