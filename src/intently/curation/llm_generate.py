"""The ``llm`` generator: synthetic examples and paraphrases from an OpenAI-compatible endpoint.

In ``synthetic`` mode each intent gets ``count`` new user messages, asked ``per_request`` at a
time from a prompt with the intent's name, description and a few of its examples (drawn with
the generator's seeded ``rng``, so each request shows different ones and asks for a different
"set"); in ``paraphrase`` mode each example gets ``per_example`` rewordings. Answers must be a
JSON list of strings: texts outside the length bounds, repeats and copies of the inputs are
dropped, and an answer with nothing usable is retried (see :mod:`intently.curation.llm_client`).

Answers are cached by prompt under the project (``cache``), so a rerun sends no request and
returns the same examples. A cap (``max_requests``, ``max_tokens``, ``max_examples``) stops
the generator early with what it has; ``stopped`` says why. The quality of what comes back
depends on the model the endpoint serves.

Configured in the project file::

    generation:
      - name: llm
        params: {base_url: "http://localhost:8000/v1", model: "qwen2.5-7b-instruct", count: 20}
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from typing import Literal

import numpy as np
from pydantic import Field

from intently.curation.llm_cache import ResponseCache
from intently.curation.llm_client import (
    DEFAULT_KEY_ENV,
    Caps,
    ChatClient,
    Endpoint,
    Message,
    Usage,
    parse_json_answer,
)
from intently.data.example import Example, Source
from intently.errors import LLMBudgetExceeded, LLMConfigError
from intently.generate.base import GenerationContext, GeneratorParams, GeneratorType, derived

BASE_URL_ENV = "INTENTLY_LLM_BASE_URL"
MODEL_ENV = "INTENTLY_LLM_MODEL"
DEFAULT_CACHE = ".intently/llm_cache.jsonl"

SYSTEM_PROMPT = (
    "You write realistic messages that users send to a customer assistant, to train an intent "
    "classifier. Answer with a JSON array of strings and nothing else."
)


class LlmParams(GeneratorParams):
    base_url: str | None = None
    """Endpoint up to ``/chat/completions``; default: $INTENTLY_LLM_BASE_URL."""
    model: str | None = None
    """Model name; default: $INTENTLY_LLM_MODEL."""
    api_key_env: str = DEFAULT_KEY_ENV
    mode: Literal["synthetic", "paraphrase"] = "synthetic"
    count: int = Field(default=20, ge=1, le=10_000)
    """New texts per intent (synthetic mode)."""
    per_example: int = Field(default=3, ge=1, le=50)
    """Paraphrases per example (paraphrase mode)."""
    per_request: int = Field(default=10, ge=1, le=100)
    shots: int = Field(default=5, ge=0, le=50)
    """Examples of the intent shown in each synthetic prompt."""
    temperature: float = Field(default=0.9, ge=0, le=2)
    max_tokens_per_request: int | None = Field(default=1024, ge=1)
    min_chars: int = Field(default=3, ge=1)
    max_chars: int = Field(default=200, ge=1)
    timeout_s: float = Field(default=60.0, gt=0)
    max_retries: int = Field(default=3, ge=0)
    backoff_s: float = Field(default=1.0, ge=0)
    max_requests: int | None = Field(default=500, ge=1)
    max_tokens: int | None = Field(default=None, ge=1)
    """Cap on prompt + completion tokens, as reported by the endpoint's ``usage``."""
    max_examples: int | None = Field(default=None, ge=1)
    cache: str | None = DEFAULT_CACHE
    """Cache file, relative to the project file's folder; null: no cache."""


def endpoint_from(
    base_url: str | None,
    model: str | None,
    *,
    api_key_env: str = DEFAULT_KEY_ENV,
    timeout_s: float = 60.0,
    max_retries: int = 3,
    backoff_s: float = 1.0,
) -> Endpoint:
    """An Endpoint from explicit settings, falling back on $INTENTLY_LLM_BASE_URL / _MODEL."""
    url = base_url or os.environ.get(BASE_URL_ENV, "")
    name = model or os.environ.get(MODEL_ENV, "")
    if not url or not name:
        missing = "base URL" if not url else "model"
        raise LLMConfigError(
            f"no LLM {missing} is configured.",
            hint=f"set base_url and model (flags --base-url/--model, or ${BASE_URL_ENV} and "
            f"${MODEL_ENV}).",
        )
    return Endpoint(
        url,
        name,
        api_key_env=api_key_env,
        timeout_s=timeout_s,
        max_retries=max_retries,
        backoff_s=backoff_s,
    )


def text_list(
    content: str, *, min_chars: int, max_chars: int, exclude: frozenset[str] = frozenset()
) -> list[str]:
    """The usable texts of an answer: a JSON list of strings, stripped, within the length
    bounds, without repeats or any text in ``exclude`` (casefolded). ValueError when none."""
    value = parse_json_answer(content)
    if isinstance(value, dict) and len(value) == 1:  # {"queries": [...]}
        value = next(iter(value.values()))
    if not isinstance(value, list):
        raise ValueError(f"the answer is a JSON {type(value).__name__}, not a list of strings")
    kept: list[str] = []
    seen = set(exclude)
    for item in value:
        if not isinstance(item, str):
            continue
        text = " ".join(item.split())
        if min_chars <= len(text) <= max_chars and text.casefold() not in seen:
            seen.add(text.casefold())
            kept.append(text)
    if not kept:
        raise ValueError(f"no new text of {min_chars}-{max_chars} characters in the answer's list")
    return kept


def synthetic_messages(
    intent: str, description: str, shots: Sequence[str], n: int, batch: int
) -> list[Message]:
    lines = [f"Intent: {intent}"]
    if description.strip():
        lines.append(f"Description: {description.strip()}")
    if shots:
        lines.append(
            "Examples:\n" + "\n".join(f"- {json.dumps(s, ensure_ascii=False)}" for s in shots)
        )
    lines.append(
        f"Write {n} new, varied user messages with this intent (set {batch + 1}): vary wording, "
        "length, tone, formality and detail; some short, some with context; no numbering, "
        f"no copies of the examples. Answer with a JSON array of {n} strings."
    )
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": "\n".join(lines)},
    ]


def paraphrase_messages(text: str, intent: str, description: str, n: int) -> list[Message]:
    about = f"{intent} ({description.strip()})" if description.strip() else intent
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {
            "role": "user",
            "content": f"User message with the intent {about}:\n"
            f"{json.dumps(text, ensure_ascii=False)}\n"
            f"Write {n} paraphrases that keep its meaning and intent, each worded differently. "
            f"Answer with a JSON array of {n} strings.",
        },
    ]


class LlmGenerator:
    """Builds its client on each ``generate`` call; ``usage`` and ``stopped`` describe the last."""

    def __init__(self, params: LlmParams, context: GenerationContext):
        self.params = params
        self.context = context
        self.endpoint = endpoint_from(
            params.base_url,
            params.model,
            api_key_env=params.api_key_env,
            timeout_s=params.timeout_s,
            max_retries=params.max_retries,
            backoff_s=params.backoff_s,
        )
        self.source = Source.SYNTHETIC if params.mode == "synthetic" else Source.PARAPHRASE
        self.usage = Usage()
        self.stopped: str | None = None

    def _client(self) -> ChatClient:
        p = self.params
        cache = ResponseCache(None if p.cache is None else self.context.project.resolve(p.cache))
        caps = Caps(
            max_requests=p.max_requests, max_tokens=p.max_tokens, max_examples=p.max_examples
        )
        return ChatClient(self.endpoint, cache=cache, caps=caps)

    def _request_params(self) -> dict[str, object]:
        params: dict[str, object] = {"temperature": self.params.temperature}
        if self.params.max_tokens_per_request is not None:
            params["max_tokens"] = self.params.max_tokens_per_request
        return params

    def _description(self, label: str) -> str:
        intent = self.context.project.intents.get(label)
        return intent.description if intent is not None else ""

    def generate(self, examples: Sequence[Example], rng: np.random.Generator) -> list[Example]:
        self.stopped = None
        out: list[Example] = []
        with self._client() as client:
            self.usage = client.usage
            try:
                if self.params.mode == "synthetic":
                    self._synthetic(client, examples, rng, out)
                else:
                    self._paraphrases(client, examples, out)
            except LLMBudgetExceeded as capped:
                self.stopped = capped.message  # a cap keeps what was made (and cached) so far
        return out

    def _ask(
        self, client: ChatClient, messages: list[Message], exclude: set[str], n: int
    ) -> list[str]:
        p = self.params
        texts = client.ask(
            messages,
            lambda content: text_list(
                content, min_chars=p.min_chars, max_chars=p.max_chars, exclude=frozenset(exclude)
            ),
            params=self._request_params(),
        )[:n]
        if p.max_examples is not None:
            texts = texts[: max(0, p.max_examples - client.usage.examples)]
        client.usage.examples += len(texts)
        exclude.update(t.casefold() for t in texts)
        return texts

    def _synthetic(
        self,
        client: ChatClient,
        examples: Sequence[Example],
        rng: np.random.Generator,
        out: list[Example],
    ) -> None:
        p = self.params
        by_label: dict[str, list[Example]] = {}
        for example in examples:
            by_label.setdefault(example.label, []).append(example)
        for label in sorted(by_label):
            members = by_label[label]
            seen = {e.text.casefold() for e in members}
            made = 0
            # Duplicates of earlier answers shrink a batch; allow twice the batches needed.
            for batch in range(2 * math.ceil(p.count / p.per_request)):
                if made >= p.count:
                    break
                chosen = rng.choice(len(members), size=min(p.shots, len(members)), replace=False)
                shots = [members[i] for i in sorted(chosen.tolist())] or members[:1]
                n = min(p.per_request, p.count - made)
                messages = synthetic_messages(
                    label, self._description(label), [e.text for e in shots], n, batch
                )
                for text in self._ask(client, messages, seen, n):
                    out.append(
                        derived(shots[0], text, self.source, "llm", model=self.endpoint.model)
                    )
                    made += 1

    def _paraphrases(
        self, client: ChatClient, examples: Sequence[Example], out: list[Example]
    ) -> None:
        p = self.params
        seen = {e.text.casefold() for e in examples}
        for example in examples:
            messages = paraphrase_messages(
                example.text, example.label, self._description(example.label), p.per_example
            )
            for text in self._ask(client, messages, seen, p.per_example):
                out.append(derived(example, text, self.source, "llm", model=self.endpoint.model))


def _build(params: LlmParams, context: GenerationContext) -> LlmGenerator:
    if params.min_chars > params.max_chars:
        raise LLMConfigError(
            f"min_chars ({params.min_chars}) is larger than max_chars ({params.max_chars})."
        )
    return LlmGenerator(params, context)


GENERATORS: dict[str, GeneratorType] = {"llm": GeneratorType("llm", LlmParams, _build)}
