"""Text redaction before recording: emails, phone and card numbers become placeholders.

    redact = Redactor.default(extra={"<ORDER>": r"ORD-\\d{6}"})
    redact("mail ana@example.com or call +1 415 555 0100")
    # 'mail <EMAIL> or call <PHONE>'

Card numbers are 13-19 digits (spaces or dashes between groups allowed) that pass the Luhn
check, so order numbers and amounts stay readable; they are replaced before phone numbers,
which would otherwise swallow them. Extra patterns run after the built-in ones, in the order
given. Redaction runs in the recorder's flush thread, never on the request.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from intently.errors import LearningConfigError

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
CARD = re.compile(r"(?<![\w-])\d(?:[ -]?\d){12,18}(?![\w-])")
# 9-15 digits with an optional +country prefix and the usual separators
PHONE = re.compile(r"(?<![\w+])\+?\(?\d(?:[\s().-]{0,2}\d){8,14}(?!\w)")


def luhn_ok(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group())
    return "<CARD>" if luhn_ok(digits) else match.group()


@dataclass(frozen=True)
class Redactor:
    """Replaces each pattern's matches with its placeholder, in order."""

    rules: tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...]

    @classmethod
    def default(cls, extra: Mapping[str, str] | None = None) -> Redactor:
        """Emails, card numbers and phone numbers, then ``extra`` (placeholder → regex)."""
        rules: list[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]] = [
            (EMAIL, "<EMAIL>"),
            (CARD, _card),
            (PHONE, "<PHONE>"),
        ]
        for placeholder, pattern in (extra or {}).items():
            try:
                rules.append((re.compile(pattern), placeholder))
            except re.error as exc:
                raise LearningConfigError(
                    f"the redaction pattern for {placeholder} is not a regular expression: "
                    f"{pattern!r} ({exc}).",
                    hint='set INTENTLY_REDACT_PATTERNS to a JSON object like {"<ORDER>": '
                    '"ORD-\\\\d+"} (placeholder: Python regular expression).',
                ) from exc
        return cls(tuple(rules))

    def __call__(self, text: str) -> str:
        for pattern, replacement in self.rules:
            text = pattern.sub(replacement, text)
        return text
