"""A small client for OpenAI-compatible chat endpoints: retries, caps and a prompt cache.

Speaks ``POST {base_url}/chat/completions`` with httpx (no ``openai`` package at run time), so
it works with OpenAI, Azure-style gateways, vLLM, Ollama, llama.cpp or LiteLLM alike. The key
comes from an environment variable (none is sent when it is unset: local servers need none).

Every answer goes through the caller's ``validate`` function. A timeout, a connection error,
HTTP 429 or 5xx, a body that is not a chat completion, or an answer ``validate`` rejects is
retried with exponential backoff (``Retry-After`` honoured on 429); after ``max_retries``
retries the job stops with an :class:`~intently.errors.LLMError` listing each attempt's
failure. Other 4xx answers (bad key, unknown model) are not retried.

Caps (:class:`Caps`) bound a job's cost: HTTP requests, tokens as reported by the endpoint's
``usage``, and examples produced (counted by the caller). Reaching one raises
:class:`~intently.errors.LLMBudgetExceeded` before the next request; answers already received
are kept (and cached). Cached answers cost nothing and count against no cap.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Self, TypeVar

import httpx

from intently.curation.llm_cache import ResponseCache, cache_key
from intently.errors import LLMBudgetExceeded, LLMConfigError, LLMError

T = TypeVar("T")
Message = Mapping[str, str]

DEFAULT_KEY_ENV = "OPENAI_API_KEY"


@dataclass(frozen=True)
class Endpoint:
    """Where and how to ask. ``base_url`` ends before ``/chat/completions`` (e.g.
    ``http://localhost:8000/v1``)."""

    base_url: str
    model: str
    api_key_env: str = DEFAULT_KEY_ENV
    timeout_s: float = 30.0
    max_retries: int = 3
    backoff_s: float = 1.0
    max_backoff_s: float = 30.0

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise LLMConfigError(
                f"the LLM base URL must start with http:// or https://; got {self.base_url!r}.",
                hint="pass --base-url (or the generator's base_url), e.g. "
                "http://localhost:8000/v1.",
            )
        if not self.model.strip():
            raise LLMConfigError("no LLM model name was given.", hint="pass --model.")
        if self.timeout_s <= 0 or self.max_retries < 0 or self.backoff_s < 0:
            raise LLMConfigError(
                "timeout_s must be positive, max_retries and backoff_s not negative; got "
                f"{self.timeout_s}, {self.max_retries}, {self.backoff_s}."
            )

    @property
    def url(self) -> str:
        return self.base_url.rstrip("/") + "/chat/completions"


@dataclass(frozen=True)
class Caps:
    """Upper bounds of one job; None means no bound."""

    max_requests: int | None = None
    max_tokens: int | None = None
    max_examples: int | None = None


@dataclass
class Usage:
    """What a job has spent so far (mutable: the client and its caller add to it)."""

    requests: int = 0
    """HTTP requests sent, retries included."""
    cached: int = 0
    """Answers served from the cache (free)."""
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    examples: int = 0
    """Examples produced by the caller (generated texts, labeled texts)."""
    failures: dict[str, int] = field(default_factory=dict)
    """Failed attempts by reason (timeout, http_500, invalid_json, ...)."""

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "cached": self.cached,
            "retries": self.retries,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "tokens": self.tokens,
            "examples": self.examples,
            "failures": dict(sorted(self.failures.items())),
        }


class _Retryable(Exception):
    """One failed attempt worth retrying; ``reason`` is its short name in ``Usage.failures``."""

    def __init__(self, reason: str, detail: str, *, wait: float | None = None):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.wait = wait


class ChatClient:
    """Asks an :class:`Endpoint`, validating, retrying, capping and caching.

    ``transport`` (an httpx transport) and ``sleep`` are injectable for tests.
    """

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        cache: ResponseCache | None = None,
        caps: Caps = Caps(),
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.endpoint = endpoint
        self.cache = cache if cache is not None else ResponseCache()
        self.caps = caps
        self.usage = Usage()
        self._sleep = sleep
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(endpoint.api_key_env, "")
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self._http = httpx.Client(timeout=endpoint.timeout_s, headers=headers, transport=transport)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def check_caps(self) -> None:
        """Raise LLMBudgetExceeded when a cap is already reached."""
        caps, usage = self.caps, self.usage
        for name, cap, spent in (
            ("max_requests", caps.max_requests, usage.requests),
            ("max_tokens", caps.max_tokens, usage.tokens),
            ("max_examples", caps.max_examples, usage.examples),
        ):
            if cap is not None and spent >= cap:
                raise LLMBudgetExceeded(
                    f"the LLM job reached its {name} cap ({spent:,} of {cap:,}); "
                    f"{usage.requests} request(s), {usage.tokens:,} token(s) spent.",
                    hint=f"raise {name} to go on; answers received so far are cached.",
                )

    def ask(
        self,
        messages: Sequence[Message],
        validate: Callable[[str], T],
        *,
        params: Mapping[str, Any] | None = None,
        lenient: Callable[[str], T] | None = None,
    ) -> T:
        """The validated answer to ``messages``; ``params`` go into the request body
        (temperature, max_tokens, seed...) and into the cache key.

        ``validate`` turns the answer's text into the caller's value or raises ValueError
        with the reason (the attempt is then retried). When the last attempt brought a
        well-formed completion that ``validate`` still rejects, ``lenient`` (if given) makes
        what it can of it instead of failing: a labeler keeps the valid labels of a batch and
        reports the rest.
        """
        params = dict(params or {})
        parsers = (validate,) if lenient is None else (validate, lenient)
        key = cache_key(self.endpoint.model, messages, params)
        cached = self.cache.get(key)
        if cached is not None:
            found = _first_parse(cached.content, parsers)
            if found is not None:  # else the validator changed since: ask again
                self.usage.cached += 1
                return found[0]
        body = {"model": self.endpoint.model, "messages": list(messages), **params}
        problems: list[str] = []
        for attempt in range(self.endpoint.max_retries + 1):
            self.check_caps()
            try:
                content, spent = self._post(body)
            except _Retryable as failed:
                self._failed(failed, attempt, problems)
                continue
            try:
                value = self._validated(content, validate)
            except _Retryable as failed:
                last = attempt == self.endpoint.max_retries
                found = _first_parse(content, parsers[1:]) if last else None
                if found is None:
                    self._failed(failed, attempt, problems)
                    continue
                value = found[0]
            self.cache.put(key, content, spent)
            return value
        raise LLMError(
            f"{self.endpoint.url} (model {self.endpoint.model}) gave no usable answer in "
            f"{self.endpoint.max_retries + 1} attempt(s): {'; '.join(problems)}.",
            hint="check that the server is up and the model answers in the requested format; "
            "raise max_retries or timeout_s for a slow server.",
        )

    def _failed(self, failed: _Retryable, attempt: int, problems: list[str]) -> None:
        """Count a failed attempt and wait before the next one (if any)."""
        self.usage.failures[failed.reason] = self.usage.failures.get(failed.reason, 0) + 1
        problems.append(f"attempt {attempt + 1}: {failed.detail}")
        if attempt < self.endpoint.max_retries:
            self.usage.retries += 1
            self._sleep(self._backoff(attempt, failed.wait))

    def _backoff(self, attempt: int, wait: float | None) -> float:
        delay = self.endpoint.backoff_s * (2**attempt) if wait is None else wait
        return min(delay, self.endpoint.max_backoff_s)

    def _post(self, body: Mapping[str, Any]) -> tuple[str, dict[str, int]]:
        """One request: the answer's text and its token usage, or _Retryable / LLMError."""
        self.usage.requests += 1
        try:
            response = self._http.post(self.endpoint.url, json=body)
        except httpx.TimeoutException:
            raise _Retryable("timeout", f"no answer within {self.endpoint.timeout_s:g} s") from None
        except httpx.TransportError as exc:
            raise _Retryable("connection", f"cannot reach the server ({exc})") from None
        status = response.status_code
        if status == 429 or status >= 500:
            wait = _retry_after(response) if status == 429 else None
            detail = f"HTTP {status} {_snippet(response.text)}"
            raise _Retryable(f"http_{status}", detail, wait=wait)
        if status >= 400:
            hint = (
                f"set {self.endpoint.api_key_env} to a valid key."
                if status in (401, 403)
                else "check the base URL and the model name."
            )
            raise LLMError(
                f"{self.endpoint.url} refused the request: HTTP {status} "
                f"{_snippet(response.text)}.",
                hint=hint,
            )
        try:
            payload = response.json()
            content = payload["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise _Retryable(
                "invalid_response", f"not a chat completion: {_snippet(response.text)}"
            ) from None
        if not isinstance(content, str):
            raise _Retryable("invalid_response", "the message has no text content")
        usage = payload.get("usage") if isinstance(payload, dict) else None
        counted = {
            name: int(usage.get(name) or 0)
            for name in ("prompt_tokens", "completion_tokens")
            if isinstance(usage, dict)
        }
        self.usage.prompt_tokens += counted.get("prompt_tokens", 0)
        self.usage.completion_tokens += counted.get("completion_tokens", 0)
        return content, counted

    @staticmethod
    def _validated(content: str, validate: Callable[[str], T]) -> T:
        try:
            return validate(content)
        except ValueError as exc:
            reason = "invalid_json" if isinstance(exc, json.JSONDecodeError) else "invalid_answer"
            raise _Retryable(reason, f"{exc} (answer: {_snippet(content)})") from None


def _first_parse(content: str, parsers: Sequence[Callable[[str], T]]) -> tuple[T] | None:
    """``(value,)`` from the first parser that accepts ``content``; None when none does."""
    for parse in parsers:
        try:
            return (parse(content),)
        except ValueError:
            continue
    return None


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return max(0.0, float(response.headers.get("retry-after", "")))
    except ValueError:
        return None


def _snippet(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= limit else text[:limit] + "…")


def parse_json_answer(content: str) -> Any:
    """The JSON value of an answer, tolerating a Markdown code fence around it."""
    text = content.strip()
    if text.startswith("```"):
        text = text.split("\n", 1)[1] if "\n" in text else ""
        text = text.rsplit("```", 1)[0]
    return json.loads(text)
