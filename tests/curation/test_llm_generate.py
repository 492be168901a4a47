"""The ``llm`` generator against a real local chat-completions server."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from fake_llm import FakeChatServer
from intently import load_project
from intently.curation.llm_generate import GENERATORS
from intently.data import Example, Source
from intently.errors import LLMConfigError, LLMError
from intently.generate.base import GenerationContext

TWO_INTENTS = {
    "greeting": ["hello", "hi there", "good morning"],
    "refund": ["I want a refund", "give me my money back", "refund please"],
}


@pytest.fixture
def server():
    with FakeChatServer() as running:
        yield running


@pytest.fixture
def context(make_project):
    return GenerationContext(load_project(make_project(intents=TWO_INTENTS)), "intent")


def _examples() -> list[Example]:
    return [Example(t, label) for label, texts in TWO_INTENTS.items() for t in texts]


def _generator(context, server, **params):
    kind = GENERATORS["llm"]
    settings = {"base_url": server.base_url, "model": "fake", "max_retries": 1, "backoff_s": 0}
    return kind.build(kind.params(**{**settings, **params}), context)


def test_synthetic_examples_per_intent_with_source_weight_and_origin(context, server):
    generator = _generator(context, server, count=5, per_request=3, shots=2)
    made = generator.generate(_examples(), np.random.default_rng(0))
    by_label = {label: [e for e in made if e.label == label] for label in TWO_INTENTS}
    assert {label: len(found) for label, found in by_label.items()} == {"greeting": 5, "refund": 5}
    assert len(server.requests) == 4  # 3 + 2 per intent
    originals = {e.text for e in _examples()}
    for example in made:
        assert example.source is Source.SYNTHETIC and example.weight == 0.7
        assert example.meta["generator"] == "llm" and example.meta["original"] in originals
        assert example.text not in originals
    assert len({e.text for e in made}) == len(made)
    prompt = server.requests[0]["messages"][-1]["content"]
    assert "Intent: greeting" in prompt and "Write 3 new" in prompt
    assert generator.usage.requests == 4 and generator.usage.examples == 10


def test_a_rerun_is_free_and_identical(context, server):
    first = _generator(context, server, count=4).generate(_examples(), np.random.default_rng(7))
    sent = len(server.requests)
    again_generator = _generator(context, server, count=4)
    again = again_generator.generate(_examples(), np.random.default_rng(7))
    assert again == first
    assert len(server.requests) == sent and again_generator.usage.cached == sent
    assert (context.project.root / ".intently" / "llm_cache.jsonl").is_file()


def test_the_request_cap_stops_early_and_keeps_what_was_made(context, server):
    generator = _generator(context, server, count=9, per_request=3, max_requests=2, cache=None)
    made = generator.generate(_examples(), np.random.default_rng(0))
    assert len(server.requests) == 2 and len(made) == 6
    assert generator.stopped is not None and "max_requests" in generator.stopped


def test_the_example_cap_is_exact(context, server):
    generator = _generator(context, server, count=9, per_request=4, max_examples=5, cache=None)
    made = generator.generate(_examples(), np.random.default_rng(0))
    assert len(made) == 5 and "max_examples" in (generator.stopped or "")


def test_paraphrases_keep_their_original(context, server):
    generator = _generator(context, server, mode="paraphrase", per_example=2, cache=None)
    made = generator.generate(_examples()[:2], np.random.default_rng(0))
    assert [e.meta["original"] for e in made] == ["hello", "hello", "hi there", "hi there"]
    assert all(e.source is Source.PARAPHRASE and e.label == "greeting" for e in made)


def test_an_endpoint_that_keeps_failing_is_a_clear_error(context, server):
    server.fail_next("500", "500")
    with pytest.raises(LLMError, match="2 attempt"):
        _generator(context, server, cache=None).generate(_examples(), np.random.default_rng(0))


def test_settings_are_checked(context, server, monkeypatch):
    with pytest.raises(ValidationError):
        GENERATORS["llm"].params(base_url=server.base_url, model="m", temprature=0.3)
    monkeypatch.delenv("INTENTLY_LLM_MODEL", raising=False)
    with pytest.raises(LLMConfigError, match="no LLM model"):
        GENERATORS["llm"].build(GENERATORS["llm"].params(base_url=server.base_url), context)
    monkeypatch.setenv("INTENTLY_LLM_MODEL", "from-env")
    built = GENERATORS["llm"].build(GENERATORS["llm"].params(base_url=server.base_url), context)
    assert built.endpoint.model == "from-env"
