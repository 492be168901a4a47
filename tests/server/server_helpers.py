"""Constants and helpers shared by the HTTP service tests (imported by conftest and tests)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http(url: str, body: dict | None = None, key: str = PREDICT_KEY) -> tuple[int, bytes]:
    """One request to a live server: (status, body), or (0, b"") when nothing answered."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    request.add_header("Authorization", f"Bearer {key}")
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except OSError:
        return 0, b""


@dataclass
class LiveServer:
    """``intently serve`` in its own process group, on a free loopback port."""

    process: subprocess.Popen
    base: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while http(self.base + "/readyz")[0] != 200:
            assert self.process.poll() is None, self.output()
            assert time.monotonic() < deadline, f"server did not become ready: {self.output()}"
            time.sleep(0.2)

    def kill(self, sig: int = signal.SIGTERM) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)
        self.process.wait(timeout=30)


def start_server(
    project: Path, folder: Path, *, workers: int = 1, settings: dict[str, str] | None = None
) -> LiveServer:
    """``settings``: more INTENTLY_* variables, by field name (``{"record": "false"}``)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTENTLY_")}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env["INTENTLY_API_KEYS"] = ENV_KEYS
    env.update({f"INTENTLY_{name.upper()}": value for name, value in (settings or {}).items()})
    command = [sys.executable, "-m", "intently.cli", "serve", "-p", str(project)]
    log = folder / f"serve-{port}.log"
    with log.open("wb") as stream:
        process = subprocess.Popen(
            [*command, "--port", str(port), "--workers", str(workers)],
            env=env,
            cwd=folder,
            stdout=stream,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return LiveServer(process, f"http://127.0.0.1:{port}", log)
