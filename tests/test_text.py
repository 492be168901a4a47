import random

import pytest

from intently.text import normalize_plain_batch, normalize_text

TRICKY = [
    "hello world",
    "  spaced \t out\n",
    "tab\there",
    "bell\x07inside",
    "nul\x00and\x1bescape",
    "delete\x7fme",
    "file separators\x1c\x1d\x1e\x1f",
    "vertical\x0bform\x0cfeed\r\n",
    "ｆｕｌｌ ｗｉｄｔｈ",
    "caf\u0065\u0301",
    "zero\u200bwidth",
    "",
    "   ",
]


def test_plain_texts_are_normalised_exactly_like_one_by_one():
    normalised = normalize_plain_batch(TRICKY)
    assert normalised is not None
    for text, batch_form in zip(TRICKY, normalised, strict=True):
        if batch_form is not None:
            assert batch_form == normalize_text(text), repr(text)


def test_only_ascii_texts_without_control_characters_take_the_batch_path():
    normalised = normalize_plain_batch(TRICKY)
    assert normalised is not None
    handed_back = [text for text, form in zip(TRICKY, normalised, strict=True) if form is None]
    assert handed_back == [
        "bell\x07inside",
        "nul\x00and\x1bescape",
        "delete\x7fme",
        "ｆｕｌｌ ｗｉｄｔｈ",
        "caf\u0065\u0301",
        "zero\u200bwidth",
    ]


def test_random_ascii_batches_agree_with_normalize_text():
    rng = random.Random(7)
    alphabet = [chr(c) for c in range(128)]
    texts = ["".join(rng.choices(alphabet, k=rng.randint(0, 30))) for _ in range(300)]
    normalised = normalize_plain_batch(texts)
    assert normalised is not None
    assert any(form is not None for form in normalised)
    for text, form in zip(texts, normalised, strict=True):
        assert form is None or form == normalize_text(text)


@pytest.mark.parametrize("odd", [None, 3, b"bytes"])
def test_a_batch_holding_a_non_string_is_handed_back_whole(odd):
    assert normalize_plain_batch(["fine", odd]) is None
