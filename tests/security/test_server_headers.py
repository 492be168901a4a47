"""Issue 8 defect 7: `intently serve` caps the request line plus headers. A request with an
oversized header gets 431 (or, if the client is still sending, a closed connection) instead of
being read whole, and the worker keeps answering."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import yaml

from tiny_project import project_data

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _exchange(port: int, path: str, headers: bytes = b"") -> bytes:
    """One GET with ``headers``; what the server answered before closing (b"" if nothing)."""
    request = f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n".encode()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        with contextlib.suppress(ConnectionError):  # the server may close while we send
            sock.sendall(request + headers + b"\r\n")
        answer = b""
        with contextlib.suppress(ConnectionError):
            while chunk := sock.recv(65_536):
                answer += chunk
        return answer


@pytest.fixture(scope="module")
def port(tmp_path_factory) -> Iterator[int]:
    """`intently serve` over a project with no model (it starts, /healthz answers)."""
    root = tmp_path_factory.mktemp("headers")
    (root / "intently.yaml").write_text(yaml.safe_dump(project_data()), encoding="utf-8")
    port = _free_port()
    command = [sys.executable, "-m", "intently.cli", "serve", "-p", str(root / "intently.yaml")]
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTENTLY_")}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env["INTENTLY_API_KEYS"] = "predict:header-test-key"
    log = root / "serve.log"
    with log.open("wb") as stream:
        process = subprocess.Popen(
            [*command, "--port", str(port), "--workers", "1"],
            env=env,
            cwd=root,
            stdout=stream,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while not _healthy(port):
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield port
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)


def _healthy(port: int) -> bool:
    try:
        answer = _exchange(port, "/healthz")
    except OSError:
        return False
    return answer.startswith(b"HTTP/1.1 200")


def test_an_oversized_header_is_refused_and_the_worker_keeps_answering(port):
    answer = _exchange(port, "/v1/models", b"X-Pad: " + b"a" * 4_000_000 + b"\r\n")
    # Before the limit this was read whole and answered 401 (no key).
    assert answer == b"" or answer.startswith(b"HTTP/1.1 431"), answer[:200]
    if answer:
        assert b'"E708"' in answer and b"65,536 bytes" in answer
    assert _healthy(port)


def test_headers_under_the_limit_are_served(port):
    answer = _exchange(port, "/v1/models", b"X-Pad: " + b"a" * 30_000 + b"\r\n")
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]  # reached the app: no key sent
