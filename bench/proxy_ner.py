"""Issue 11 measurements for the proxy and the tool NER model.

1. Proxy overhead: the fake upstream of the proxy tests and ``intently proxy`` run as their
   own processes (uvicorn on loopback); a keep-alive httpx client (not the ``openai`` client,
   so the client is not what is timed) sends the same chat request to the upstream directly
   and through the proxy, in alternating rounds; p50/p99 per route for a plain answer and a
   tool-call answer, whole and streamed (time to the last byte), and the added p50; the CPU
   time per request of the proxy process and of the upstream (from /proc, much less sensitive
   to machine load than latency); and the proxy's own work per request measured in process
   (no HTTP hop).
2. Tool NER: trained on a six-tool set with the default settings, scored on sentences
   generated with another seed (entity P/R/F1 per label), and end to end through
   ``ToolCallDetector`` with only the ``ner`` plugin: the share of held-out sentences whose
   call (name and arguments) comes back exactly; and the same on 13 hand-written sentences
   (other phrasings and values than the generator's).

    .venv/bin/python bench/proxy_ner.py --out docs/benchmarks/toolcalls/proxy_ner.json
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "proxy"))  # the fake upstream of the proxy tests

from fake_upstream import free_port  # noqa: E402

from intently.toolcalls import Tool, ToolCallDetector, ToolRegistry  # noqa: E402
from intently.toolcalls.ner import NerSettings, evaluate_tool_ner, train_tool_ner  # noqa: E402
from intently.toolcalls.ner_data import generate_examples  # noqa: E402
from intently.toolcalls.ner_detector import NerDetector  # noqa: E402

WEATHER = {
    "name": "get_weather",
    "description": "Current weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        },
        "required": ["city"],
    },
}
REPLIES = {
    "plain": "Hello! I can look up the weather in any city, in celsius or fahrenheit. "
    "Just ask in your own words; there is no special syntax to learn.",
    "call": 'Let me check.\n<tool_call>{"name": "get_weather", "arguments": '
    '{"city": "Paris", "unit": "celsius"}}</tool_call>',
}
NER_TOOLS = [
    Tool.from_dict(WEATHER),
    Tool(
        "get_time",
        "Current time in a timezone.",
        {
            "type": "object",
            "properties": {
                "timezone": {"type": "string", "examples": ["UTC", "Asia/Tokyo", "Europe/Oslo"]}
            },
            "required": ["timezone"],
        },
    ),
    Tool(
        "send_email",
        "Send an email.",
        {
            "type": "object",
            "properties": {
                "recipient": {"type": "string", "format": "email"},
                "subject": {"type": "string"},
                "urgent": {"type": "boolean"},
            },
            "required": ["recipient", "subject"],
        },
    ),
    Tool(
        "book_table",
        "Reserve a restaurant table.",
        {
            "type": "object",
            "properties": {
                "restaurant": {"type": "string", "examples": ["Nopa", "Chez Panisse", "Noma"]},
                "guests": {"type": "integer", "minimum": 1, "maximum": 12},
                "date": {"type": "string", "format": "date"},
            },
            "required": ["restaurant", "guests"],
        },
    ),
    Tool(
        "search_web",
        "Search the web.",
        {
            "type": "object",
            "properties": {"query": {"type": "string"}, "max_results": {"type": "integer"}},
            "required": ["query"],
        },
    ),
    Tool(
        "set_thermostat",
        "Set the heating.",
        {
            "type": "object",
            "properties": {
                "temperature": {"type": "number", "minimum": 10, "maximum": 30},
                "room": {"type": "string", "enum": ["kitchen", "bedroom", "living room"]},
            },
            "required": ["temperature"],
        },
    ),
]


# Written by hand, not by the generator: other phrasings, values the generator never draws.
HANDWRITTEN: list[tuple[str, str, dict[str, str]]] = [
    ("what's it like outside in Lisbon? use get weather", "get_weather", {"city": "Lisbon"}),
    (
        "get weather for Montreal in fahrenheit please",
        "get_weather",
        {"city": "Montreal", "unit": "fahrenheit"},
    ),
    ("Run get_weather, city: Nairobi", "get_weather", {"city": "Nairobi"}),
    ("I'd like the time in Europe/Oslo, call get time", "get_time", {"timezone": "Europe/Oslo"}),
    ("get_time with timezone=UTC", "get_time", {"timezone": "UTC"}),
    (
        "send email to carol@example.net, subject: invoice overdue",
        "send_email",
        {"recipient": "carol@example.net", "subject": "invoice overdue"},
    ),
    (
        "Please send email. The recipient is dan@example.com. The subject is lunch plans.",
        "send_email",
        {"recipient": "dan@example.com", "subject": "lunch plans"},
    ),
    ("book table at Noma for 4 guests", "book_table", {"restaurant": "Noma", "guests": "4"}),
    (
        "use book_table with restaurant=Nopa, guests=2, date=2026-05-01",
        "book_table",
        {"restaurant": "Nopa", "guests": "2", "date": "2026-05-01"},
    ),
    ("search web for cheap flights to Madrid", "search_web", {"query": "cheap flights to Madrid"}),
    (
        "call search_web with query=rust async runtime and max_results=3",
        "search_web",
        {"query": "rust async runtime", "max_results": "3"},
    ),
    (
        "set thermostat to 21 in the bedroom",
        "set_thermostat",
        {"temperature": "21", "room": "bedroom"},
    ),
    (
        "Set the temperature to 19. Now call set thermostat.",
        "set_thermostat",
        {"temperature": "19"},
    ),
]


def handwritten_accuracy(detector: ToolCallDetector) -> dict[str, Any]:
    named = exact = 0
    misses = []
    for text, tool, arguments in HANDWRITTEN:
        calls = detector.detect(text)
        got = {k: str(v).lower() for k, v in calls[0].arguments.items()} if calls else {}
        named += len(calls) == 1 and calls[0].name == tool
        hit = (
            len(calls) == 1
            and calls[0].name == tool
            and got == {k: v.lower() for k, v in arguments.items()}
        )
        exact += hit
        if not hit:
            misses.append({"text": text, "found": [c.to_dict() for c in calls]})
    return {
        "sentences": len(HANDWRITTEN),
        "call_name_accuracy": round(named / len(HANDWRITTEN), 4),
        "call_exact_accuracy": round(exact / len(HANDWRITTEN), 4),
        "misses": misses,
    }


def _timed(client: httpx.Client, url: str, body: dict[str, Any]) -> float:
    start = time.perf_counter()
    if body.get("stream"):
        with client.stream("POST", url, json=body) as response:
            for _ in response.iter_bytes():
                pass
    else:
        client.post(url, json=body).raise_for_status()
    return (time.perf_counter() - start) * 1e3


_UPSTREAM = """
import json, sys, uvicorn
sys.path.insert(0, sys.argv[1])
from fake_upstream import FakeUpstream
uvicorn.run(FakeUpstream(json.loads(sys.argv[2])).app(), host="127.0.0.1",
            port=int(sys.argv[3]), log_level="warning")
"""


def _cpu_ms(pid: int) -> float:
    """User + system CPU time a process has used (Linux ``/proc``), in milliseconds: unlike
    latency, it barely depends on how busy the machine is."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1e3 / os.sysconf("SC_CLK_TCK")


@contextmanager
def _process(command: list[str], port: int) -> Iterator[tuple[str, int]]:
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{command[:3]} did not start") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/v1", process.pid
    finally:
        process.terminate()
        process.wait(timeout=10)


def processing(repeats: int = 300) -> dict[str, Any]:
    """The proxy's own work per request, in process (no HTTP): reading the tools and building
    the detector, then detection on the whole reply, or over the reply in 3-character chunks
    as the fake upstream streams it."""
    from intently.proxy.app import ProxySettings, plan_request
    from intently.proxy.replies import with_tool_calls
    from intently.proxy.stream_text import ContentStream
    from intently.toolcalls import remove_calls

    settings = ProxySettings(upstream="http://unused/v1")
    body = {"messages": [], "tools": [{"type": "function", "function": WEATHER}]}
    out: dict[str, Any] = {}
    for name, text in REPLIES.items():
        reply = {"choices": [{"index": 0, "message": {"role": "assistant", "content": text}}]}
        whole, streamed = [], []
        for _ in range(repeats):
            start = time.perf_counter()
            with_tool_calls(reply, plan_request(body, settings).detector)
            whole.append((time.perf_counter() - start) * 1e3)
            start = time.perf_counter()
            detector = plan_request(body, settings).detector
            stream = ContentStream(detector.stream(), remove_calls)
            for at in range(0, len(text), 3):
                stream.feed(text[at : at + 3])
            stream.finish()
            streamed.append((time.perf_counter() - start) * 1e3)
        out[name] = round(statistics.median(whole), 3)
        out[f"{name}_stream"] = round(statistics.median(streamed), 3)
    return out


def proxy_overhead(requests: int, rounds: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    up_port, proxy_port = free_port(), free_port()
    fake = [sys.executable, "-c", _UPSTREAM, str(ROOT / "tests" / "proxy"), json.dumps(REPLIES)]
    proxy_command = [sys.executable, "-m", "intently.cli", "proxy", "--port", str(proxy_port)]
    with (
        _process([*fake, str(up_port)], up_port) as (upstream, upstream_pid),
        _process([*proxy_command, "--upstream", upstream], proxy_port) as (proxy, proxy_pid),
        httpx.Client(timeout=30) as client,
    ):
        for reply in REPLIES:
            for stream in (False, True):
                body = {
                    "model": "fake-model",
                    "messages": [{"role": "user", "content": reply}],
                    "tools": [{"type": "function", "function": WEATHER}],
                    "stream": stream,
                }
                samples: dict[str, list[float]] = {"direct": [], "proxy": []}
                cpu = {"upstream": 0.0, "proxy": 0.0}
                for _ in range(5):  # warm-up: connections, first detector build
                    _timed(client, f"{upstream}/chat/completions", body)
                    _timed(client, f"{proxy}/chat/completions", body)
                for _ in range(rounds):
                    for route, base in (("direct", upstream), ("proxy", proxy)):
                        pid = upstream_pid if route == "direct" else proxy_pid
                        before = _cpu_ms(pid)
                        samples[route] += [
                            _timed(client, f"{base}/chat/completions", body)
                            for _ in range(requests // rounds)
                        ]
                        cpu["upstream" if route == "direct" else "proxy"] += _cpu_ms(pid) - before
                row = {}
                for route, values in samples.items():
                    values.sort()
                    row[f"{route}_p50_ms"] = round(statistics.median(values), 3)
                    row[f"{route}_p99_ms"] = round(values[int(len(values) * 0.99) - 1], 3)
                row["added_p50_ms"] = round(row["proxy_p50_ms"] - row["direct_p50_ms"], 3)
                row["n"] = len(samples["proxy"])
                # CPU per request: the upstream's when called directly, the proxy's own
                row["upstream_cpu_ms_per_request"] = round(cpu["upstream"] / row["n"], 3)
                row["proxy_cpu_ms_per_request"] = round(cpu["proxy"] / row["n"], 3)
                results[f"{reply}{'_stream' if stream else ''}"] = row
    return results


def tool_ner(settings: NerSettings) -> dict[str, Any]:
    start = time.perf_counter()
    model = train_tool_ner(NER_TOOLS, settings)
    train_s = time.perf_counter() - start
    held_out = generate_examples(NER_TOOLS, per_tool=50, seed=settings.seed + 100)
    scores = evaluate_tool_ner(model.nlp, held_out)
    detector = ToolCallDetector(ToolRegistry(NER_TOOLS), detectors=(), plugins=[NerDetector(model)])
    exact = named = 0
    latencies = []
    for example in held_out:
        begin = time.perf_counter()
        calls = detector.detect(example.text)
        latencies.append((time.perf_counter() - begin) * 1e3)
        if len(calls) == 1 and calls[0].name == example.tool:
            named += 1
            got = {k: str(v).lower() for k, v in calls[0].arguments.items()}
            want = {k: v.lower() for k, v in example.arguments}
            exact += got == want
    return {
        "tools": len(NER_TOOLS),
        "settings": vars(settings),
        "train_sentences": model.metrics["n_train"],
        "train_s": round(train_s, 2),
        "held_out_sentences": len(held_out),
        "entities": scores.to_json(),
        "call_name_accuracy": round(named / len(held_out), 4),
        "call_exact_accuracy": round(exact / len(held_out), 4),
        "detect_p50_ms": round(statistics.median(latencies), 3),
        "handwritten": handwritten_accuracy(detector),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--skip-ner", action="store_true", help="only the proxy figures")
    args = parser.parse_args()
    result = {
        "load_before": os.getloadavg()[0],
        "proxy_processing_p50_ms": processing(),
        "proxy": proxy_overhead(args.requests, args.rounds),
        "tool_ner": None if args.skip_ner else tool_ner(NerSettings()),
        "load_after": os.getloadavg()[0],
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
