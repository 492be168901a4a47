"""Constants and helpers shared by the HTTP service tests (imported by conftest and tests)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from intently.registry import Registry
from intently.server import Settings

PREDICT_KEY = "test-predict-key"
ADMIN_KEY = "test-admin-key"
ENV_KEYS = f"predict:{PREDICT_KEY},admin:{ADMIN_KEY}"
PREDICT = {"Authorization": f"Bearer {PREDICT_KEY}"}
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


INTENTS = {
    "greeting": [
        "hello",
        "hi there",
        "hey, good morning",
        "hello, anyone there?",
        "hiya",
        "good afternoon, hello",
        "hey hey",
        "hello again",
        "hi, good evening",
        "hi",
    ],
    "order_status": [
        "where is my order",
        "track my order please",
        "has my order shipped",
        "when will my order arrive",
        "my order has not arrived",
        "order status",
        "is my order on the way",
        "where is my order 1234",
        "delivery status",
        "tracking number for my order",
    ],
    "refund": [
        "I want a refund",
        "refund my money",
        "give me my money back",
        "refund please",
        "how do refunds work",
        "where is my refund",
        "request a refund",
        "I was charged twice, refund",
        "refund to my card",
        "money back please",
    ],
}
OOS = [
    "what is the weather tomorrow",
    "tell me a joke",
    "who won the football game",
    "how do I bake bread",
    "play some jazz music",
    "set an alarm for seven",
    "recommend a movie",
    "how tall is mount everest",
]


def project_data(name: str = "served") -> dict[str, Any]:
    agent = {
        "id": "shop",
        "intents": [{"name": label, "variations": texts} for label, texts in INTENTS.items()],
        "examples": [{"query": text, "intent": "oos"} for text in OOS],
    }
    lenient = {"accuracy": 0.0, "macro_f1": 0.0, "min_intent_f1": 0.0, "coverage": 0.0}
    return {
        "name": name,
        "agents": [agent],
        "training": {"backend": "linear", "seed": 13},
        "gates": lenient,
        "deploy": {"policy": "always"},
    }


@dataclass(frozen=True)
class Served:
    """A project folder with versions ``v1`` (active) and ``v2`` (candidate) of ``intent``."""

    path: Path
    v1: str
    v2: str

    @property
    def root(self) -> Path:
        return self.path.parent

    @property
    def registry(self) -> Registry:
        return Registry(self.root / "models")

    @property
    def database_url(self) -> str:
        return f"sqlite:///{self.root / 'server.db'}"


def settings_for(served: Served, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "project": served.path,
        "api_keys": ENV_KEYS,
        "database_url": served.database_url,
        "reload_interval_s": 0.05,
        "workers": 1,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


def wait_for(condition: Callable[[], bool], timeout: float = 10.0, interval: float = 0.02) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` passes; returns its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()
