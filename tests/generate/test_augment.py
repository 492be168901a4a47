"""The augment generator, its lexicons (WordNet reader on a fake database, bundled fallback)
and the duplicate/length filters."""

from pathlib import Path

import numpy as np
import pytest

from intently.data import Example, Source
from intently.errors import GenerationError
from intently.generate import lexicon
from intently.generate.augment import Augmenter, AugmentParams
from intently.generate.base import GenerationContext, entity_forms
from intently.generate.filters import FilterBounds, filter_generated
from intently.generate.registry import UnknownGenerator, get_generator
from intently.spec import project_from_dict

PROJECT = project_from_dict(
    {
        "name": "bank",
        "entities": {"currency": ["euro", {"value": "us dollar", "synonyms": ["usd"]}]},
    }
)
TEXTS = [
    "please send money in euro to my account",
    "how do I transfer us dollar to my card",
    "I want to check my account balance please",
    "can you help me change my password",
]


def augmenter(**params) -> Augmenter:
    kind = get_generator("augment")
    return kind.build(
        AugmentParams(lexicon="bundled", **params),
        GenerationContext(PROJECT, "intent", entity_forms(PROJECT)),
    )


def examples() -> list[Example]:
    return [Example(text, f"label{i}") for i, text in enumerate(TEXTS)]


def test_same_seed_same_output_other_seed_other_output() -> None:
    generator = augmenter(copies=3, word_drop=0.2, swap=0.2, synonym=0.3, typo=0.1)
    first = generator.generate(examples(), np.random.default_rng(7))
    assert first == generator.generate(examples(), np.random.default_rng(7))
    assert first != generator.generate(examples(), np.random.default_rng(8))


def test_outputs_carry_source_weight_and_original() -> None:
    out = augmenter(copies=2, synonym=0.5).generate(examples(), np.random.default_rng(0))
    assert out
    originals = {e.text: e.label for e in examples()}
    for example in out:
        assert example.source is Source.AUGMENTATION and example.weight == 0.75
        assert originals[example.meta["original"]] == example.label
        assert example.meta["generator"] == "augment" and example.meta["ops"]
        assert example.text != example.meta["original"]


def test_entity_values_and_protected_words_are_never_touched() -> None:
    generator = augmenter(
        copies=20, word_drop=0.5, swap=0.5, synonym=0.9, typo=0.9, protected=("password",)
    )
    out = generator.generate(examples(), np.random.default_rng(3))
    assert len(out) > 40
    for example in out:
        original = example.meta["original"]
        for kept in ("euro", "us dollar", "password"):
            if kept in original:
                assert kept in example.text, (original, example.text)


def test_span_entities_from_meta_are_locked_and_re_located() -> None:
    text = "fly to new york tomorrow please"
    spans = [{"entity": "city", "value": "new york", "start": 7, "end": 15}]
    example = Example(text, "book", Source.TEMPLATE, meta={"spans": spans})
    out = augmenter(copies=10, word_drop=0.5, swap=0.5, typo=0.9).generate(
        [example], np.random.default_rng(1)
    )
    assert out
    for new in out:
        (span,) = new.meta["spans"]
        assert new.text[span["start"] : span["end"]] == "new york"


def test_synonyms_come_from_the_bundled_lexicon_when_wordnet_is_absent(monkeypatch) -> None:
    monkeypatch.setattr(lexicon, "WORDNET_DIRS", ())
    monkeypatch.delenv("WNSEARCHDIR", raising=False)
    chosen = lexicon.get_lexicon("auto")
    assert chosen.name == "bundled"
    assert "reimbursement" in chosen.synonyms("refund")
    with pytest.raises(GenerationError, match=r"E210.*no WordNet database"):
        lexicon.get_lexicon("wordnet")


def write_fake_wordnet(folder: Path) -> Path:
    """index.* and data.* in WordNet 3.0's format, with real byte offsets."""
    synsets = {
        "verb": [["purchase", "buy"]],
        "noun": [["money", "cash", "hard_cash"], ["card", "bank_card"]],
        "adj": [["big(a)", "large"]],
        "adv": [],
    }
    for pos, sets in synsets.items():
        header = "  1 This software and database is being provided to you, the LICENSEE\n"
        data, index = header, header
        letter = pos[0] if pos != "adj" else "a"
        entries: dict[str, list[int]] = {}
        for words in sets:
            offset = len(data.encode())
            listed = " ".join(f"{w} 0" for w in words)
            data += f"{offset:08d} 40 {letter} {len(words):02x} {listed} 000 | a gloss\n"
            for word in words:
                entries.setdefault(word.split("(")[0], []).append(offset)
        for lemma, offsets in sorted(entries.items()):
            shown = " ".join(f"{o:08d}" for o in offsets)
            index += f"{lemma} {letter} {len(offsets)} 1 @ {len(offsets)} 0 {shown}\n"
        (folder / f"data.{pos}").write_text(data)
        (folder / f"index.{pos}").write_text(index)
    return folder


def test_wordnet_reader_on_a_fake_database(tmp_path: Path, monkeypatch) -> None:
    folder = write_fake_wordnet(tmp_path)
    monkeypatch.setenv("WNSEARCHDIR", str(folder))
    assert lexicon.wordnet_folder() == folder
    wordnet = lexicon.get_lexicon("auto")
    assert wordnet.name == "wordnet"
    assert wordnet.synonyms("buy") == ("purchase",)
    assert wordnet.synonyms("money") == ("cash", "hard cash")
    assert wordnet.synonyms("big") == ("large",)
    assert wordnet.synonyms("Hard cash") == ("money", "cash")
    assert wordnet.synonyms("unknown") == ()
    assert lexicon.load_wordnet(folder) is wordnet  # loaded once per process


def test_unknown_generator_names_the_closest() -> None:
    with pytest.raises(UnknownGenerator, match="Did you mean 'augment'"):
        get_generator("augmnet")


def test_filters_drop_exact_near_duplicates_and_out_of_bounds() -> None:
    originals = [Example("how do I top up my card", "top_up")]
    new = [
        Example("How do I top-up my card?", "top_up"),  # exact after normalising
        Example("how do i top up my new card", "top_up"),
        Example("how do i top up my new cards", "top_up"),  # near the previous one
        Example("How do I top up my new card", "other"),  # a kept text, under another label
        Example("top", "top_up"),  # too short
        Example("can I load money onto the card", "top_up"),
    ]
    filtered = filter_generated(originals, new, FilterBounds(min_words=2, near_duplicate=0.8))
    assert [e.text for e in filtered.kept] == [
        "how do i top up my new card",
        "can I load money onto the card",
    ]
    assert filtered.dropped == {"duplicate": 2, "near_duplicate": 1, "length": 1}
