"""Extractors for the marked tool-call formats engines emit (one function per family).

Each takes the (reasoning-masked) text and returns candidates whose span covers the marked
block. The shapes come from vLLM's tool parsers and their tests
(``vllm/entrypoints/openai/tool_parsers``): Hermes/Qwen ``<tool_call>``, Mistral
``[TOOL_CALLS]`` (JSON list, and ``name[ARGS]{...}`` of tokenizer v11+), Llama
``<|python_tag|>`` and ``<|python_start|>``, Granite ``<|tool_call|>``, InternLM
``<|action_start|><|plugin|>``, Phi-4-mini ``functools[...]``, DeepSeek V3/V3.1/R1 and Step-3
``<｜tool▁call▁begin｜>``, Kimi-K2 ``<|tool_call_begin|>``, gpt-oss (harmony)
``to=functions.NAME ... <|message|>``, Qwen3-Coder/Seed-OSS ``<function=NAME><parameter=P>``,
Functionary/Llama-3.1 ``<function=NAME>{...}</function>``, MiniMax/Anthropic ``<invoke
name=...>``, GLM-4.5 ``<arg_key>``, Jamba/Hunyuan ``<tool_calls>``, Glaive ``<functioncall>``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

from intently.toolcalls.records import Candidate, Span
from intently.toolcalls.scan import balanced_end
from intently.toolcalls.values import Unreadable, calls_in_value, load_value, python_calls

TAGGED = 0.97
MAX_REPAIR_CHARS = 20_000
"""Longer unbalanced text is not repaired (json-repair's cost grows with it)."""
_VALUE_START = re.compile(r"[\[{]")
_NAME_IN_PARTIAL = re.compile(r"""["']?(?:name|function|tool_name)["']?\s*:\s*["']([\w.\-]+)""")
_BARE_NAME = re.compile(r"^\s*[A-Za-z_][\w.\-]*\s*$")
_PY_START = re.compile(r"\s*\[?\s*[A-Za-z_][\w.]*\s*\(")
_FENCED_BODY = re.compile(r"```[\w]*\s*\n?(.*?)\n?```", re.S)

# Generic XML-ish tags whose body holds calls; closed by </tag>, else by the next opening.
TAG_OPEN = re.compile(
    r"<(?P<tag>(?:[A-Za-z][\w:\-]*?)?(?:tool_?calls?|function_?calls?|functioncall|tool_code|"
    r"tool_use)[\w\-]*)>"
)
# Special-token openers: (format, opener, closers).
SPECIAL_TAGS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("granite", "<|tool_call|>", ()),
    ("internlm", "<|action_start|><|plugin|>", ("<|action_end|>",)),
    ("llama_json", "<|python_tag|>", ("<|eom_id|>", "<|eot_id|>")),
    ("llama4_pythonic", "<|python_start|>", ("<|python_end|>",)),
    ("phi4_mini", "functools", ()),
)
_XML_FUNCTION = re.compile(r"<function=([\w.\-]+)>(.*?)(</function>|(?=<function=)|\Z)", re.S)
_XML_PARAMETER = re.compile(
    r"<parameter=([\w.\-]+)>(.*?)(?:</parameter>|(?=<parameter=)|(?=</function>)|\Z)", re.S
)
# MiniMax-M2 <invoke>, Step-3 <steptml:invoke>, DeepSeek V3.2 <｜DSML｜invoke>.
_NS = r"(?:[\w]+:|[｜|]DSML[｜|])?"
_INVOKE = re.compile(
    rf"<{_NS}invoke\s+name=[\"']([^\"']+)[\"'][^>]*>(.*?)(</{_NS}invoke>|\Z)", re.S
)
_INVOKE_PARAMETER = re.compile(
    rf"<{_NS}parameter\s+name=[\"']([^\"']+)[\"'][^>]*>(.*?)</{_NS}parameter>", re.S
)
_GLM = re.compile(r"^\s*([\w.\-]+)\s*(<arg_key>.*)", re.S)
_GLM_PAIR = re.compile(r"<arg_key>(.*?)</arg_key>\s*<arg_value>(.*?)(?:</arg_value>|\Z)", re.S)
_DEEPSEEK = re.compile(
    r"<[｜|]tool[▁_ ]call[▁_ ]begin[｜|]>([^<]{0,200}?)<[｜|]tool[▁_ ]sep[｜|]>(.*?)"
    r"(<[｜|]tool[▁_ ]call[▁_ ]end[｜|]>|(?=<[｜|]tool[▁_ ]call[▁_ ]begin[｜|]>)"
    r"|(?=<[｜|]tool[▁_ ]calls[▁_ ]end)|\Z)",
    re.S,
)
_KIMI = re.compile(
    r"<\|tool_call_begin\|>\s*(?:functions\.)?([\w.\-]+?)(?::\d+)?\s*"
    r"<\|tool_call_argument_begin\|>(.*?)(<\|tool_call_end\|>|(?=<\|tool_call_begin\|>)|\Z)",
    re.S,
)
_HARMONY = re.compile(
    r"to=(?:functions\.)?([\w.\-]+)[^<\n]*?(?:\s*<\|channel\|>[^<]*)?"
    r"(?:\s*<\|constrain\|>[^<]*)?\s*<\|message\|>(.*?)(<\|call\|>|<\|end\|>|(?=<\|start\|>)|\Z)",
    re.S,
)
_GEMMA_CALL = re.compile(
    r"<start_function_call>\s*call:([\w.\-]+)\{(.*?)\}\s*(<end_function_call>|\Z)", re.S
)
_GEMMA_KEY = re.compile(r"\s*([\w.\-]+)\s*:\s*")
_MISTRAL_NAMED = re.compile(
    r"\s*([A-Za-z_][\w.\-]*)\s*(?:\[CALL_ID\]\s*\w+\s*)?(?:\[ARGS\])?\s*(?=\{)"
)


def _cand(
    name: str,
    args: Any,
    start: int,
    end: int,
    fmt: str,
    *,
    truncated: bool = False,
    context: str = "tagged",
    score: float = TAGGED,
    state: str = "ok",
) -> Candidate:
    return Candidate(
        name=name,
        raw_arguments=args,
        score=score,
        span=Span(start, end),
        detector="structure",
        context=context,
        format=fmt,
        truncated=truncated or state == "truncated",
        repaired=state == "repaired",
    )


def json_values(
    text: str, start: int, end: int, *, closed: bool, names: Sequence[str]
) -> Iterator[tuple[str, Any, int, int, str]]:
    """``(name, args, start, end, state)`` for each call in the JSON values of
    ``text[start:end]``; ``state`` is ``ok``, ``repaired`` or ``truncated``. ``closed`` says
    the block's end marker was seen (then a value that does not balance is repaired;
    otherwise it is a truncated call)."""
    position = start
    while True:
        match = _VALUE_START.search(text, position, end)
        if match is None:
            return
        value_start = match.start()
        value_end = balanced_end(text, value_start, end)
        if value_end is None:
            partial = text[value_start:end]
            if closed and len(partial) <= MAX_REPAIR_CHARS:
                try:
                    value, _ = load_value(partial.strip(), closed=True)
                except Unreadable:
                    value = None
                if value is not None:
                    yield from _calls_with_spans(text, value, value_start, end, names, "repaired")
                    return
            found = _NAME_IN_PARTIAL.search(partial)
            if found:
                yield found.group(1), None, value_start, end, "truncated"
            return
        try:
            value, repaired = load_value(text[value_start:value_end], closed=True)
        except Unreadable:
            position = value_end  # nothing inside an unreadable value is read either
            continue
        state = "repaired" if repaired else "ok"
        yield from _calls_with_spans(text, value, value_start, value_end, names, state)
        position = value_end


def _calls_with_spans(
    text: str, value: Any, start: int, end: int, names: Sequence[str], state: str
) -> Iterator[tuple[str, Any, int, int, str]]:
    calls = list(calls_in_value(value, names))
    spans = _element_spans(text, start, end) if isinstance(value, list) else []
    if len(spans) != len(calls):
        spans = [(start + i, end) for i in range(len(calls))]  # distinct starts, shared end
    for (name, args), (s, e) in zip(calls, spans, strict=True):
        yield name, args, s, e, state


def _element_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    spans = []
    i = start + 1
    while i < end - 1:
        ch = text[i]
        if ch in "{[":
            element_end = balanced_end(text, i)
            if element_end is None:
                break
            spans.append((i, element_end))
            i = element_end
        else:
            i += 1
    return spans


def python_block(text: str, start: int, end: int, fmt: str) -> list[Candidate]:
    """Python-style calls filling ``text[start:end]`` (``[f(a=1), g(b='x')]`` or one a line)."""
    source = text[start:end]
    calls = python_calls(source)
    if calls is None:
        return []
    offset = start + len(source) - len(source.lstrip())
    width = max(1, len(source.strip()))
    return [
        _cand(
            name,
            args,
            offset + i if i else start,
            end if i == len(calls) - 1 else offset + width,
            fmt,
        )
        for i, (name, args) in enumerate(calls)
    ]


def block_calls(
    text: str,
    start: int,
    end: int,
    fmt: str,
    *,
    closed: bool,
    names: Sequence[str],
    block_start: int,
    block_end: int,
) -> list[Candidate]:
    """The calls in a marked block's body ``text[start:end]``, whatever its inner shape."""
    body = text[start:end]
    if "<function=" in body:
        return xml_functions(text, start, end, fmt, names)
    if "invoke" in body and _INVOKE.search(body):
        return invokes(text, start, end, fmt)
    if "<arg_key>" in body and (glm := _GLM.match(body)):
        args = {k.strip(): v.strip() for k, v in _GLM_PAIR.findall(glm.group(2))}
        truncated = not closed and not body.rstrip().endswith("</arg_value>")
        return [_cand(glm.group(1), args, block_start, block_end, "glm", truncated=truncated)]
    found = list(json_values(text, start, end, closed=closed, names=names))
    if found:
        out = []
        for index, (name, args, s, e, state) in enumerate(found):
            s = block_start if index == 0 else s
            e = block_end if index == len(found) - 1 and closed else e
            out.append(_cand(name, args, s, e, fmt, state=state))
        return out
    if _BARE_NAME.match(body):  # GLM-4.5 writes a call without arguments as its name alone
        return [_cand(body.strip(), {}, block_start, block_end, fmt, truncated=not closed)]
    if _PY_START.match(body):
        calls = python_block(text, start, end, fmt)
        if calls:
            first, last = calls[0], calls[-1]
            calls[0] = _cand(first.name, first.raw_arguments, block_start, first.span.end, fmt)
            if len(calls) > 1 or closed:
                calls[-1] = _cand(
                    last.name, last.raw_arguments, calls[-1].span.start, block_end, fmt
                )
        return calls
    return []


def xml_functions(
    text: str, start: int, end: int, fmt: str, names: Sequence[str]
) -> list[Candidate]:
    """Qwen3-Coder / Seed-OSS ``<function=NAME><parameter=P>V</parameter></function>`` and
    Functionary / Llama-3.1 ``<function=NAME>{json}</function>``."""
    out = []
    for match in _XML_FUNCTION.finditer(text, start, end):
        name, body, closer = match.group(1), match.group(2), match.group(3)
        closed = bool(closer)
        if "<parameter=" in body:
            args: Any = {p: _strip_newline(v) for p, v in _XML_PARAMETER.findall(body)}
            out.append(
                _cand(
                    name,
                    args,
                    match.start(),
                    match.end(),
                    fmt or "qwen3_coder",
                    truncated=not closed,
                )
            )
            continue
        stripped = body.strip()
        if not stripped:
            out.append(
                _cand(
                    name, {}, match.start(), match.end(), fmt or "qwen3_coder", truncated=not closed
                )
            )
            continue
        value_start = match.start(2) + body.index(stripped[0])
        value_end = balanced_end(text, value_start) if stripped[0] in "{[" else None
        if value_end is None or value_end > match.end(2):
            out.append(
                _cand(name, None, match.start(), match.end(), fmt or "functionary", truncated=True)
            )
            continue
        try:
            args, _ = load_value(text[value_start:value_end], closed=True)
        except Unreadable:
            continue
        out.append(
            _cand(
                name,
                args,
                match.start(),
                match.end(),
                fmt or "functionary",
                truncated=not closed and match.end() == len(text),
            )
        )
    return out


def _strip_newline(value: str) -> str:
    # The format puts the value on its own line; only that one newline each side is markup.
    value = value[1:] if value.startswith("\n") else value
    return value[:-1] if value.endswith("\n") else value


def invokes(text: str, start: int, end: int, fmt: str) -> list[Candidate]:
    """MiniMax-M2 / Step-3 / Anthropic-style ``<invoke name="N"><parameter name="P">V``."""
    return [
        _cand(
            m.group(1),
            {p: v.strip() for p, v in _INVOKE_PARAMETER.findall(m.group(2))},
            m.start(),
            m.end(),
            fmt or "invoke_xml",
            truncated=not m.group(3),
        )
        for m in _INVOKE.finditer(text, start, end)
    ]


def deepseek(text: str, names: Sequence[str]) -> list[Candidate]:
    out = []
    for match in _DEEPSEEK.finditer(text):
        head, body, closer = match.group(1).strip(), match.group(2), match.group(3)
        s, e = match.start(), match.end()
        if head in ("function", ""):
            if body.lstrip().startswith("<"):
                out.extend(
                    block_calls(
                        text,
                        match.start(2),
                        match.end(2),
                        "step3",
                        closed=bool(closer),
                        names=names,
                        block_start=s,
                        block_end=e,
                    )
                )
                continue
            name, _, rest = body.strip().partition("\n")
            fenced = _FENCED_BODY.search(rest)
            raw = fenced.group(1) if fenced else rest
            fmt = "deepseek_v3"
        else:
            name, raw, fmt = head, body, "deepseek_v31"
        out.append(_json_args_candidate(name.strip(), raw, s, e, fmt, closed=bool(closer)))
    return out


def _json_args_candidate(
    name: str, raw: str, start: int, end: int, fmt: str, *, closed: bool
) -> Candidate:
    raw = raw.strip()
    if not raw:
        return _cand(name, {}, start, end, fmt, truncated=not closed)
    if raw[0] in "{[" and balanced_end(raw, 0) is None and not closed:
        return _cand(name, None, start, end, fmt, truncated=True)
    return _cand(name, raw, start, end, fmt)


def kimi(text: str, names: Sequence[str]) -> list[Candidate]:
    return [
        _json_args_candidate(
            m.group(1), m.group(2), m.start(), m.end(), "kimi_k2", closed=bool(m.group(3))
        )
        for m in _KIMI.finditer(text)
    ]


def harmony(text: str, names: Sequence[str]) -> list[Candidate]:
    out = []
    for m in _HARMONY.finditer(text):
        raw = m.group(2).strip()
        end = m.start(2) + len(m.group(2).rstrip())
        closed = bool(m.group(3)) or (raw[:1] in "{[" and balanced_end(raw, 0) is not None)
        out.append(
            _json_args_candidate(
                m.group(1),
                raw,
                m.start(),
                max(end, m.end()) if m.group(3) else end,
                "harmony",
                closed=closed,
            )
        )
    return out


def function_gemma(text: str, names: Sequence[str]) -> list[Candidate]:
    """FunctionGemma: ``<start_function_call>call:NAME{key:<escape>text<escape>,n:3}``."""
    out = []
    for match in _GEMMA_CALL.finditer(text):
        out.append(
            _cand(
                match.group(1),
                _gemma_arguments(match.group(2)),
                match.start(),
                match.end(),
                "function_gemma",
                truncated=not match.group(3),
            )
        )
    return out


def _gemma_arguments(body: str) -> dict[str, Any]:
    args: dict[str, Any] = {}
    position = 0
    while (key := _GEMMA_KEY.match(body, position)) is not None:
        position = key.end()
        if body.startswith("<escape>", position):
            close = body.find("<escape>", position + 8)
            close = len(body) if close < 0 else close
            args[key.group(1)] = body[position + 8 : close]
            position = close + 8
        else:
            if body[position : position + 1] in ("[", "{"):
                end = balanced_end(body, position) or len(body)
            else:
                comma = body.find(",", position)
                end = len(body) if comma < 0 else comma
            raw = body[position:end].strip()
            try:
                args[key.group(1)], _ = load_value(raw, closed=True)
            except Unreadable:
                args[key.group(1)] = raw
            position = end
        position += body.startswith(",", position)
    return args


def mistral(text: str, names: Sequence[str]) -> list[Candidate]:
    """``[TOOL_CALLS] [{"name":…, "arguments":…}]`` and ``[TOOL_CALLS]name[ARGS]{…}``."""
    out = []
    marker = "[TOOL_CALLS]"
    position = text.find(marker)
    while position >= 0:
        body_start = position + len(marker)
        following = text.find(marker, body_start)
        body_end = len(text) if following < 0 else following
        stripped = text[body_start:body_end].lstrip()
        if stripped[:1] in "[{":
            out.extend(
                block_calls(
                    text,
                    body_start,
                    body_end,
                    "mistral",
                    closed=False,
                    names=names,
                    block_start=position,
                    block_end=body_end,
                )
            )
        else:
            cursor = body_start
            while (named := _MISTRAL_NAMED.match(text, cursor, body_end)) is not None:
                value_start = named.end()
                value_end = balanced_end(text, value_start, body_end)
                start = position if cursor == body_start else named.start(1)
                if value_end is None:
                    out.append(
                        _cand(named.group(1), None, start, body_end, "mistral_v11", truncated=True)
                    )
                    break
                out.append(
                    _cand(
                        named.group(1), text[value_start:value_end], start, value_end, "mistral_v11"
                    )
                )
                cursor = value_end
        position = following
    return out


def tag_blocks(text: str, names: Sequence[str]) -> list[Candidate]:
    """``<tool_call>…</tool_call>`` and every tag of that family, and the special-token
    openers of :data:`SPECIAL_TAGS`."""
    out: list[Candidate] = []
    for match in TAG_OPEN.finditer(text):
        tag = match.group("tag")
        close = f"</{tag}>"
        body_start = match.end()
        close_at = text.find(close, body_start)
        reopen = text.find(match.group(0), body_start)
        if close_at >= 0 and (reopen < 0 or close_at < reopen):
            body_end, block_end, closed = close_at, close_at + len(close), True
        else:
            body_end = block_end = len(text) if reopen < 0 else reopen
            closed = False
        fmt = "glaive" if tag == "functioncall" else _tag_format(tag)
        out.extend(
            block_calls(
                text,
                body_start,
                body_end,
                fmt,
                closed=closed,
                names=names,
                block_start=match.start(),
                block_end=block_end,
            )
        )
    for fmt, opener, closers in SPECIAL_TAGS:
        position = text.find(opener)
        while position >= 0:
            body_start = position + len(opener)
            if fmt == "phi4_mini" and not text.startswith("[", body_start):
                position = text.find(opener, body_start)
                continue
            reopen = text.find(opener, body_start)
            limit = len(text) if reopen < 0 else reopen
            ends = [at for c in closers if (at := text.find(c, body_start, limit)) >= 0]
            closed = bool(ends)
            body_end = min(ends) if ends else limit
            block_end = body_end + (
                len(next(c for c in closers if text.startswith(c, body_end))) if closed else 0
            )
            out.extend(
                block_calls(
                    text,
                    body_start,
                    body_end,
                    fmt,
                    closed=closed,
                    names=names,
                    block_start=position,
                    block_end=block_end,
                )
            )
            position = reopen
    return out


def _tag_format(tag: str) -> str:
    lowered = tag.lower()
    if lowered == "tool_call":
        return "hermes"
    if lowered == "tool_calls":
        return "jamba"
    return lowered.replace(":", "_")
