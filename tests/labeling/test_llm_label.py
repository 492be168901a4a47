"""LLM labeling against a real local chat-completions server, checked by a trained model."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest
from typer.testing import CliRunner

from fake_llm import FakeChatServer
from intently import load_project
from intently.cli import app
from intently.curation.llm_cache import ResponseCache
from intently.curation.llm_client import Caps, ChatClient, Endpoint
from intently.data import Source, read_examples
from intently.db import Database, InteractionStore
from intently.errors import LLMError
from intently.labeling.llm_label import classification_messages, label_texts
from intently.labeling.run import REVIEW_RUNTIME, label_file, task_labels
from intently.runtime import Classifier

LABELS = {"greeting": "The user says hello", "refund": "", "order_status": ""}
TEXTS = ["hello there friend", "where is my order status", "refund my money", "tell me a joke"]
# the LLM's answers, one deliberately wrong: the trained model disagrees with it
ANSWERS = {
    "hello there friend": "greeting",
    "where is my order status": "order_status",
    "refund my money": "refund",
    "tell me a joke": "greeting",
    "bye for now": "goodbye",
}


def answers(text: str, labels: Sequence[str]) -> str:
    return ANSWERS.get(text, labels[-1])


@pytest.fixture
def server():
    with FakeChatServer(answers) as running:
        yield running


def _client(server: FakeChatServer, **options) -> ChatClient:
    endpoint = Endpoint(server.base_url, "fake", max_retries=options.pop("max_retries", 2))
    return ChatClient(endpoint, sleep=lambda _: None, **options)


def _lines(texts: Sequence[str]) -> list[tuple[int | None, str]]:
    return list(enumerate(texts, start=1))


def test_the_prompt_lists_labels_descriptions_the_fallback_and_the_texts():
    prompt = classification_messages(LABELS, "oos", ["a", 'say "hi"'])[-1]["content"]
    assert "- greeting: The user says hello\n- refund\n" in prompt
    assert "- oos: none of the labels above" in prompt
    assert '1. "a"\n2. "say \\"hi\\""' in prompt


def test_labels_in_batches_without_a_model(server):
    with _client(server) as client:
        result = label_texts(
            _lines(TEXTS), labels=LABELS, fallback_label="oos", client=client, per_request=3
        )
    assert [item.llm_label for item in result.items] == [ANSWERS[t] for t in TEXTS]
    assert len(server.requests) == 2 and result.agreement_rate is None
    examples = result.examples()
    assert len(examples) == 4 and all(e.source is Source.LLM_LABELED for e in examples)
    assert examples[0].weight == 0.85 and examples[0].meta["llm_model"] == "fake"


def test_a_label_outside_the_set_is_retried(server):
    server.fail_next("bad_label", "wrong_count")
    with _client(server) as client:
        result = label_texts(_lines(TEXTS[:2]), labels=LABELS, fallback_label="oos", client=client)
    assert [item.llm_label for item in result.items] == ["greeting", "order_status"]
    assert client.usage.failures == {"invalid_answer": 2} and len(server.requests) == 3


def test_labels_still_outside_the_set_after_the_retries_are_reported(server):
    server.fail_next("bad_label", "bad_label", "bad_label")
    with _client(server) as client:
        result = label_texts(_lines(TEXTS[:2]), labels=LABELS, fallback_label="oos", client=client)
    assert [(i.llm_label, i.llm_answer) for i in result.items] == [(None, "not_a_label")] * 2
    assert len(result.invalid) == 2 and result.examples() == []


def test_an_answer_of_the_wrong_shape_ends_in_a_clear_error(server):
    server.fail_next("wrong_count", "wrong_count", "wrong_count")
    with _client(server) as client, pytest.raises(LLMError, match="list of 2 labels"):
        label_texts(_lines(TEXTS[:2]), labels=LABELS, fallback_label="oos", client=client)


def test_a_cap_stops_labeling_and_keeps_the_labeled_texts(server):
    with _client(server, caps=Caps(max_requests=1)) as client:
        result = label_texts(
            _lines(TEXTS), labels=LABELS, fallback_label="oos", client=client, per_request=2
        )
    assert len(result.items) == 2 and "max_requests" in (result.stopped or "")


def test_agreements_with_the_model_become_examples(server, trained_model_dir):
    classifier = Classifier.load(trained_model_dir)
    with _client(server) as client:
        result = label_texts(
            _lines(TEXTS),
            labels=LABELS,
            fallback_label="oos",
            client=client,
            classifier=classifier,
        )
    predictions = classifier.predict_batch(TEXTS)
    model = {text: p.label for text, p in zip(TEXTS, predictions, strict=True)}
    agreed = [t for t in TEXTS if ANSWERS[t] == model[t]]
    assert [e.text for e in result.examples()] == agreed
    assert "tell me a joke" not in agreed  # the model knows it is out of scope
    assert len(result.agreed) + len(result.disagreed) == 4
    assert result.agreement_rate == len(agreed) / 4
    assert result.summary()["examples"] == len(agreed) and result.summary()["texts"] == 4
    assert result.examples()[0].meta["model_version"] == classifier.version.id


def _trained_project(trained_model_dir):
    return load_project(trained_model_dir.parents[2] / "intently.yaml")


def test_disagreements_go_to_the_review_queue_once(server, trained_model_dir, tmp_path):
    project = _trained_project(trained_model_dir)
    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(TEXTS) + "\n\n", encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'review.db'}"
    options = {"out": tmp_path / "labeled.jsonl", "disagreements": tmp_path / "d.jsonl"}
    cache = ResponseCache(tmp_path / "cache.jsonl")
    with _client(server, cache=cache) as client:
        run = label_file(project, "intent", texts, client=client, database_url=url, **options)
    assert run.queued == len(run.result.disagreed) >= 1 and run.disagreements_path is None
    db = Database(url)
    pending = InteractionStore(db).pending(task="intent")
    assert {row.text for row in pending} == {item.text for item in run.result.disagreed}
    row = pending[0]
    assert row.runtime == REVIEW_RUNTIME and row.shadow["llm_label"] == ANSWERS[row.text]
    assert row.label != row.shadow["llm_label"]
    written = read_examples(tmp_path / "labeled.jsonl")
    assert [e.text for e in written] == [e.text for e in run.result.examples()]
    sent = len(server.requests)
    with _client(server, cache=ResponseCache(tmp_path / "cache.jsonl")) as client:
        again = label_file(project, "intent", texts, client=client, database_url=url, **options)
    assert again.queued == 0 and len(server.requests) == sent  # cached, and queued once
    assert len(InteractionStore(db).pending(task="intent")) == len(pending)
    db.dispose()


def test_task_labels_leave_out_the_fallback_label(trained_model_dir):
    labels = task_labels(_trained_project(trained_model_dir), "intent")
    assert "oos" not in labels and set(labels) >= {"greeting", "refund"}


def test_cli_label_end_to_end_and_a_free_rerun(server, trained_model_dir, tmp_path):
    project = trained_model_dir.parents[2] / "intently.yaml"
    texts = tmp_path / "logs.jsonl"
    texts.write_text(
        "".join(json.dumps({"text": t}) + "\n" for t in [*TEXTS, "bye for now"]) + "{bad\n",
        encoding="utf-8",
    )
    args = [
        "data", "label", str(texts), "--llm", "--base-url", server.base_url, "--model", "fake",
        "-p", str(project), "--cache", str(tmp_path / "cache.jsonl"),
    ]  # fmt: skip
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "agreement rate" in first.output and "skipped" in first.output
    labeled = read_examples(tmp_path / "logs.llm_labeled.jsonl")
    assert labeled and all(e.source is Source.LLM_LABELED for e in labeled)
    rows = [json.loads(x) for x in (tmp_path / "logs.disagreements.jsonl").read_text().splitlines()]
    assert "tell me a joke" in {row["text"] for row in rows}
    second = CliRunner().invoke(app, args)
    assert "requests (cached)" in second.output and " 0 (1)" in second.output


def test_the_cli_default_batch_is_the_librarys():
    from intently.cli import label as cli_label
    from intently.labeling import llm_label

    assert cli_label.DEFAULT_PER_REQUEST == llm_label.DEFAULT_PER_REQUEST


def test_cli_label_needs_the_llm_flag_and_an_endpoint(tmp_path, make_project, monkeypatch):
    monkeypatch.delenv("INTENTLY_LLM_BASE_URL", raising=False)
    project = make_project()
    texts = tmp_path / "t.txt"
    texts.write_text("hello\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["data", "label", str(texts), "-p", str(project)])
    assert result.exit_code == 2 and "--llm" in result.output
    result = CliRunner().invoke(app, ["data", "label", str(texts), "--llm", "-p", str(project)])
    assert result.exit_code == 1 and "E232" in str(result.exception)
