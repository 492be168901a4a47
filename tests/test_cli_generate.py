"""`intently data generate`: the preview table and the --out file."""

from pathlib import Path

from typer.testing import CliRunner

from intently.cli import app
from intently.data import Source, read_examples

runner = CliRunner()
GENERATION = [
    {"name": "augment", "per_intent": 2, "params": {"copies": 3, "lexicon": "bundled"}},
]


def test_preview_shows_each_generator_per_intent_and_writes_nothing(make_project, tmp_path):
    path = make_project(generation=GENERATION)
    written = tmp_path / "generated.jsonl"
    result = runner.invoke(
        app,
        ["data", "generate", "--preview", "-p", str(path), "--out", str(written)],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    assert "augment" in result.output and "refund" in result.output
    assert "augment: +10 examples" in result.output  # 5 intents x cap 2
    assert not written.exists()


def test_out_writes_the_generated_examples(make_project, tmp_path: Path):
    path = make_project(generation=GENERATION)
    written = tmp_path / "generated.jsonl"
    result = runner.invoke(app, ["data", "generate", "-p", str(path), "--out", str(written)])
    assert result.exit_code == 0, result.output
    examples = read_examples(written)
    assert len(examples) == 10
    assert {e.source for e in examples} == {Source.AUGMENTATION}


def test_without_generation_it_says_how_to_add_it(make_project):
    result = runner.invoke(app, ["data", "generate", "-p", str(make_project())])
    assert result.exit_code == 0
    assert "no generators" in result.output
