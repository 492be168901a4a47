"""``POST /v1/toolcalls/detect``: tools in the request or from the project, refusals with
their reasons, auth, limits and a malformed tool list."""

from __future__ import annotations

from server_helpers import PREDICT

TOOL = {
    "name": "get_weather",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city"],
    },
}


def test_detect_returns_calls_rejections_and_content(client):
    text = (
        'Sure.\n<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo", '
        '"days": "2"}}</tool_call>\n<tool_call>{"name": "book_hotel", "arguments": {}}'
        "</tool_call>"
    )
    response = client.post(
        "/v1/toolcalls/detect", json={"text": text, "tools": [TOOL]}, headers=PREDICT
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert [(c["name"], c["arguments"]) for c in body["calls"]] == [
        ("get_weather", {"city": "Oslo", "days": 2})
    ]
    assert body["rejected"][0]["problems"][0].startswith("unknown_tool: 'book_hotel'")
    assert body["content"].startswith("Sure.")


def test_detect_without_tools_uses_the_projects_tools(client):
    # The test project offers no tools: any well-formed call is returned as written.
    response = client.post(
        "/v1/toolcalls/detect", headers=PREDICT, json={"text": '[TOOL_CALLS]anything[ARGS]{"x": 1}'}
    )
    assert response.status_code == 200
    assert response.json()["calls"][0]["name"] == "anything"


def test_detect_refuses_bad_tools_missing_keys_and_long_texts(client):
    response = client.post(
        "/v1/toolcalls/detect",
        headers=PREDICT,
        json={"text": "hi", "tools": [{"description": "no name"}]},
    )
    assert response.status_code == 422 and response.json()["error"]["code"] == "E951"
    assert client.post("/v1/toolcalls/detect", json={"text": "hi"}).status_code == 401
    response = client.post(
        "/v1/toolcalls/detect", headers=PREDICT, json={"text": "x" * 10_001, "tools": [TOOL]}
    )
    assert response.status_code == 422 and response.json()["error"]["code"] == "E600"
    response = client.post("/v1/toolcalls/detect", headers=PREDICT, json={"text": "hi", "tool": []})
    assert response.status_code == 422
