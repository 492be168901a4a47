"""Text normalisation shared by training and serving: the one form a model ever sees.

A leaf module (standard library only), so that the runtime can import it without the data
layer.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from intently.errors import InputError

_ASCII_CONTROLS = {code: " " for code in (*range(32), 127)}
_KEPT_BY_SPLIT = re.compile("[\x00-\x08\x0e-\x1b\x7f]")
"""The ASCII control characters that ``str.split()`` does not treat as whitespace."""


def normalize_text(text: str, *, max_chars: int | None = None) -> str:
    """NFKC, control and format characters replaced by spaces, whitespace collapsed, stripped.

    Training and prediction both call this, so a model sees the same form of a text either way.
    With ``max_chars``, a text whose NFKC form is longer is refused (InputError) before any
    further work: NFKC can expand a character up to 18-fold (U+FDFA), so a limit checked on
    the raw text alone does not bound the work.
    """
    if text.isascii():  # fast path for the common case: NFKC leaves ASCII unchanged
        return " ".join(text.translate(_ASCII_CONTROLS).split())
    text = unicodedata.normalize("NFKC", text)
    if max_chars is not None and len(text) > max_chars:
        raise InputError(
            f"text has {len(text):,} characters after Unicode (NFKC) normalisation; the limit "
            f"is {max_chars:,}.",
            hint="send a shorter text (some characters, such as ligatures, expand).",
        )
    text = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in text)
    return " ".join(text.split())


def normalize_plain_batch(texts: Sequence[str]) -> list[str | None] | None:
    """:func:`normalize_text` of the plain texts of a batch — ASCII, without control
    characters other than whitespace — and None in place of the others, which the caller
    normalises one by one; None when some text is not a string.

    One C-level pass over the joined batch and a comprehension replace a function call per
    text: on short texts that is most of normalisation's cost.
    """
    try:
        joined = "".join(texts)
    except TypeError:  # not all strings: the caller reports which
        return None
    if _KEPT_BY_SPLIT.search(joined):
        return [" ".join(text.split()) if _is_plain(text) else None for text in texts]
    return [" ".join(text.split()) if text.isascii() else None for text in texts]


def _is_plain(text: str) -> bool:
    return text.isascii() and not _KEPT_BY_SPLIT.search(text)
