"""Text normalisation shared by training and serving: the one form a model ever sees.

A leaf module (standard library only), so that the runtime can import it without the data
layer.
"""

from __future__ import annotations

import unicodedata

from intently.errors import InputError

_ASCII_CONTROLS = {code: " " for code in (*range(32), 127)}


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
