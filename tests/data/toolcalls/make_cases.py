"""Write ``cases.jsonl``, the tool-call corpus: ``python tests/data/toolcalls/make_cases.py``.

Deterministic (seeded). Every format of :mod:`intently.toolcalls.render` gets positive cases
with realistic prose around the calls (reasoning blocks with decoy calls, text before and
after, several calls), plus hand-shaped hard positives (a name in another case, repaired
JSON, string numbers) and hard negatives (mentions, examples in fences, hallucinated tools,
explanations, truncated calls, code that defines a function, tool definitions, data that
looks like JSON, questions). ``expected`` holds the calls as they must come out: schema
defaults filled in, types as the schema says.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from tools import CATALOGUE  # noqa: E402

from intently.toolcalls.render import FORMATS, SINGLE_CALL  # noqa: E402

SEED = 20261203
PER_FORMAT = 10
PREFIXES = [
    "",
    "",
    "",
    "Let me check that for you.\n",
    "Sure! I'll look that up.\n\n",
    "I'll use the available tools to answer.\n",
    "On it.\n",
    "To answer this I need some live data first.\n\n",
    "<think>\nThe user wants information I don't have. I should call a tool.\n</think>\n\n",
    "<think>\nMaybe I could answer from memory, but the data changes. Use the tool.\n</think>\n",
]
SUFFIXES = [
    "",
    "",
    "",
    "\n\nI'll share the results as soon as they come back.",
    "\nOne moment while I fetch that.",
    "\n\nLet me know if you need anything else.",
]
NOT_OFFERED = [
    "book_hotel",
    "order_pizza",
    "get_horoscope",
    "delete_account",
    "launch_rocket",
    "fetch_lottery_numbers",
    "summon_taxi",
]


def with_defaults(name: str, args: dict[str, Any]) -> dict[str, Any]:
    props = CATALOGUE[name][0]["parameters"]["properties"]
    out = dict(args)
    for key, schema in props.items():
        if key not in out and "default" in schema:
            out[key] = schema["default"]
    return out


def offered(rng: random.Random, must: list[str]) -> list[dict[str, Any]]:
    must = list(dict.fromkeys(must))
    others = [n for n in CATALOGUE if n not in must]
    names = must + rng.sample(others, rng.randint(1, 4))
    rng.shuffle(names)
    return [CATALOGUE[n][0] for n in names]


def draw_calls(rng: random.Random, count: int) -> list[tuple[str, dict[str, Any]]]:
    names = (
        rng.sample(list(CATALOGUE), count)
        if rng.random() < 0.8
        else [rng.choice(list(CATALOGUE))] * count
    )
    return [(n, CATALOGUE[n][1](rng)) for n in names]


def case(
    cid: str,
    fmt: str,
    tools: list[dict[str, Any]],
    output: str,
    expected: list[tuple[str, dict[str, Any]]],
    **extra: Any,
) -> dict[str, Any]:
    return {
        "id": cid,
        "format": fmt,
        "tools": tools,
        "output": output,
        "expected": [{"name": n, "arguments": with_defaults(n, a)} for n, a in expected],
        **extra,
    }


def positives(rng: random.Random) -> list[dict[str, Any]]:
    out = []
    for fmt, render in FORMATS.items():
        for i in range(PER_FORMAT):
            count = 1 if fmt in SINGLE_CALL or rng.random() < 0.65 else rng.randint(2, 3)
            calls = draw_calls(rng, count)
            body = render(calls, rng)
            prefix, suffix = rng.choice(PREFIXES), rng.choice(SUFFIXES)
            if prefix.startswith("<think>") and rng.random() < 0.5:
                decoy = FORMATS["hermes"]([draw_calls(rng, 1)[0]], rng)
                prefix = prefix.replace("</think>", f"Draft: {decoy}\n</think>")
            tools = offered(rng, [n for n, _ in calls])
            out.append(case(f"{fmt}-{i:02d}", fmt, tools, prefix + body + suffix, calls))
    return out


PHRASE_TEMPLATES = [
    "I'll call the {name} tool with {pairs}.",
    "Calling {name} with {pairs}.",
    "Let me use `{name}` with {pairs}.",
    "Now running {name}: {pairs}",
    "I am going to invoke the {name} function using {pairs}.",
    "Running {call} now.",
    "Let me call {call} to find out.",
]


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool) and "," not in str(value)


def _shown(value: Any, rng: random.Random) -> str:
    """A value as a person writes it: quoted when it has spaces (or at random)."""
    if isinstance(value, str) and (" " in value or rng.random() < 0.3):
        return json.dumps(value, ensure_ascii=False)
    return str(value).lower() if isinstance(value, bool) else str(value)


def phrases(rng: random.Random) -> list[dict[str, Any]]:
    out = []
    i = 0
    while len(out) < 20:
        ((name, args),) = draw_calls(rng, 1)
        if not all(_scalar(v) for v in args.values()):
            continue
        template = rng.choice(PHRASE_TEMPLATES)
        sep = rng.choice(["=", ": "])
        pairs = [f"{k}{sep}{_shown(v, rng)}" for k, v in args.items()]
        joined = ", ".join(pairs[:-1]) + (" and " if len(pairs) > 1 else "") + pairs[-1]
        call = f"{name}({', '.join(f'{k}={v!r}' for k, v in args.items())})"
        text = template.format(
            name=name, pairs=joined, call=f"`{call}`" if rng.random() < 0.5 else call
        )
        out.append(
            case(
                f"phrase-{i:02d}",
                "phrase",
                offered(rng, [name]),
                rng.choice(PREFIXES[:8]) + text,
                [(name, args)],
            )
        )
        i += 1
    return out


def hard_positives(rng: random.Random) -> list[dict[str, Any]]:
    out = []
    for i in range(6):  # the name written in another case or with a namespace
        ((name, args),) = draw_calls(rng, 1)
        camel = name.split("_")[0] + "".join(p.title() for p in name.split("_")[1:])
        shown = rng.choice([camel, f"functions.{name}", name.upper(), f"default_api.{name}"])
        output = FORMATS["hermes"]([(shown, args)], rng)
        out.append(case(f"hard-name-{i}", "hermes", offered(rng, [name]), output, [(name, args)]))
    for i in range(6):  # broken JSON the repair must mend (the block is closed)
        ((name, args),) = draw_calls(rng, 1)
        body = json.dumps({"name": name, "arguments": args})
        broken = rng.choice(
            [
                body[:-1] + ",}" if False else body.replace("}}", ",}}", 1),
                body.replace('"name"', "name", 1),
                body.replace(', "', ',\n "')[:-2] + "}",
            ]
        )
        out.append(
            case(
                f"hard-repair-{i}",
                "hermes",
                offered(rng, [name]),
                f"<tool_call>\n{broken}\n</tool_call>",
                [(name, args)],
            )
        )
    for i in range(6):  # numbers and booleans written as strings; enum in another case
        ((name, args),) = draw_calls(rng, 1)
        loose = {
            k: (
                str(v).lower()
                if isinstance(v, bool)
                else str(v)
                if isinstance(v, int | float)
                else v.upper()
                if k in ("unit", "mode", "cabin")
                else v
            )
            for k, v in args.items()
        }
        out.append(
            case(
                f"hard-coerce-{i}",
                "hermes",
                offered(rng, [name]),
                FORMATS["hermes"]([(name, loose)], rng),
                [(name, args)],
            )
        )
    for i in range(6):  # prose mentions <tool_call> before the real call
        calls = draw_calls(rng, 1)
        lead = rng.choice(
            [
                "I will answer with a <tool_call> block as instructed.\n",
                "Using the <tool_call> format:\n",
                "(Tool calls go inside <tool_call> tags.)\n",
            ]
        )
        out.append(
            case(
                f"hard-literal-{i}",
                "hermes",
                offered(rng, [calls[0][0]]),
                lead + FORMATS["hermes"](calls, rng),
                calls,
            )
        )
    for i in range(6):  # prose after the call, several paragraphs
        calls = draw_calls(rng, 2)
        text = (
            "Two things to check.\n\n"
            + FORMATS["hermes"]([calls[0]], rng)
            + "\n\nAnd the second one:\n\n"
            + FORMATS["hermes"]([calls[1]], rng)
            + "\n\nI'll combine both answers once they are in."
        )
        out.append(
            case(f"hard-prose-{i}", "hermes", offered(rng, [n for n, _ in calls]), text, calls)
        )
    return out


def negatives(rng: random.Random) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def add(kind: str, tools: list[dict[str, Any]], text: str, **extra: Any) -> None:
        n = sum(1 for c in out if c["format"] == kind)
        out.append(case(f"neg-{kind}-{n:02d}", kind, tools, text, [], **extra))

    for _ in range(12):
        ((name, args),) = draw_calls(rng, 1)
        first = next(iter(args))
        other = rng.choice([n for n in CATALOGUE if n != name])
        text = rng.choice(
            [
                f"I can use the {name} tool for that if you tell me the details.",
                f"The tools available to me are {name} and {other}.",
                f"I used {name} earlier today, and it returned nothing useful.",
                f"You could call `{name}` yourself with {first}={args[first]}.",
                f"If you want, I can run {name} once you confirm.",
                f"Note that {name} is rate limited to 10 requests per minute.",
                f"The {name} function would need a {next(iter(args))} to work.",
            ]
        )
        add("mention", offered(rng, [name, other]), text)
    for _ in range(14):
        calls = draw_calls(rng, 1)
        fmt = rng.choice(["fenced_json", "hermes", "pythonic", "xlam", "mistral"])
        body = FORMATS[fmt](calls, rng)
        if not body.startswith("```"):
            body = f"```\n{body}\n```"
        lead = rng.choice(
            [
                "Here is an example of the format the tool expects:\n",
                "For example, a call looks like this:\n",
                "The request should look like:\n",
                "You can call it like this:\n",
                "Example output from the model:\n",
            ]
        )
        tail = rng.choice(
            [
                "",
                "\nReplace the values with your own.",
                "\nThis is just an example; tell me the real values.",
            ]
        )
        add("fenced_example", offered(rng, [calls[0][0]]), lead + body + tail)
    for _ in range(8):
        calls = draw_calls(rng, 1)
        text = rng.choice(
            [
                "To use a tool, write {} in your reply and wait for the result.",
                "Models like Qwen emit calls such as {} when they want a tool.",
                "The output {} means the assistant is calling a tool.",
            ]
        ).format(FORMATS["hermes"](calls, rng).replace("\n", ""))
        add("inline_example", offered(rng, [calls[0][0]]), text)
    for _ in range(14):
        fake = rng.choice(NOT_OFFERED)
        args = {"query": "something"} if rng.random() < 0.5 else {"id": rng.randint(1, 99)}
        fmt = rng.choice(
            ["hermes", "mistral", "xlam", "llama_json", "qwen3_coder", "pythonic", "deepseek_v31"]
        )
        tools = offered(rng, [])
        rejected = [{"name": fake, "problem": "unknown_tool"}] if fmt != "pythonic" else []
        add(
            "hallucinated",
            tools,
            rng.choice(PREFIXES[:6]) + FORMATS[fmt]([(fake, args)], rng),
            rejected=rejected,
        )
    for _ in range(12):
        ((name, args),) = draw_calls(rng, 1)
        keys = list(args)
        text = rng.choice(
            [
                f"The {name} function takes {', '.join(f'`{k}`' for k in keys)} and returns JSON.",
                f"{name}({', '.join(keys)}) is the signature; the first argument is required.",
                f"To look this up I would need the {name} tool, but it needs a {keys[0]} first. "
                f"Which one do you mean?",
                f"Calling {name} requires {keys[0]}: what value should I use?",
                f"The tool call format is JSON with a name (e.g. {name}) and an arguments object.",
            ]
        )
        add("explanation", offered(rng, [name]), text)
    for _ in range(14):
        calls = draw_calls(rng, 1)
        fmt = rng.choice(
            [
                "hermes",
                "mistral",
                "xlam",
                "bare_json",
                "llama_json",
                "openai_json",
                "deepseek_v31",
                "kimi_k2",
                "mistral_v11",
                "react",
            ]
        )
        body = FORMATS[fmt](calls, rng)
        cut = body.rfind('"', 0, len(body) - 4)
        cut = rng.randint(max(cut - 8, len(body) // 2), max(cut, len(body) // 2 + 1))
        head = body[:cut]
        if head.count("{") <= head.count("}"):
            head = body[: body.index("{") + 3]
        add("truncated", offered(rng, [calls[0][0]]), rng.choice(PREFIXES[:5]) + head)
    for _ in range(12):
        ((name, args),) = draw_calls(rng, 1)
        keys = list(args)
        text = rng.choice(
            [
                f'```python\ndef {name}({", ".join(keys)}):\n    """Stub."""\n    return None\n```',
                f"```python\nresult = {name}({', '.join(f'{k}={v!r}' for k, v in args.items())})\n"
                "print(result)\n```",
                f"Here is a mock you can use in tests:\n```python\nfrom unittest import mock\n\n"
                f"def {name}(**kwargs):\n    return {{'ok': True}}\n\n{name}({keys[0]}='x')\n```",
                f"```js\nconst data = await {name}({json.dumps(args)});\nconsole.log(data);\n```",
                f"```python\nimport requests\nrequests.get('https://api.example.com/{name}')\n```",
            ]
        )
        add("code_definition", offered(rng, [name]), text)
    for _ in range(6):
        ((name, _),) = draw_calls(rng, 1)
        definition = json.dumps(CATALOGUE[name][0], indent=2)
        add(
            "tool_definition",
            offered(rng, [name]),
            f"This is the definition of the tool I have:\n```json\n{definition}\n```",
        )
    for _ in range(8):
        text = rng.choice(
            [
                'The result was {"city": "Paris", "temperature": 21, "unit": "celsius"}.',
                'Here are the users:\n```json\n[{"name": "Alice", "age": 30}, '
                '{"name": "Bob", "age": 25}]\n```',
                'The API responded with {"status": "ok", "name": "report.pdf", "size": 10240}.',
                "Sources: [1] Wikipedia, [2] Britannica (see [3] for the map).",
                "Use `print(x)` to inspect the value, then call `len(x)` on it.",
                'The config sets {"retries": 3, "timeout": 2.5}; nothing else changed.',
            ]
        )
        add("data_json", offered(rng, []), text)
    for _ in range(8):
        ((name, args),) = draw_calls(rng, 1)
        k, v = next(iter(args.items()))
        text = rng.choice(
            [
                f"Should I call {name} with {k}={v}?",
                f"Do you want me to run {name} with {k}: {v}, or something else?",
                f"I won't call {name} with {k}={v} since you already have that information.",
                f"Don't use {name} with {k}={v}; it is deprecated.",
            ]
        )
        add("question", offered(rng, [name]), text)
    for _ in range(6):
        calls = draw_calls(rng, 1)
        text = (
            "<think>\nI could call "
            + FORMATS["hermes"](calls, rng)
            + "\nbut I already know the answer.\n</think>\n\n"
            + rng.choice(
                [
                    "It is 21°C and sunny.",
                    "The answer is 42.",
                    "I don't need a tool for this: it's Tuesday.",
                ]
            )
        )
        add("think_only", offered(rng, [calls[0][0]]), text)
    for _ in range(6):
        ((name, args),) = draw_calls(rng, 1)
        required = CATALOGUE[name][0]["parameters"]["required"]
        partial = {k: v for k, v in args.items() if k != required[0]}
        add(
            "missing_required",
            offered(rng, [name]),
            FORMATS["hermes"]([(name, partial)], rng),
            rejected=[{"name": name, "problem": "missing required parameter"}],
        )
    for _ in range(5):
        ((name, _),) = draw_calls(rng, 1)
        add(
            "react_template",
            offered(rng, [name]),
            "Answer using this format:\n\nThought: think about what to do\n"
            f"Action: the action to take, one of [{name}]\nAction Input: the input to the action\n"
            "Observation: the result of the action\n... (repeat as needed)\n"
            "Final Answer: the answer",
        )
    for _ in range(8):
        add(
            "plain",
            offered(rng, []),
            rng.choice(
                [
                    "The capital of Kenya is Nairobi.",
                    "Sure! Here's a haiku:\nAutumn moonlight—\na worm digs silently\n"
                    "into the chestnut.",
                    "I can't help with that request.",
                    "Your meeting is at 3pm (UTC+1) in room [B2].",
                    "Step 1: preheat the oven to 200°C. Step 2: bake for 20 minutes.",
                    "The function f(x) = x^2 has its minimum at x = 0.",
                ]
            ),
        )
    return out


def main() -> None:
    rng = random.Random(SEED)
    cases = positives(rng) + phrases(rng) + hard_positives(rng) + negatives(rng)
    path = HERE / "cases.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        for item in cases:
            handle.write(json.dumps(item, ensure_ascii=False) + "\n")
    pos = sum(1 for c in cases if c["expected"])
    print(f"{len(cases)} cases ({pos} with calls, {len(cases) - pos} without) -> {path}")


if __name__ == "__main__":
    main()
