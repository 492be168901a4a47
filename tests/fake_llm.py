"""A real HTTP server that speaks the OpenAI chat-completions protocol, with scripted failures.

Importable from any test folder (``from fake_llm import FakeChatServer``) and from the
benchmark ``bench/llm_fake_endpoint.py``. It answers the two prompts Intently sends:

- generation ("Write N new ..." / "Write N paraphrases ..."): a JSON array of N texts that
  differ by prompt, so every request gets new ones;
- classification ("Labels: ... Messages: ..."): a JSON array with one label per message, from
  ``labeler(text, labels)`` (default: the first label whose words all occur in the text, else
  the out-of-scope label, the last listed).

``fail_next(*modes)`` makes the next requests fail, one mode each: ``timeout`` (answers after
``slow_s`` seconds), ``500``, ``429``, ``invalid_json`` (a completion whose text is not JSON),
``not_chat`` (a body that is not a chat completion), ``bad_label`` (labels outside the set),
``wrong_count`` (one label too few). ``fail_randomly(rate, modes, seed)`` fails that share of
the requests after the scripted ones, each with a mode drawn from ``modes``.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Labeler = Callable[[str, Sequence[str]], str]

_WRITE = re.compile(r"Write (\d+) (?:new|paraphrases)")
_MESSAGE = re.compile(r"^\d+\. (\".*\")$", re.MULTILINE)
_LABEL = re.compile(r"^- ([^:\n]+)", re.MULTILINE)


def keyword_labeler(text: str, labels: Sequence[str]) -> str:
    words = set(re.findall(r"[a-z]+", text.lower()))
    for label in labels[:-1]:
        if set(label.split("_")) <= words:
            return label
    return labels[-1]


class FakeChatServer:
    """``with FakeChatServer() as server: ... server.base_url ...``"""

    def __init__(self, labeler: Labeler = keyword_labeler, *, slow_s: float = 1.0):
        self.labeler = labeler
        self.slow_s = slow_s
        self.requests: list[dict[str, Any]] = []
        self._failures: deque[str] = deque()
        self._random: tuple[float, tuple[str, ...], random.Random] | None = None
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def fail_next(self, *modes: str) -> None:
        with self._lock:
            self._failures.extend(modes)

    def fail_randomly(self, rate: float, modes: Sequence[str], seed: int = 0) -> None:
        with self._lock:
            self._random = (rate, tuple(modes), random.Random(seed))

    def __enter__(self) -> FakeChatServer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _next_failure(self) -> str | None:
        with self._lock:
            if self._failures:
                return self._failures.popleft()
            if self._random is not None:
                rate, modes, draw = self._random
                if draw.random() < rate:
                    return draw.choice(modes)
            return None

    def answer(self, body: dict[str, Any], failure: str | None) -> str:
        prompt = body["messages"][-1]["content"]
        wanted = _WRITE.search(prompt)
        if wanted:
            n = int(wanted.group(1))
            tag = hashlib.sha256(prompt.encode()).hexdigest()[:6]
            subject = prompt.splitlines()[0].split(":")[-1].strip() or "text"
            return json.dumps([f"{subject} message {tag} number {i}" for i in range(n)])
        labels = [m.strip() for m in _LABEL.findall(prompt.split("Messages:")[0])]
        texts = [json.loads(m) for m in _MESSAGE.findall(prompt)]
        answer = [self.labeler(text, labels) for text in texts]
        if failure == "bad_label":
            answer = ["not_a_label"] * len(answer)
        if failure == "wrong_count":
            answer = answer[:-1]
        return json.dumps(answer)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                return None

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server._lock:
                    server.requests.append(body)
                if self.path != "/v1/chat/completions":
                    self._send(404, {"error": {"message": "not found"}})
                    return
                failure = server._next_failure()
                if failure == "timeout":
                    time.sleep(server.slow_s)
                if failure in ("500", "429"):
                    self._send(int(failure), {"error": {"message": "scripted failure"}})
                    return
                if failure == "not_chat":
                    self._send(200, {"unexpected": True})
                    return
                content = server.answer(body, failure)
                if failure == "invalid_json":
                    content = "Sure! Here you go"
                prompt = " ".join(m["content"] for m in body["messages"])
                self._send(
                    200,
                    {
                        "id": "chatcmpl-fake",
                        "object": "chat.completion",
                        "model": body.get("model", ""),
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": content},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": {
                            "prompt_tokens": len(prompt) // 4,
                            "completion_tokens": len(content) // 4,
                            "total_tokens": len(prompt) // 4 + len(content) // 4,
                        },
                    },
                )

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client gave up (a scripted timeout)
                    pass

        return Handler
