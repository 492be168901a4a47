"""Configured generators on the train part only: caps, filters, consistency, leakage, errors."""

from pathlib import Path

import pytest

from intently.collect import build_dataset
from intently.curation.consistency import consistency_filter
from intently.curation.grow import GrowingMerge, grower_for
from intently.data import Example, read_examples
from intently.errors import SpecError
from intently.export import EVALUATION_FILE
from intently.generate.filters import normalise
from intently.pipeline import train
from intently.spec import load_project, project_from_dict
from tiny_project import INTENTS, project_data

AUGMENT = {"name": "augment", "params": {"copies": 4, "lexicon": "bundled", "synonym": 0.4}}


def tiny(**extra):
    return project_from_dict(project_data(**extra))


def test_no_generation_configured_means_no_grower() -> None:
    assert grower_for(tiny(), "intent") is None


def test_per_intent_cap_is_respected_and_reported() -> None:
    project = tiny(generation=[{**AUGMENT, "per_intent": 3}])
    dataset = build_dataset(project)
    growth = grower_for(project, "intent").grow(dataset.train)
    per_label: dict[str, int] = {}
    for example in growth.examples:
        per_label[example.label] = per_label.get(example.label, 0) + 1
    assert per_label and max(per_label.values()) <= 3
    (report,) = growth.entries
    assert dict(report.added) == per_label
    assert report.dropped["cap"] > 0


def test_growth_is_deterministic_by_seed() -> None:
    def texts(seed: int) -> list[str]:
        project = tiny(generation=[AUGMENT], training={"backend": "linear", "seed": seed})
        train_part = build_dataset(tiny()).train
        return [e.text for e in grower_for(project, "intent").grow(train_part).examples]

    assert texts(1) == texts(1)
    assert texts(1) != texts(2)


def test_nothing_generated_from_or_equal_to_held_out_examples() -> None:
    project = tiny(generation=[AUGMENT])
    dataset = build_dataset(project)
    held = (*dataset.valid, *dataset.test)
    # A held-out text the augmenter would produce from a train example must not come back.
    twin = Example("where is my order", "order_status")
    merge = GrowingMerge(grower_for(project, "intent"))
    merged = merge(dataset.train, (*held, twin))
    generated = merged[len(dataset.train) :]
    assert generated and merged[: len(dataset.train)] == dataset.train
    train_texts = {e.text for e in dataset.train}
    held_keys = {normalise(e.text) for e in (*held, twin)}
    for example in generated:
        assert example.meta["original"] in train_texts
        assert normalise(example.text) not in held_keys
    assert merge.growths[0].examples == tuple(generated)


def test_train_runs_the_generators_and_never_scores_generated_examples(tmp_path: Path) -> None:
    project = tiny(generation=[AUGMENT], tasks={})
    run = train(project, models_dir=tmp_path / "models", write_reports=False, export=False)
    generation = run.version.extra["generation"]
    assert generation["generated"] > 0
    assert generation["entries"][0]["name"] == "augment"
    scored = {e.text for e in read_examples(run.model_dir / EVALUATION_FILE)}
    own = {text for texts in INTENTS.values() for text in texts}
    assert scored and scored <= own


def test_consistency_filter_drops_what_the_originals_model_gives_another_intent() -> None:
    originals = [Example(t, label) for label, texts in INTENTS.items() for t in texts]
    generated = [
        Example("refund my money please, I want a refund", "greeting"),  # drifted
        Example("hello hello, hi there", "greeting"),
    ]
    rejected = consistency_filter(originals, generated, threshold=0.5)
    assert [(r.index, r.preferred) for r in rejected] == [(0, "refund")]
    assert rejected[0].probability >= 0.5
    assert consistency_filter(originals, generated, threshold=1.0) == []  # never that sure


def write(tmp_path: Path, generation: list[dict]) -> Path:
    import yaml

    path = tmp_path / "intently.yaml"
    path.write_text(yaml.safe_dump(project_data(generation=generation), sort_keys=False))
    return path


def line_of(path: Path, needle: str) -> int:
    return next(i for i, t in enumerate(path.read_text().splitlines(), 1) if needle in t)


def test_unknown_generator_is_a_spec_error_with_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, [{"name": "augmnt"}])
    with pytest.raises(SpecError) as caught:
        grower_for(load_project(path), "intent")
    assert f"{path}:{line_of(path, 'augmnt')} (generation[0].name)" in str(caught.value)
    assert "Did you mean 'augment'" in str(caught.value)


def test_bad_generator_parameters_name_file_line_and_key(tmp_path: Path) -> None:
    path = write(tmp_path, [{"name": "augment", "params": {"copies": 2, "word_dorp": 0.1}}])
    with pytest.raises(SpecError) as caught:
        grower_for(load_project(path), "intent")
    message = str(caught.value)
    assert f"{path}:{line_of(path, 'word_dorp')} (generation[0].params.word_dorp)" in message
    assert "Did you mean 'word_drop'" in message

    path = write(tmp_path, [{"name": "augment", "params": {"synonym": 3}}])
    with pytest.raises(SpecError, match=r"generation\[0\]\.params\.synonym.*less than or equal"):
        grower_for(load_project(path), "intent")

    path = write(tmp_path, [{"name": "paraphrase"}])
    with pytest.raises(SpecError, match="needs the parameter 'model'"):
        grower_for(load_project(path), "intent")


def test_generator_for_an_undeclared_task_is_refused_at_load(tmp_path: Path) -> None:
    path = write(tmp_path, [{"name": "augment", "task": "sentiment"}])
    with pytest.raises(SpecError, match=r"undeclared task 'sentiment'"):
        load_project(path)
