"""The prompt cache of LLM jobs: answers stored by a hash of model, messages and parameters.

One JSON object per line (``{"key": ..., "content": ..., "usage": {...}}``), appended as each
answer arrives: an interrupted job keeps every answer it paid for, and a rerun with the same
prompts sends no request at all, so generated data is reproducible. A damaged line (a crash in
the middle of a write) is skipped when the file is read; the last entry of a key wins.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from intently.errors import os_errors_as_storage_errors


def cache_key(model: str, messages: Sequence[Mapping[str, str]], params: Mapping[str, Any]) -> str:
    """SHA-256 of the request that matters for the answer (canonical JSON)."""
    canonical = json.dumps(
        {"model": model, "messages": list(messages), "params": dict(params)},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CachedAnswer:
    content: str
    usage: Mapping[str, int]


class ResponseCache:
    """Answers by :func:`cache_key`, read from and appended to ``path`` (None: memory only)."""

    def __init__(self, path: Path | None = None):
        self.path = path
        self._entries: dict[str, CachedAnswer] = {}
        self._torn = False
        """The file ends in the middle of a line: the next entry starts on a new one."""
        if path is not None and path.is_file():
            with os_errors_as_storage_errors(f"reading the LLM cache {path}"):
                text = path.read_text(encoding="utf-8")
            self._torn = bool(text) and not text.endswith("\n")
            for line in text.splitlines():
                try:
                    row = json.loads(line)
                    self._entries[row["key"]] = CachedAnswer(row["content"], row.get("usage", {}))
                except (ValueError, KeyError, TypeError):
                    continue  # a torn last line after a crash: that answer is asked again

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> CachedAnswer | None:
        return self._entries.get(key)

    def put(self, key: str, content: str, usage: Mapping[str, int]) -> None:
        self._entries[key] = CachedAnswer(content, dict(usage))
        if self.path is None:
            return
        row = json.dumps({"key": key, "content": content, "usage": dict(usage)}, ensure_ascii=False)
        with os_errors_as_storage_errors(f"writing the LLM cache {self.path}"):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(("\n" if self._torn else "") + row + "\n")
        self._torn = False
