import pytest

from intently.data import Example, Finding, Severity, Source, clean_examples, normalize_text


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ｈｅｌｌｏ　ｗｏｒｌｄ", "hello world"),  # full-width letters and space (NFKC)
        ("ﬁle ①", "file 1"),  # ligature and circled digit (NFKC)
        ("a\x00b\x07c", "a b c"),  # control characters
        ("  hi\t\n  there \r\n", "hi there"),  # whitespace collapsed and stripped
        ("caf\u0065\u0301", "café"),  # combining accent composed
        ("\x00 \t", ""),
    ],
)
def test_normalize_text(raw, expected):
    assert normalize_text(raw) == expected


def test_clean_text_is_normalised():
    result = clean_examples([Example("  ｈｉ   there\t", "greet")])
    assert [e.text for e in result.examples] == ["hi there"]
    assert result.findings == ()


def test_empty_texts_are_dropped_with_a_finding():
    result = clean_examples(
        [Example("hi", "greet"), Example(" \t ", "greet"), Example("\x00", "bye")]
    )
    assert [e.text for e in result.examples] == ["hi"]
    assert result.findings == (
        Finding(Severity.WARNING, "empty_text", "2 empty text(s) dropped", count=2),
    )


def test_over_long_texts_are_dropped_with_a_finding():
    long = "x" * 11
    result = clean_examples(
        [Example("y" * 10, "a"), Example(long, "a")],
        max_chars=10,
    )
    assert [e.text for e in result.examples] == ["y" * 10]
    assert result.findings == (
        Finding(
            Severity.WARNING,
            "text_too_long",
            "1 text(s) longer than 10 characters dropped",
            count=1,
            samples=(long + "…",),
        ),
    )


def test_exact_duplicates_keep_the_highest_weight():
    result = clean_examples(
        [
            Example("hi", "greet", Source.TEMPLATE),
            Example("hi  ", "greet", Source.DEFINITION, agent_id="first"),
            Example("bye", "bye"),
            Example(" hi", "greet", Source.DEFINITION, agent_id="second"),
        ]
    )
    assert [(e.text, e.label, e.weight, e.agent_id) for e in result.examples] == [
        ("hi", "greet", 1.0, "first"),  # the first copy among the heaviest
        ("bye", "bye", 1.0, None),
    ]
    assert result.findings == (
        Finding(Severity.INFO, "duplicate", "2 exact duplicate(s) merged", count=2),
    )


def test_duplicates_are_found_regardless_of_case():
    result = clean_examples([Example("Hello", "greet"), Example("hELLO", "greet", weight=3.0)])
    assert [(e.text, e.weight) for e in result.examples] == [("hELLO", 3.0)]
    assert [f.code for f in result.findings] == ["duplicate"]


def test_conflict_goes_to_the_more_trusted_source():
    result = clean_examples(
        [
            Example("cancel it", "cancel_order", Source.TEMPLATE),
            Example("Cancel it", "refund", Source.INTERACTION_CORRECTION),
            Example("thanks", "thanks"),
        ]
    )
    assert [(e.text, e.label, e.source) for e in result.examples] == [
        ("Cancel it", "refund", Source.INTERACTION_CORRECTION),
        ("thanks", "thanks", Source.IMPORTED),
    ]
    assert result.findings == (
        Finding(
            Severity.WARNING,
            "conflict",
            "'cancel it' is labeled cancel_order, refund; kept 'refund' (most trusted source)",
            label="cancel_order",
            samples=("cancel it",),
        ),
    )


def test_tied_conflict_drops_every_copy():
    result = clean_examples(
        [
            Example("ok", "affirm", Source.DEFINITION),
            Example("ok", "thanks", Source.DEFINITION),
            Example("ok", "affirm", Source.VARIATION),
            Example("yes", "affirm"),
        ]
    )
    assert [e.text for e in result.examples] == ["yes"]
    assert result.findings == (
        Finding(
            Severity.WARNING,
            "conflict",
            "'ok' is labeled affirm, thanks; dropped all",
            label="affirm",
            samples=("ok",),
        ),
    )


def test_inputs_are_not_mutated():
    examples = [Example("  Hi  ", "greet"), Example("hi", "greet", weight=2.0), Example("", "x")]
    before = list(examples)

    result = clean_examples(examples)

    assert examples == before
    assert examples[0].text == "  Hi  "
    assert isinstance(result.examples, tuple)
    assert isinstance(result.findings, tuple)
    assert result.examples == (Example("hi", "greet", weight=2.0),)


def test_accepts_any_iterable():
    result = clean_examples(Example(text, "a") for text in ("one", "two"))
    assert [e.text for e in result.examples] == ["one", "two"]
