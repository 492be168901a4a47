"""The tiny hand-written project every test trains on, as plain data (importable from any
test folder as ``tiny_project``; fixtures built on it live in conftest.py)."""

from __future__ import annotations

from typing import Any

INTENTS: dict[str, list[str]] = {
    "greeting": [
        "hello",
        "hi there",
        "hey, good morning",
        "hello, anyone there?",
        "hi, I need some help",
        "good afternoon, hello",
        "hey hey",
        "hiya friend",
        "hello again",
        "hi, good evening",
    ],
    "goodbye": [
        "bye",
        "goodbye for now",
        "see you later, bye",
        "ok bye then",
        "thanks, goodbye",
        "bye bye",
        "see you tomorrow",
        "farewell and goodbye",
        "talk to you later, bye",
        "goodbye, have a nice day",
    ],
    "order_status": [
        "where is my order",
        "track my order please",
        "has my order shipped",
        "when will my order arrive",
        "my order has not arrived",
        "order tracking number",
        "status of my order",
        "is my order on the way",
        "where is my order 1234",
        "delivery status of my order",
    ],
    "cancel_order": [
        "cancel my order",
        "please cancel the order",
        "I want to cancel my purchase",
        "cancel it now",
        "how do I cancel an order",
        "cancel order 1234",
        "stop and cancel my order",
        "cancel the purchase please",
        "I need to cancel",
        "can I still cancel",
    ],
    "refund": [
        "I want a refund",
        "refund my money",
        "give me my money back",
        "how do refunds work",
        "refund please",
        "where is my refund",
        "money back for the broken item",
        "I was charged twice, refund",
        "request a refund",
        "refund to my card",
    ],
}

OOS_QUERIES = [
    "what is the weather tomorrow",
    "tell me a joke",
    "who won the football game",
    "how do I bake bread",
    "what is the capital of france",
    "play some jazz music",
    "set an alarm for seven",
    "what is 12 times 7",
    "recommend a movie",
    "translate cat into german",
    "how tall is mount everest",
    "write a poem about rain",
]

TEXTS = [text for texts in INTENTS.values() for text in texts]
LABELS = [label for label, texts in INTENTS.items() for _ in texts]
"""INTENTS flattened: every text and its label, in order."""

LENIENT_GATES = {"accuracy": 0.0, "macro_f1": 0.0, "min_intent_f1": 0.0, "coverage": 0.0}


def project_data(
    name: str = "tiny",
    *,
    intents: dict[str, list[str]] | None = None,
    oos: list[str] | tuple[str, ...] = (),
    gates: dict[str, float] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A project file's content as plain data (what ``yaml.safe_dump`` writes)."""
    intents = INTENTS if intents is None else intents
    agent: dict[str, Any] = {
        "id": "shop",
        "intents": [{"name": label, "variations": list(texts)} for label, texts in intents.items()],
    }
    if oos:
        agent["examples"] = [{"query": text, "intent": "oos"} for text in oos]
    data: dict[str, Any] = {
        "name": name,
        "agents": [agent],
        "training": {"backend": "linear", "params": {}, "seed": 13},
        "gates": dict(LENIENT_GATES if gates is None else gates),
    }
    data.update(extra)
    return data
