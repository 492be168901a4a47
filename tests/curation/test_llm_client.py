"""The chat client against a real local HTTP server: retries, clear final errors, caps, cache."""

from __future__ import annotations

import json

import pytest

from fake_llm import FakeChatServer
from intently.curation.llm_cache import ResponseCache
from intently.curation.llm_client import Caps, ChatClient, Endpoint
from intently.curation.llm_generate import text_list
from intently.errors import LLMBudgetExceeded, LLMConfigError, LLMError

PROMPT = [{"role": "user", "content": "Intent: greeting\nWrite 3 new user messages."}]


def _texts(content: str) -> list[str]:
    return text_list(content, min_chars=3, max_chars=200)


def _client(server: FakeChatServer, sleeps: list[float] | None = None, **options) -> ChatClient:
    caps = options.pop("caps", Caps())
    cache = options.pop("cache", None)
    endpoint = Endpoint(
        server.base_url,
        "fake-model",
        timeout_s=options.pop("timeout_s", 0.25),
        max_retries=options.pop("max_retries", 3),
        backoff_s=0.5,
    )
    record = sleeps if sleeps is not None else []
    return ChatClient(endpoint, cache=cache, caps=caps, sleep=record.append)


@pytest.fixture
def server():
    with FakeChatServer(slow_s=1.0) as running:
        yield running


def test_timeout_500_and_invalid_json_are_retried_with_exponential_backoff(server):
    server.fail_next("timeout", "500", "invalid_json")
    sleeps: list[float] = []
    with _client(server, sleeps) as client:
        texts = client.ask(PROMPT, _texts)
    assert len(texts) == 3 and len(set(texts)) == 3
    assert len(server.requests) == 4
    assert client.usage.failures == {"timeout": 1, "http_500": 1, "invalid_json": 1}
    assert client.usage.retries == 3
    assert sleeps == [0.5, 1.0, 2.0]
    assert client.usage.prompt_tokens > 0 and client.usage.completion_tokens > 0


def test_the_last_failure_gives_a_clear_error_listing_every_attempt(server):
    server.fail_next("500", "not_chat", "invalid_json")
    with _client(server, max_retries=2) as client, pytest.raises(LLMError) as info:
        client.ask(PROMPT, _texts)
    message = str(info.value)
    assert info.value.code == "E230"
    assert "3 attempt(s)" in message and "fake-model" in message
    assert "attempt 1: HTTP 500" in message
    assert "attempt 2: not a chat completion" in message
    assert "attempt 3: Expecting value" in message
    assert len(server.requests) == 3


def test_a_refused_request_is_not_retried(server):
    endpoint = Endpoint(server.base_url + "/wrong", "fake-model", max_retries=3)
    with ChatClient(endpoint, sleep=lambda _: None) as client, pytest.raises(LLMError) as info:
        client.ask(PROMPT, _texts)
    assert "HTTP 404" in str(info.value) and "base URL" in str(info.value)
    assert len(server.requests) == 1


def test_an_answer_the_validator_rejects_is_retried(server):
    def needs_five(content: str) -> list[str]:
        texts = _texts(content)
        if len(texts) < 5:
            raise ValueError(f"{len(texts)} texts, 5 wanted")
        return texts

    with _client(server, max_retries=1) as client, pytest.raises(LLMError) as info:
        client.ask(PROMPT, needs_five)
    assert "3 texts, 5 wanted" in str(info.value)
    assert client.usage.failures == {"invalid_answer": 2}


def test_the_cache_makes_a_rerun_send_no_request_and_answer_the_same(server, tmp_path):
    path = tmp_path / "cache.jsonl"
    with _client(server, cache=ResponseCache(path)) as client:
        first = client.ask(PROMPT, _texts, params={"temperature": 0.9})
    assert len(server.requests) == 1
    with _client(server, cache=ResponseCache(path)) as client:
        again = client.ask(PROMPT, _texts, params={"temperature": 0.9})
        assert client.usage.requests == 0 and client.usage.cached == 1
    assert again == first and len(server.requests) == 1
    with _client(server, cache=ResponseCache(path)) as client:
        client.ask(PROMPT, _texts, params={"temperature": 0.5})  # other params: another key
    assert len(server.requests) == 2


def test_a_torn_cache_line_is_asked_again(server, tmp_path):
    path = tmp_path / "cache.jsonl"
    with _client(server, cache=ResponseCache(path)) as client:
        client.ask(PROMPT, _texts)
    path.write_text(path.read_text()[:-20], encoding="utf-8")  # a crash in mid-write
    assert len(ResponseCache(path)) == 0
    with _client(server, cache=ResponseCache(path)) as client:
        client.ask(PROMPT, _texts)
    assert len(server.requests) == 2
    assert len(ResponseCache(path)) == 1


def test_the_request_cap_stops_before_the_next_request(server):
    server.fail_next("500", "500", "500")
    with (
        _client(server, caps=Caps(max_requests=2)) as client,
        pytest.raises(LLMBudgetExceeded) as info,
    ):
        client.ask(PROMPT, _texts)
    assert "max_requests cap (2 of 2)" in str(info.value) and info.value.code == "E231"
    assert len(server.requests) == 2


def test_the_token_cap_counts_the_endpoints_usage(server):
    with _client(server, caps=Caps(max_tokens=1)) as client:
        client.ask(PROMPT, _texts)  # the first request may spend past the cap...
        with pytest.raises(LLMBudgetExceeded, match="max_tokens"):
            client.ask([{"role": "user", "content": "Write 2 new ones"}], _texts)
    assert len(server.requests) == 1  # ...but no request starts after it


def test_429_waits_as_long_as_retry_after_says(server):
    server.fail_next("429")
    sleeps: list[float] = []
    with _client(server, sleeps) as client:
        client.ask(PROMPT, _texts)
    assert client.usage.failures == {"http_429": 1} and len(sleeps) == 1


def test_the_key_comes_from_the_named_environment_variable(server, monkeypatch):
    monkeypatch.setenv("MY_LLM_KEY", "sk-test")
    endpoint = Endpoint(server.base_url, "fake-model", api_key_env="MY_LLM_KEY")
    with ChatClient(endpoint) as client:
        assert client._http.headers.get("authorization") == "Bearer sk-test"
    monkeypatch.delenv("MY_LLM_KEY")
    with ChatClient(endpoint) as client:
        assert "authorization" not in client._http.headers


@pytest.mark.parametrize(
    ("url", "model", "fragment"),
    [("localhost:8000", "m", "http:// or https://"), ("http://x/v1", " ", "no LLM model")],
)
def test_unusable_settings_are_refused(url, model, fragment):
    with pytest.raises(LLMConfigError, match=fragment):
        Endpoint(url, model)


def test_a_fenced_or_wrapped_list_is_accepted_and_junk_dropped():
    content = "```json\n" + json.dumps({"queries": ["hi there", "hi there", "x", 5, " yo  yo "]})
    assert _texts(content + "\n```") == ["hi there", "yo yo"]
    with pytest.raises(ValueError, match="not a list"):
        _texts('"just a string"')
