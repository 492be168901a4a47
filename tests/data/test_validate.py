import pytest

from intently.data import Example, Finding, Severity, validate_examples


def make(**counts: int) -> list[Example]:
    return [Example(f"{label} {i}", label) for label, n in counts.items() for i in range(n)]


def validate(examples, defined=None, fallback="oos", cleaning=()):
    return validate_examples(
        "intent", examples, defined_labels=defined, fallback_label=fallback, cleaning=cleaning
    )


def codes(report) -> list[tuple[str, Severity, str | None]]:
    return [(f.code, f.severity, f.label) for f in report.findings]


def test_healthy_data_has_no_findings():
    report = validate(make(a=10, b=12), defined=("a", "b"))
    assert report.task == "intent"
    assert report.findings == ()
    assert report.counts == {"a": 10, "b": 12}
    assert report.imbalance == 1.2
    assert report.ok()
    assert report.ok(strict=True)


def test_empty_dataset():
    report = validate([])
    assert report.findings == (
        Finding(Severity.ERROR, "empty_dataset", "task 'intent' has no examples"),
    )
    assert not report.ok()
    assert report.imbalance == float("inf")


def test_empty_dataset_with_defined_labels():
    report = validate([], defined=("a", "b"))
    assert codes(report) == [
        ("empty_dataset", Severity.ERROR, None),
        ("label_without_examples", Severity.ERROR, "a"),
        ("label_without_examples", Severity.ERROR, "b"),
    ]


def test_undefined_label():
    report = validate(make(a=10, b=10, c=10), defined=("a", "b"))
    assert report.findings == (
        Finding(
            Severity.ERROR,
            "undefined_label",
            "10 example(s) use undefined label 'c'",
            label="c",
            count=10,
        ),
    )


def test_any_label_goes_when_none_are_defined():
    assert validate(make(a=10, b=10, c=10)).findings == ()


def test_fallback_label_is_allowed_without_being_defined():
    report = validate(make(a=10, b=10, oos=10), defined=("a", "b"), fallback="oos")
    assert report.findings == ()
    report = validate(make(a=10, b=10, oos=10), defined=("a", "b"), fallback="none")
    assert codes(report) == [("undefined_label", Severity.ERROR, "oos")]


def test_label_without_examples():
    report = validate(make(a=10, b=10), defined=("a", "b", "c"))
    assert report.findings == (
        Finding(
            Severity.ERROR,
            "label_without_examples",
            "'c' is defined but has no examples",
            label="c",
            count=0,
        ),
    )


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (
            1,
            Finding(
                Severity.ERROR,
                "too_few_examples",
                "'b' has 1 example (at least 2 needed)",
                label="b",
                count=1,
            ),
        ),
        (
            2,
            Finding(
                Severity.WARNING,
                "few_examples",
                "'b' has 2 examples (10+ recommended)",
                label="b",
                count=2,
            ),
        ),
        (
            9,
            Finding(
                Severity.WARNING,
                "few_examples",
                "'b' has 9 examples (10+ recommended)",
                label="b",
                count=9,
            ),
        ),
        (10, None),
    ],
)
def test_example_count_thresholds(n, expected):
    report = validate(make(a=10, b=n))
    assert report.findings == ((expected,) if expected else ())


def test_single_label():
    report = validate(make(a=12))
    assert report.findings == (
        Finding(Severity.ERROR, "single_label", "only one label ('a') — nothing to classify"),
    )


def test_imbalance_warns_above_ten():
    report = validate(make(a=110, b=10))
    assert report.imbalance == 11.0
    assert report.findings == (
        Finding(Severity.WARNING, "imbalance", "imbalance ratio 11.0 ('a' 110 vs 'b' 10)"),
    )
    assert validate(make(a=100, b=10)).findings == ()


def test_strict_fails_on_warnings_only():
    warned = validate(make(a=10, b=5))
    assert [f.code for f in warned.warnings] == ["few_examples"]
    assert warned.errors == ()
    assert warned.ok()
    assert not warned.ok(strict=True)

    info = Finding(Severity.INFO, "duplicate", "3 exact duplicate(s) merged", count=3)
    informed = validate(make(a=10, b=10), cleaning=(info,))
    assert informed.findings == (info,)
    assert informed.ok(strict=True)


def test_cleaning_findings_come_first():
    cleaning = (Finding(Severity.WARNING, "empty_text", "1 empty text(s) dropped"),)
    report = validate(make(a=1, b=10), cleaning=cleaning)
    assert [f.code for f in report.findings] == ["empty_text", "too_few_examples"]
    assert [f.code for f in report.errors] == ["too_few_examples"]
    assert [f.code for f in report.warnings] == ["empty_text"]
