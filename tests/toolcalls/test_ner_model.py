"""The tool NER model: trained on a tiny tool set, versioned in the registry, plugged into
the detector, never used for a tool it does not know, retrained and swapped on a change."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from intently.registry import Registry
from intently.toolcalls import Tool, ToolCallDetector, ToolRegistry
from intently.toolcalls.ner import (
    NER_TASK,
    NerSettings,
    ToolNer,
    load_active_tool_ner,
    save_tool_ner,
    tool_fingerprint,
    train_tool_ner,
)
from intently.toolcalls.ner_detector import NerDetector, NerRetrainer

WEATHER = Tool(
    "get_weather",
    "Current weather in a city.",
    {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        },
        "required": ["city"],
    },
)
TIME = Tool(
    "get_time",
    "Current time in a timezone.",
    {
        "type": "object",
        "properties": {"timezone": {"type": "string", "examples": ["UTC", "Asia/Tokyo"]}},
        "required": ["timezone"],
    },
)
SMALL = NerSettings(per_tool=30, max_epochs=8, seed=13)


@pytest.fixture(scope="module")
def model() -> ToolNer:
    return train_tool_ner([WEATHER, TIME], SMALL)


def test_training_reports_entity_scores_on_held_out_sentences(model: ToolNer) -> None:
    metrics = model.metrics
    assert metrics["n_train"] > 0 and metrics["n_test"] > 0
    assert set(metrics["per_label"]) == {"TOOL_NAME", "PARAM_NAME", "PARAM_VALUE"}
    assert 0.7 <= metrics["f1"] <= 1.0  # a tiny model, but it has learned the entities
    assert metrics["per_label"]["TOOL_NAME"]["f1"] >= 0.8


def test_ner_detector_turns_a_request_into_a_checked_call(model: ToolNer) -> None:
    detector = ToolCallDetector(ToolRegistry([WEATHER, TIME]), plugins=[NerDetector(model)])
    (call,) = detector.detect("can you get weather for Paris in fahrenheit?")
    assert (call.name, dict(call.arguments), call.detector) == (
        "get_weather",
        {"city": "Paris", "unit": "fahrenheit"},
        "ner",
    )
    assert (
        ToolCallDetector(ToolRegistry([WEATHER, TIME])).detect(
            "can you get weather for Paris in fahrenheit?"
        )
        == []
    )  # without the model no detector reads this request


def test_a_stale_model_is_not_used_for_tools_it_does_not_know(model: ToolNer) -> None:
    changed = Tool(
        WEATHER.name,
        "Weather, now with a required date.",
        {
            **WEATHER.parameters,
            "required": ["city", "date"],
            "properties": {**WEATHER.properties, "date": {"type": "string", "format": "date"}},
        },
    )
    assert not model.knows(changed) and model.knows(TIME)
    ner = NerDetector(model)
    assert ner.candidates("can you get weather for Paris?", ToolRegistry([changed, TIME])) == []
    (kept,) = ner.candidates("use get time with timezone UTC", ToolRegistry([changed, TIME]))
    assert kept.name == "get_time"  # the unchanged tool keeps its model


def test_saved_versions_load_back_without_pickle(model: ToolNer, tmp_path: Path) -> None:
    saved = save_tool_ner(model, tmp_path / "models")
    registry = Registry(tmp_path / "models")
    assert registry.active(NER_TASK).id == saved.version
    folder = registry.active_path(NER_TASK)
    assert not list(folder.rglob("*.pkl")) and not list(folder.rglob("*.pickle"))
    tools = json.loads((folder / "tools.json").read_text())
    assert tools == {"get_weather": tool_fingerprint(WEATHER), "get_time": tool_fingerprint(TIME)}
    loaded = load_active_tool_ner(tmp_path / "models")
    text = "please get time for Asia/Tokyo"
    assert loaded.entities(text) == model.entities(text)
    assert loaded.metrics["f1"] == pytest.approx(model.metrics["f1"])
    assert registry.active(NER_TASK).version.versions["spacy"].startswith("3.")


def test_registry_change_retrains_in_the_background_and_swaps(
    model: ToolNer, tmp_path: Path
) -> None:
    registry = ToolRegistry([WEATHER, TIME])
    ner = NerDetector(model)
    quick = NerSettings(per_tool=12, max_epochs=3)
    retrainer = NerRetrainer(registry, ner, models_root=tmp_path / "models", settings=quick)
    retrainer.start()
    assert retrainer.wait(0) and retrainer.trained == 0  # the model already knows every tool
    email = Tool(
        "send_email",
        "Send an email.",
        {
            "type": "object",
            "properties": {"to": {"type": "string", "format": "email"}},
            "required": ["to"],
        },
    )
    registry.add(email)
    assert retrainer.wait(120), "the retrain did not finish"
    assert retrainer.last_error is None and retrainer.trained == 1
    assert ner.model is not model and ner.model.knows(email) and ner.model.knows(WEATHER)
    assert Registry(tmp_path / "models").active(NER_TASK).id == ner.model.version
    retrainer.close()
    registry.remove("send_email")
    assert retrainer.wait(0) and retrainer.trained == 1  # unsubscribed: no more retrains


def test_mcp_detect_tool_calls_uses_the_projects_deployed_model(
    model: ToolNer, tmp_path: Path
) -> None:
    import anyio
    import yaml
    from mcp import Client

    from intently.mcpserver import build_server
    from tiny_project import project_data

    project = tmp_path / "intently.yaml"
    tools = [WEATHER.to_dict(), TIME.to_dict()]
    project.write_text(yaml.safe_dump(project_data(tools=tools)), encoding="utf-8")
    text = {"text": "can you get weather for Paris in fahrenheit?"}

    async def detect() -> dict:
        async with Client(build_server(project)) as client:
            return (await client.call_tool("detect_tool_calls", text)).structured_content

    assert anyio.run(detect)["calls"] == []  # no tool NER model deployed yet
    save_tool_ner(model, tmp_path / "models")
    (call,) = anyio.run(detect)["calls"]
    assert (call["name"], call["arguments"], call["detector"]) == (
        "get_weather",
        {"city": "Paris", "unit": "fahrenheit"},
        "ner",
    )
