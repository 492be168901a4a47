import pytest

from intently.db.redaction import Redactor, luhn_ok
from intently.errors import LearningConfigError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail me at ana.lopez+shop@mail.example.co.uk", "mail me at <EMAIL>"),
        ("card 4111 1111 1111 1111 was charged", "card <CARD> was charged"),
        ("card 4111-1111-1111-1111", "card <CARD>"),
        ("call +1 (415) 555-0100 now", "call <PHONE> now"),
        ("call 020 7946 0958", "call <PHONE>"),
        ("order 1234 of 2 items for 35.50", "order 1234 of 2 items for 35.50"),
        ("order 4111111111111112 late", "order 4111111111111112 late"),  # not Luhn, too long
    ],
)
def test_default_redaction(text, expected):
    assert Redactor.default()(text) == expected


def test_extra_patterns_run_after_the_built_in_ones():
    redact = Redactor.default({"<ORDER>": r"ORD-\d{6}", "<IBAN>": r"\bDE\d{20}\b"})
    assert redact("ORD-123456 paid from DE89370400440532013000") == "<ORDER> paid from <IBAN>"


def test_a_bad_pattern_names_its_placeholder():
    with pytest.raises(LearningConfigError, match=r"<ORDER>.*INTENTLY_REDACT_PATTERNS"):
        Redactor.default({"<ORDER>": "ORD-(\\d+"})


def test_luhn():
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
