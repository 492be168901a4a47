"""Writing calls the way each model family writes them (the inverse of the detectors).

Used by the benchmark to render BFCL answers into every format at run time, and by the corpus
generator in ``tests/data/toolcalls/``. Each renderer takes ``[(name, arguments)]`` and a
seeded :class:`random.Random` for the small variations real outputs show (spacing, key
order, arguments as an object or as a JSON string).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any

Call = tuple[str, Mapping[str, Any]]
Renderer = Callable[[Sequence[Call], random.Random], str]


def _dumps(value: Any, rng: random.Random, *, compact: bool | None = None) -> str:
    compact = rng.random() < 0.3 if compact is None else compact
    return json.dumps(value, ensure_ascii=False, separators=(",", ":") if compact else None)


def _obj(
    name: str,
    args: Mapping[str, Any],
    rng: random.Random,
    *,
    key: str = "arguments",
    as_string: bool = False,
) -> dict[str, Any]:
    value: Any = _dumps(dict(args), rng) if as_string else dict(args)
    pairs = [("name", name), (key, value)]
    if rng.random() < 0.15:
        pairs.reverse()
    return dict(pairs)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _py(value: Any) -> str:
    return repr(value)


def _pycall(name: str, args: Mapping[str, Any], rng: random.Random) -> str:
    sep = ", " if rng.random() < 0.85 else ","
    return f"{name}({sep.join(f'{k}={_py(v)}' for k, v in args.items())})"


def hermes(calls: Sequence[Call], rng: random.Random) -> str:
    nl = "\n" if rng.random() < 0.8 else ""
    return "\n".join(
        f"<tool_call>{nl}{_dumps(_obj(n, a, rng), rng)}{nl}</tool_call>" for n, a in calls
    )


def hermes_str_args(calls: Sequence[Call], rng: random.Random) -> str:
    return "\n".join(
        f"<tool_call>\n{_dumps(_obj(n, a, rng, as_string=True), rng)}\n</tool_call>"
        for n, a in calls
    )


def _xml_functions(calls: Sequence[Call], tag: str, nl: str) -> str:
    """``<tag><function=NAME><parameter=P>V</parameter>…</function></tag>`` per call; ``nl``
    is what surrounds each value (Qwen3-Coder puts values on their own lines)."""
    out = []
    for name, args in calls:
        params = "".join(
            f"<parameter={k}>{nl}{_text(v)}{nl}</parameter>{nl}" for k, v in args.items()
        )
        out.append(f"<{tag}>\n<function={name}>{nl}{params}</function>\n</{tag}>")
    return "\n".join(out)


def qwen3_coder(calls: Sequence[Call], rng: random.Random) -> str:
    return _xml_functions(calls, "tool_call", "\n")


def seed_oss(calls: Sequence[Call], rng: random.Random) -> str:
    return _xml_functions(calls, "seed:tool_call", "")


def mistral(calls: Sequence[Call], rng: random.Random) -> str:
    space = " " if rng.random() < 0.6 else ""
    return f"[TOOL_CALLS]{space}{_dumps([_obj(n, a, rng) for n, a in calls], rng)}"


def mistral_v11(calls: Sequence[Call], rng: random.Random) -> str:
    return "".join(f"[TOOL_CALLS]{n}[ARGS]{_dumps(dict(a), rng)}" for n, a in calls)


def llama_json(calls: Sequence[Call], rng: random.Random) -> str:
    body = "; ".join(_dumps(_obj(n, a, rng, key="parameters"), rng) for n, a in calls)
    return f"<|python_tag|>{body}" + ("<|eom_id|>" if rng.random() < 0.3 else "")


def llama_json_bare(calls: Sequence[Call], rng: random.Random) -> str:
    return "; ".join(_dumps(_obj(n, a, rng, key="parameters"), rng) for n, a in calls)


def pythonic(calls: Sequence[Call], rng: random.Random) -> str:
    return "[" + ", ".join(_pycall(n, a, rng) for n, a in calls) + "]"


def llama4_pythonic(calls: Sequence[Call], rng: random.Random) -> str:
    return f"<|python_start|>{pythonic(calls, rng)}<|python_end|>"


def glaive(calls: Sequence[Call], rng: random.Random) -> str:
    name, args = calls[0]
    inner = json.dumps(dict(args), ensure_ascii=False)
    return f'<functioncall> {{"name": "{name}", "arguments": \'{inner}\'}}'


def react(calls: Sequence[Call], rng: random.Random) -> str:
    blocks = []
    for name, args in calls:
        thought = rng.choice(
            ["I need to use a tool.", "I should look this up.", f"The {name} tool can answer this."]
        )
        blocks.append(
            f"Thought: {thought}\nAction: {name}\nAction Input: {_dumps(dict(args), rng)}"
        )
    return "\n".join(blocks)


def granite(calls: Sequence[Call], rng: random.Random) -> str:
    return f"<|tool_call|>{_dumps([_obj(n, a, rng) for n, a in calls], rng)}"


def granite20b(calls: Sequence[Call], rng: random.Random) -> str:
    return "\n".join(f"<function_call> {_dumps(_obj(n, a, rng), rng)}" for n, a in calls)


def internlm(calls: Sequence[Call], rng: random.Random) -> str:
    name, args = calls[0]
    return (
        f"<|action_start|><|plugin|>\n{_dumps(_obj(name, args, rng, key='parameters'), rng)}"
        "<|action_end|>"
    )


def phi4_mini(calls: Sequence[Call], rng: random.Random) -> str:
    return f"functools{_dumps([_obj(n, a, rng) for n, a in calls], rng)}"


def deepseek_v3(calls: Sequence[Call], rng: random.Random) -> str:
    body = "".join(
        f"<｜tool▁call▁begin｜>function<｜tool▁sep｜>{n}\n```json\n{_dumps(dict(a), rng)}\n```"
        "<｜tool▁call▁end｜>"
        for n, a in calls
    )
    return f"<｜tool▁calls▁begin｜>{body}<｜tool▁calls▁end｜>"


def deepseek_v31(calls: Sequence[Call], rng: random.Random) -> str:
    body = "".join(
        f"<｜tool▁call▁begin｜>{n}<｜tool▁sep｜>{_dumps(dict(a), rng)}<｜tool▁call▁end｜>"
        for n, a in calls
    )
    return f"<｜tool▁calls▁begin｜>{body}<｜tool▁calls▁end｜>"


def deepseek_v32(calls: Sequence[Call], rng: random.Random) -> str:
    """DeepSeek V3.2 DSML: string parameters as text, the others as JSON."""
    invokes = "".join(
        f'<｜DSML｜invoke name="{n}">\n'
        + "".join(
            f'<｜DSML｜parameter name="{k}" string="{str(isinstance(v, str)).lower()}">'
            f"{_text(v)}</｜DSML｜parameter>\n"
            for k, v in a.items()
        )
        + "</｜DSML｜invoke>\n"
        for n, a in calls
    )
    return f"<｜DSML｜function_calls>\n{invokes}</｜DSML｜function_calls>"


def olmo3(calls: Sequence[Call], rng: random.Random) -> str:
    return (
        "<function_calls>\n"
        + "\n".join(_pycall(n, a, rng) for n, a in calls)
        + "\n</function_calls>"
    )


def xlam(calls: Sequence[Call], rng: random.Random) -> str:
    return _dumps([_obj(n, a, rng) for n, a in calls], rng)


def jamba(calls: Sequence[Call], rng: random.Random) -> str:
    return f"<tool_calls>{_dumps([_obj(n, a, rng) for n, a in calls], rng)}</tool_calls>"


def kimi_k2(calls: Sequence[Call], rng: random.Random) -> str:
    body = "".join(
        f"<|tool_call_begin|>functions.{n}:{i}<|tool_call_argument_begin|>{_dumps(dict(a), rng)}"
        "<|tool_call_end|>"
        for i, (n, a) in enumerate(calls)
    )
    return f"<|tool_calls_section_begin|>{body}<|tool_calls_section_end|>"


def harmony(calls: Sequence[Call], rng: random.Random) -> str:
    return "".join(
        f"<|start|>assistant<|channel|>commentary to=functions.{n} <|constrain|>json"
        f"<|message|>{_dumps(dict(a), rng)}<|call|>"
        for n, a in calls
    )


def glm45(calls: Sequence[Call], rng: random.Random) -> str:
    out = []
    for name, args in calls:
        pairs = "".join(
            f"<arg_key>{k}</arg_key>\n<arg_value>{_text(v)}</arg_value>\n" for k, v in args.items()
        )
        out.append(f"<tool_call>{name}\n{pairs}</tool_call>")
    return "\n".join(out)


def minimax(calls: Sequence[Call], rng: random.Random) -> str:
    invokes = "".join(
        f'<invoke name="{n}">\n'
        + "".join(f'<parameter name="{k}">{_text(v)}</parameter>\n' for k, v in a.items())
        + "</invoke>\n"
        for n, a in calls
    )
    return f"<minimax:tool_call>\n{invokes}</minimax:tool_call>"


def functionary(calls: Sequence[Call], rng: random.Random) -> str:
    return "".join(f"<function={n}>{_dumps(dict(a), rng)}</function>" for n, a in calls)


def fenced_json(calls: Sequence[Call], rng: random.Random) -> str:
    value: Any = _obj(*calls[0], rng) if len(calls) == 1 else [_obj(n, a, rng) for n, a in calls]
    return f"```json\n{json.dumps(value, indent=2, ensure_ascii=False)}\n```"


def bare_json(calls: Sequence[Call], rng: random.Random) -> str:
    return "\n".join(
        _dumps(_obj(n, a, rng, key=rng.choice(["arguments", "parameters"])), rng) for n, a in calls
    )


def openai_json(calls: Sequence[Call], rng: random.Random) -> str:
    return _dumps(
        {
            "tool_calls": [
                {
                    "id": f"call_{i}",
                    "type": "function",
                    "function": {"name": n, "arguments": json.dumps(dict(a), ensure_ascii=False)},
                }
                for i, (n, a) in enumerate(calls)
            ]
        },
        rng,
    )


def langchain(calls: Sequence[Call], rng: random.Random) -> str:
    name, args = calls[0]
    return f"```json\n{json.dumps({'action': name, 'action_input': dict(args)}, indent=2)}\n```"


def function_gemma(calls: Sequence[Call], rng: random.Random) -> str:
    def value(v: Any) -> str:
        return f"<escape>{v}<escape>" if isinstance(v, str) else json.dumps(v, ensure_ascii=False)

    return "".join(
        f"<start_function_call>call:{n}{{{','.join(f'{k}:{value(v)}' for k, v in a.items())}}}"
        "<end_function_call>"
        for n, a in calls
    )


def gemma_tool_code(calls: Sequence[Call], rng: random.Random) -> str:
    return "```tool_code\n" + "\n".join(_pycall(n, a, rng) for n, a in calls) + "\n```"


FORMATS: dict[str, Renderer] = {
    "hermes": hermes,
    "hermes_str_args": hermes_str_args,
    "qwen3_coder": qwen3_coder,
    "seed_oss": seed_oss,
    "mistral": mistral,
    "mistral_v11": mistral_v11,
    "llama_json": llama_json,
    "llama_json_bare": llama_json_bare,
    "pythonic": pythonic,
    "llama4_pythonic": llama4_pythonic,
    "glaive": glaive,
    "react": react,
    "granite": granite,
    "granite20b": granite20b,
    "internlm": internlm,
    "phi4_mini": phi4_mini,
    "deepseek_v3": deepseek_v3,
    "deepseek_v31": deepseek_v31,
    "deepseek_v32": deepseek_v32,
    "olmo3": olmo3,
    "xlam": xlam,
    "jamba": jamba,
    "kimi_k2": kimi_k2,
    "harmony": harmony,
    "glm45": glm45,
    "minimax": minimax,
    "functionary": functionary,
    "fenced_json": fenced_json,
    "bare_json": bare_json,
    "openai_json": openai_json,
    "langchain": langchain,
    "gemma_tool_code": gemma_tool_code,
    "function_gemma": function_gemma,
}
SINGLE_CALL = frozenset({"glaive", "internlm", "langchain", "react"})
"""Formats that carry one call per output."""
