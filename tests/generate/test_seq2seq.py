"""paraphrase/backtranslate run a real (tiny, randomly initialised) T5 saved to a folder."""

from pathlib import Path

import numpy as np
import pytest

from intently.data import Example, Source
from intently.errors import GeneratorModelError
from intently.generate.base import GenerationContext
from intently.generate.registry import get_generator
from intently.spec import project_from_dict

pytest.importorskip("transformers")
# Importing transformers and loading the model dominate: about 15 s of CPU in all.
pytestmark = pytest.mark.slow

WORDS = [
    "hello",
    "hi",
    "there",
    "how",
    "do",
    "i",
    "top",
    "up",
    "my",
    "card",
    "refund",
    "money",
    "please",
    "where",
    "is",
    "order",
]


def tiny_t5(folder: Path) -> Path:
    """A 1-layer T5 with a word-level tokenizer: random weights, but the full HF code path."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, T5Config, T5ForConditionalGeneration

    vocab = {w: i for i, w in enumerate(["<pad>", "</s>", "<unk>", *WORDS, "paraphrase:"])}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token="<pad>", eos_token="</s>", unk_token="<unk>"
    )
    config = T5Config(
        vocab_size=len(vocab),
        d_model=16,
        d_kv=8,
        d_ff=32,
        num_layers=1,
        num_heads=2,
        decoder_start_token_id=0,
        pad_token_id=0,
        eos_token_id=1,
    )
    import torch

    torch.manual_seed(0)
    T5ForConditionalGeneration(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_t5(tmp_path_factory.mktemp("t5"))


def build(name: str, params: dict, root: Path):
    kind = get_generator(name)
    project = project_from_dict({"name": "p"}, root=root)
    return kind.build(kind.params.model_validate(params), GenerationContext(project, "intent"))


EXAMPLES = [Example("how do i top up my card", "top_up"), Example("where is my refund", "refund")]


def test_paraphrase_runs_the_model_and_is_deterministic_by_seed(model_dir: Path) -> None:
    generator = build("paraphrase", {"model": model_dir.name, "copies": 3}, model_dir.parent)
    first = generator.generate(EXAMPLES, np.random.default_rng(1))
    again = generator.generate(EXAMPLES, np.random.default_rng(1))
    assert [e.text for e in first] == [e.text for e in again]
    assert first, "a random model still produces some non-empty, new texts"
    for example in first:
        assert example.source is Source.PARAPHRASE and example.weight == 0.8
        assert example.meta["original"] in {e.text for e in EXAMPLES}
        assert example.text.lower() != example.meta["original"].lower()
        assert set(example.text.split()) <= set(WORDS) | {"paraphrase:"}


def test_backtranslate_chains_two_models(model_dir: Path) -> None:
    generator = build(
        "backtranslate", {"forward": str(model_dir), "back": str(model_dir)}, model_dir.parent
    )
    out = generator.generate(EXAMPLES, np.random.default_rng(0))
    assert all(e.meta["generator"] == "backtranslate" for e in out)
    assert {e.label for e in out} <= {"top_up", "refund"}


def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    generator = build("paraphrase", {"model": "nowhere"}, tmp_path)
    with pytest.raises(GeneratorModelError, match=r"E211.*no model folder at .*nowhere"):
        generator.generate(EXAMPLES, np.random.default_rng(0))


def test_folder_without_a_model_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    generator = build("paraphrase", {"model": "empty"}, tmp_path)
    with pytest.raises(GeneratorModelError, match="not a loadable seq2seq model folder"):
        generator.generate(EXAMPLES, np.random.default_rng(0))
