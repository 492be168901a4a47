"""Sentence-encoder helpers: finding a body, dynamic padding, truncation, threads, export.

Covers intently.backends.encoder, .bodies and .encoder_export.

The body is a tiny randomly initialised BERT with a word-level tokenizer (built once per
session in a temp folder); ``make_tiny_body`` is imported by the embedding and zeroshot tests.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from intently.backends import bodies  # noqa: E402
from intently.backends import encoder as enc  # noqa: E402
from intently.backends.encoder_export import export_onnx  # noqa: E402
from intently.errors import ModelError, TrainingError  # noqa: E402

WORDS = [
    "hello",
    "hi",
    "hey",
    "good",
    "morning",
    "evening",
    "there",
    "friend",
    "bye",
    "goodbye",
    "see",
    "you",
    "later",
    "farewell",
    "where",
    "is",
    "my",
    "order",
    "track",
    "parcel",
    "package",
    "status",
    "arrive",
    "shipped",
    "delivery",
    "when",
    "will",
    "it",
    "refund",
    "money",
    "back",
    "charged",
    "twice",
    "cancel",
    "stop",
    "purchase",
    "please",
    "want",
    "i",
    "need",
    "to",
    "the",
    "a",
    "an",
    "of",
    "for",
    "me",
    "now",
    "can",
    "how",
    "do",
    "what",
    "book",
    "table",
    "restaurant",
    "weather",
    "rain",
    "play",
    "song",
    "music",
]


def make_tiny_body(directory: Path, *, nli: bool = False, seed: int = 0, layers: int = 2) -> Path:
    """A random BERT (hidden 32, ``layers`` layers) + word-level tokenizer saved as a Hugging
    Face folder; ``nli`` adds a 3-way classification head whose id2label names entailment."""
    import tokenizers
    from tokenizers import models, normalizers, pre_tokenizers, processors
    from transformers import (
        BertConfig,
        BertForSequenceClassification,
        BertModel,
        PreTrainedTokenizerFast,
    )

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab = {token: i for i, token in enumerate(specials)}
    for word in [*WORDS, ".", ",", "?", "!", "'", "this", "text", "about"]:
        vocab.setdefault(word, len(vocab))
    tokenizer = tokenizers.Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )
    directory.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(str(directory))
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    torch.manual_seed(seed)
    if nli:
        config.num_labels = 3
        config.id2label = {0: "entailment", 1: "neutral", 2: "contradiction"}
        config.label2id = {name: i for i, name in config.id2label.items()}
        model = BertForSequenceClassification(config)
    else:
        model = BertModel(config)
    with enc.quiet_transformers():
        model.save_pretrained(str(directory))
    return directory


@pytest.fixture(scope="session")
def tiny_body(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_body(tmp_path_factory.mktemp("tiny-body") / "body")


@pytest.fixture(scope="module")
def encoder(tiny_body: Path) -> enc.SentenceEncoder:
    return enc.SentenceEncoder.load(tiny_body, max_length=16, threads=1)


# -- finding a body ---------------------------------------------------------------------------


def test_default_body_is_the_bundled_minilm():
    pytest.importorskip(bodies.BODY_PACKAGE)
    body = bodies.resolve_body(None)
    assert (body / bodies.WEIGHTS_FILE).is_file() and (body / "config.json").is_file()
    assert bodies.body_reference(body) == {
        "sha256": bodies.sha256_file(body / bodies.WEIGHTS_FILE),
        "package": bodies.BODY_PACKAGE,
    }


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(TrainingError, match=r"does not exist.*Fix: set model_path"):
        bodies.resolve_body(tmp_path / "nowhere")
    with pytest.raises(ModelError, match="does not exist"):
        bodies.resolve_body(tmp_path / "nowhere", error=ModelError)


def test_folder_that_is_not_a_model_is_a_clear_error(tmp_path):
    (tmp_path / "notes.txt").write_text("hello", encoding="utf-8")
    with pytest.raises(TrainingError, match=r"is not a model folder: it has no config\.json"):
        bodies.resolve_body(tmp_path)
    with pytest.raises(TrainingError, match="is a file, not a model folder"):
        bodies.resolve_body(tmp_path / "notes.txt")


def test_pickled_weights_are_refused(tmp_path):
    (tmp_path / "config.json").write_text("{}", encoding="utf-8")
    (tmp_path / "pytorch_model.bin").write_bytes(b"not read")
    with pytest.raises(TrainingError, match=r"pickle-based file.*model\.safetensors"):
        bodies.resolve_body(tmp_path)


def test_folder_without_weights_or_tokenizer_is_refused(tmp_path, tiny_body):
    (tmp_path / "config.json").write_text("{}", encoding="utf-8")
    with pytest.raises(TrainingError, match=r"has no model\.safetensors"):
        bodies.resolve_body(tmp_path)
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("config.json", bodies.WEIGHTS_FILE):
        (broken / name).write_bytes((tiny_body / name).read_bytes())
    with pytest.raises(TrainingError, match="has no tokenizer files"):
        bodies.resolve_body(broken)


def test_sentence_transformers_layout_resolves_to_its_transformer(tmp_path, tiny_body):
    root = tmp_path / "st-model"
    inner = root / "0_Transformer"
    inner.mkdir(parents=True)
    for path in tiny_body.iterdir():
        (inner / path.name).write_bytes(path.read_bytes())
    modules = [
        {
            "idx": 0,
            "name": "0",
            "path": "0_Transformer",
            "type": "sentence_transformers.models.Transformer",
        },
        {
            "idx": 1,
            "name": "1",
            "path": "1_Pooling",
            "type": "sentence_transformers.models.Pooling",
        },
    ]
    (root / "modules.json").write_text(json.dumps(modules), encoding="utf-8")
    assert bodies.resolve_body(root) == inner


def test_reference_detects_changed_weights(tmp_path, tiny_body):
    body = tmp_path / "copy"
    body.mkdir()
    for path in tiny_body.iterdir():
        (body / path.name).write_bytes(path.read_bytes())
    reference = bodies.body_reference(body)
    assert reference["path"] == str(body.resolve())
    assert bodies.resolve_reference(reference, owner="test") == body
    with open(body / bodies.WEIGHTS_FILE, "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(ModelError, match="weights changed"):
        bodies.resolve_reference(reference, owner="test")


# -- encoding ---------------------------------------------------------------------------------


def test_embeddings_are_unit_length_and_independent_of_batching(encoder):
    texts = ["hello", "where is my order now please", "refund", "hi there friend", "bye"]
    together = encoder.encode(texts, batch_size=2).embeddings
    assert together.shape == (5, 32) and together.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1.0, rtol=1e-5)
    alone = np.vstack([encoder.encode([t]).embeddings for t in texts])
    np.testing.assert_allclose(together, alone, atol=1e-5)
    assert encoder.encode([]).embeddings.shape == (0, 32)


def test_dynamic_padding_pads_each_batch_to_its_longest(encoder):
    ids, _ = encoder.tokenize(["hi", "bye", "where is my order now please", "hello there"])
    widths = [tuple(batch[1].shape) for batch in encoder.batches(ids, 2)]
    assert widths == [(2, 3), (2, 8)]  # short texts share a batch; [CLS] and [SEP] included


def test_truncation_is_counted(encoder):
    long = " ".join(["please"] * 40)
    ids, truncated = encoder.tokenize(["hello", long, long + " refund"])
    assert truncated == 2 and max(len(row) for row in ids) == 16
    assert encoder.encode(["hello", long]).truncated == 1


def test_progress_reports_reach_one(encoder):
    seen = []
    encoder.encode(["hi"] * 10, batch_size=3, progress=lambda step, done: seen.append(done))
    assert seen[-1] == 1.0 and seen == sorted(seen)


def test_threads_are_honoured_and_restored():
    before = torch.get_num_threads()
    with enc.torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_pooling_variants(tiny_body):
    both = enc.SentenceEncoder.load(tiny_body, pooling="mean+max")
    vectors = both.encode(["hello there", "refund please"]).embeddings
    assert both.dim == 64 and vectors.shape == (2, 64)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)


def test_max_length_beyond_the_positions_is_refused(tiny_body):
    with pytest.raises(TrainingError, match="exceeds the 128 positions"):
        enc.SentenceEncoder.load(tiny_body, max_length=512)


def test_freeze_below_keeps_only_top_layers_trainable(tiny_body):
    encoder = enc.SentenceEncoder.load(tiny_body)
    assert encoder.freeze_below(1) == 2
    trainable = {n for n, p in encoder.model.named_parameters() if p.requires_grad}
    assert trainable and all("layer.0." not in n and "embeddings" not in n for n in trainable)
    assert any("layer.1." in n for n in trainable)
    encoder.freeze_below(None)
    assert all(p.requires_grad for p in encoder.model.parameters())


def test_chunked_embeddings_match_encode(encoder):
    texts = ["hello", "where is my order now please", "refund", "hi there friend", "bye"]
    ids, _ = encoder.tokenize(texts)
    with torch.inference_mode():
        chunked = encoder.embed_ids(ids, chunk_size=2).numpy()
    np.testing.assert_allclose(chunked, encoder.encode(texts).embeddings, atol=1e-5)


def test_saved_body_reloads_identically(tmp_path, encoder):
    encoder.save_body(tmp_path / "body")
    assert (tmp_path / "body" / bodies.WEIGHTS_FILE).is_file()
    assert not list((tmp_path / "body").glob("*.bin"))
    saved = bodies.resolve_body(tmp_path / "body")
    again = enc.SentenceEncoder.load(saved, max_length=16, threads=1)
    texts = ["hello there", "refund my money"]
    np.testing.assert_array_equal(again.encode(texts).embeddings, encoder.encode(texts).embeddings)


def test_export_runs_in_onnxruntime_like_torch(tmp_path, encoder):
    ort = pytest.importorskip("onnxruntime")
    import tokenizers

    coef = np.random.default_rng(0).normal(size=(3, 32)).astype(np.float32)
    intercept = np.array([0.1, -0.2, 0.0], dtype=np.float32)
    description = export_onnx(encoder, enc.linear_head(coef, intercept), tmp_path)
    assert description == {
        "kind": "encoder",
        "inputs": ["input_ids", "attention_mask"],
        "output": "probabilities",
        "max_length": 16,
        "tokenizer": "tokenizer.json",
        "opset": 17,
    }
    texts = ["hi", "where is my order now please " * 5, "refund my money"]
    runtime_tokenizer = tokenizers.Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    rows = runtime_tokenizer.encode_batch(texts)
    feed = {
        "input_ids": np.array([r.ids for r in rows], dtype=np.int64),
        "attention_mask": np.array([r.attention_mask for r in rows], dtype=np.int64),
    }
    session = ort.InferenceSession(str(tmp_path / "model.onnx"))
    (onnx_proba,) = session.run(["probabilities"], feed)
    logits = encoder.encode(texts).embeddings.astype(np.float64) @ coef.T + intercept
    expected = np.exp(logits - logits.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(onnx_proba, expected, atol=1e-4)
