"""The tool catalogue of the tool-call corpus: realistic schemas and value pools.

Each entry is ``(tool, sampler)``: the tool as offered to a model, and a function drawing
plausible arguments (optional parameters sometimes left out, defaults then expected)."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

S = {"type": "string"}
I = {"type": "integer"}  # noqa: E741
N = {"type": "number"}
B = {"type": "boolean"}


def tool(
    name: str, description: str, properties: dict[str, Any], required: list[str]
) -> dict[str, Any]:
    return {
        "name": name,
        "description": description,
        "parameters": {"type": "object", "properties": properties, "required": required},
    }


CITIES = [
    "Paris",
    "Tokyo",
    "New York",
    "São Paulo",
    "Berlin",
    "Nairobi",
    "Sydney",
    "Toronto",
    "Mumbai",
    "Reykjavik",
    "Lagos",
    "Seoul",
    "Mexico City",
    "Oslo",
    "Cape Town",
]
PEOPLE = [
    "alice@example.com",
    "bob.smith@acme.io",
    "chen.wei@example.org",
    "dana@startup.dev",
    "e.okafor@univ.edu",
    "frank@example.net",
]
TOPICS = [
    "quarterly report",
    "offsite planning",
    "bug triage",
    "Q3 roadmap",
    "design review",
    "1:1 sync",
    "launch retro",
    "budget approval",
]
QUERIES = [
    "best ramen in Shibuya",
    "python asyncio timeout example",
    "how tall is Mount Kenya",
    "latest Rust release notes",
    "symptoms of vitamin D deficiency",
    "cheap flights to Lisbon in May",
    "who won the 2022 world cup",
    "transformer attention explained",
    "weather-proof bike locks",
]
TICKERS = ["AAPL", "MSFT", "NVDA", "TSLA", "AMZN", "GOOGL", "SAP", "TM"]
LANGS = ["fr", "de", "es", "ja", "pt", "sw", "ko"]
PHRASES = [
    "Where is the train station?",
    "Thank you for your help",
    "The meeting moved to 3pm",
    "Please send the invoice by Friday",
    "I would like a table for two",
]
AIRPORTS = ["SFO", "JFK", "LHR", "CDG", "NRT", "GRU", "NBO", "SYD", "FRA", "YYZ"]
DATES = ["2025-03-14", "2025-07-01", "2025-11-23", "2026-01-09", "2025-05-30"]
TIMES = ["09:00", "10:30", "14:00", "16:45", "18:15"]
FILES = ["notes/todo.md", "src/app.py", "data/sales_2024.csv", "README.md", "config/settings.yaml"]
SONGS = ["Bohemian Rhapsody", "Clair de Lune", "Blinding Lights", "Hey Jude", "Pata Pata"]
DEVICES = ["living room lights", "thermostat", "garage door", "kitchen speaker", "bedroom fan"]


def _maybe(rng: random.Random, p: float = 0.5) -> bool:
    return rng.random() < p


def weather(rng: random.Random) -> dict[str, Any]:
    args: dict[str, Any] = {"city": rng.choice(CITIES)}
    if _maybe(rng):
        args["unit"] = rng.choice(["celsius", "fahrenheit"])
    if _maybe(rng, 0.3):
        args["days"] = rng.randint(1, 7)
    return args


def send_email(rng: random.Random) -> dict[str, Any]:
    args: dict[str, Any] = {
        "to": rng.choice(PEOPLE),
        "subject": f"Re: {rng.choice(TOPICS)}",
        "body": rng.choice(
            [
                "See you then.",
                "Attached are the numbers.",
                "Can we move this to Thursday?",
                "Thanks, approved.",
            ]
        ),
    }
    if _maybe(rng, 0.3):
        args["cc"] = rng.sample(PEOPLE, 2)
    return args


def create_event(rng: random.Random) -> dict[str, Any]:
    args: dict[str, Any] = {
        "title": rng.choice(TOPICS).title(),
        "date": rng.choice(DATES),
        "start_time": rng.choice(TIMES),
    }
    if _maybe(rng):
        args["duration_minutes"] = rng.choice([15, 30, 45, 60, 90])
    if _maybe(rng, 0.3):
        args["attendees"] = rng.sample(PEOPLE, rng.randint(1, 3))
    return args


def search_web(rng: random.Random) -> dict[str, Any]:
    args: dict[str, Any] = {"query": rng.choice(QUERIES)}
    if _maybe(rng, 0.4):
        args["num_results"] = rng.choice([3, 5, 10])
    return args


def stock(rng: random.Random) -> dict[str, Any]:
    return {"ticker": rng.choice(TICKERS)}


def translate(rng: random.Random) -> dict[str, Any]:
    args: dict[str, Any] = {"text": rng.choice(PHRASES), "target_language": rng.choice(LANGS)}
    if _maybe(rng, 0.3):
        args["source_language"] = "en"
    return args


def flights(rng: random.Random) -> dict[str, Any]:
    origin, destination = rng.sample(AIRPORTS, 2)
    args: dict[str, Any] = {"origin": origin, "destination": destination, "date": rng.choice(DATES)}
    if _maybe(rng, 0.4):
        args["passengers"] = rng.randint(1, 4)
    if _maybe(rng, 0.3):
        args["cabin"] = rng.choice(["economy", "premium_economy", "business", "first"])
    return args


def convert_currency(rng: random.Random) -> dict[str, Any]:
    a, b = rng.sample(["USD", "EUR", "JPY", "GBP", "KES", "BRL", "INR"], 2)
    return {
        "amount": rng.choice([10, 25.5, 100, 1250, 99.99]),
        "from_currency": a,
        "to_currency": b,
    }


def reminder(rng: random.Random) -> dict[str, Any]:
    args: dict[str, Any] = {
        "text": rng.choice(
            [
                "call mom",
                "renew passport",
                "water the plants",
                "submit expense report",
                "pick up dry cleaning",
            ]
        ),
        "time": f"{rng.choice(DATES)}T{rng.choice(TIMES)}",
    }
    if _maybe(rng, 0.3):
        args["repeat"] = rng.choice(["daily", "weekly", "monthly"])
    return args


def read_file(rng: random.Random) -> dict[str, Any]:
    args: dict[str, Any] = {"path": rng.choice(FILES)}
    if _maybe(rng, 0.3):
        args["max_lines"] = rng.choice([50, 100, 200])
    return args


def run_sql(rng: random.Random) -> dict[str, Any]:
    return {
        "query": rng.choice(
            [
                "SELECT count(*) FROM orders WHERE status = 'open'",
                "SELECT name, email FROM users LIMIT 10",
                "SELECT region, sum(total) FROM sales GROUP BY region",
            ]
        ),
        "database": rng.choice(["analytics", "prod_replica"]),
    }


def play_music(rng: random.Random) -> dict[str, Any]:
    args: dict[str, Any] = {"song": rng.choice(SONGS)}
    if _maybe(rng, 0.4):
        args["shuffle"] = rng.choice([True, False])
    if _maybe(rng, 0.3):
        args["volume"] = rng.choice([20, 35, 50, 80])
    return args


def smart_home(rng: random.Random) -> dict[str, Any]:
    args: dict[str, Any] = {"device": rng.choice(DEVICES), "action": rng.choice(["on", "off"])}
    if _maybe(rng, 0.3):
        args["level"] = rng.choice([10, 40, 75, 100])
    return args


def directions(rng: random.Random) -> dict[str, Any]:
    a, b = rng.sample(CITIES, 2)
    args: dict[str, Any] = {"origin": a, "destination": b}
    if _maybe(rng):
        args["mode"] = rng.choice(["driving", "walking", "transit", "cycling"])
    return args


def calculator(rng: random.Random) -> dict[str, Any]:
    return {
        "expression": rng.choice(
            ["2 * (3 + 4)", "sqrt(144) / 3", "15% of 240", "1024 / 16", "3.5 * 1.08"]
        )
    }


def create_issue(rng: random.Random) -> dict[str, Any]:
    args: dict[str, Any] = {
        "repo": rng.choice(["acme/api", "acme/web", "octo/cli"]),
        "title": rng.choice(
            ["Crash on empty input", "Add dark mode", "Timeout when uploading large files"]
        ),
    }
    if _maybe(rng):
        args["labels"] = rng.sample(["bug", "enhancement", "p1", "ui", "backend"], 2)
    return args


def book_table(rng: random.Random) -> dict[str, Any]:
    return {
        "restaurant": rng.choice(["Chez Marie", "Sushi Zen", "La Trattoria", "Nyama Choma"]),
        "party_size": rng.randint(2, 8),
        "date": rng.choice(DATES),
        "time": rng.choice(TIMES),
    }


def news(rng: random.Random) -> dict[str, Any]:
    args: dict[str, Any] = {"topic": rng.choice(["technology", "sports", "climate", "markets"])}
    if _maybe(rng, 0.4):
        args["country"] = rng.choice(["us", "gb", "ke", "jp", "br"])
    return args


def set_filters(rng: random.Random) -> dict[str, Any]:
    return {
        "filters": {
            "min_price": rng.choice([10, 50, 100]),
            "brand": rng.choice(["Acme", "Globex", "Initech"]),
            "in_stock": rng.choice([True, False]),
        },
        "category": rng.choice(["laptops", "headphones", "shoes"]),
    }


def get_time(rng: random.Random) -> dict[str, Any]:
    return {
        "timezone": rng.choice(
            ["UTC", "Europe/Paris", "Asia/Tokyo", "America/New_York", "Africa/Nairobi"]
        )
    }


CATALOGUE: dict[str, tuple[dict[str, Any], Callable[[random.Random], dict[str, Any]]]] = {
    "get_weather": (
        tool(
            "get_weather",
            "Current weather and forecast for a city.",
            {
                "city": {**S, "description": "City name"},
                "unit": {**S, "enum": ["celsius", "fahrenheit"], "default": "celsius"},
                "days": {**I, "description": "Forecast days", "minimum": 1, "maximum": 14},
            },
            ["city"],
        ),
        weather,
    ),
    "send_email": (
        tool(
            "send_email",
            "Send an email message.",
            {"to": S, "subject": S, "body": S, "cc": {"type": "array", "items": S}},
            ["to", "subject", "body"],
        ),
        send_email,
    ),
    "create_calendar_event": (
        tool(
            "create_calendar_event",
            "Create a calendar event.",
            {
                "title": S,
                "date": {**S, "description": "YYYY-MM-DD"},
                "start_time": S,
                "duration_minutes": {**I, "default": 30},
                "attendees": {"type": "array", "items": S},
            },
            ["title", "date", "start_time"],
        ),
        create_event,
    ),
    "search_web": (
        tool(
            "search_web",
            "Search the web and return the top results.",
            {"query": S, "num_results": {**I, "default": 5}},
            ["query"],
        ),
        search_web,
    ),
    "get_stock_price": (
        tool(
            "get_stock_price",
            "Latest price of a stock ticker.",
            {"ticker": {**S, "description": "Ticker symbol, e.g. AAPL"}},
            ["ticker"],
        ),
        stock,
    ),
    "translate_text": (
        tool(
            "translate_text",
            "Translate text to another language.",
            {"text": S, "target_language": S, "source_language": S},
            ["text", "target_language"],
        ),
        translate,
    ),
    "search_flights": (
        tool(
            "search_flights",
            "Find flights between two airports.",
            {
                "origin": S,
                "destination": S,
                "date": S,
                "passengers": {**I, "default": 1},
                "cabin": {**S, "enum": ["economy", "premium_economy", "business", "first"]},
            },
            ["origin", "destination", "date"],
        ),
        flights,
    ),
    "convert_currency": (
        tool(
            "convert_currency",
            "Convert an amount between currencies.",
            {"amount": N, "from_currency": S, "to_currency": S},
            ["amount", "from_currency", "to_currency"],
        ),
        convert_currency,
    ),
    "set_reminder": (
        tool(
            "set_reminder",
            "Set a reminder at a given time.",
            {
                "text": S,
                "time": {**S, "description": "ISO 8601"},
                "repeat": {
                    **S,
                    "enum": ["never", "daily", "weekly", "monthly"],
                    "default": "never",
                },
            },
            ["text", "time"],
        ),
        reminder,
    ),
    "read_file": (
        tool(
            "read_file",
            "Read a text file from the workspace.",
            {"path": S, "max_lines": I},
            ["path"],
        ),
        read_file,
    ),
    "run_sql": (
        tool(
            "run_sql",
            "Run a read-only SQL query.",
            {"query": S, "database": S},
            ["query", "database"],
        ),
        run_sql,
    ),
    "play_music": (
        tool(
            "play_music",
            "Play a song on the speakers.",
            {"song": S, "shuffle": {**B, "default": False}, "volume": I},
            ["song"],
        ),
        play_music,
    ),
    "control_device": (
        tool(
            "control_device",
            "Turn a smart-home device on or off.",
            {"device": S, "action": {**S, "enum": ["on", "off"]}, "level": I},
            ["device", "action"],
        ),
        smart_home,
    ),
    "get_directions": (
        tool(
            "get_directions",
            "Route between two places.",
            {
                "origin": S,
                "destination": S,
                "mode": {
                    **S,
                    "enum": ["driving", "walking", "transit", "cycling"],
                    "default": "driving",
                },
            },
            ["origin", "destination"],
        ),
        directions,
    ),
    "calculate": (
        tool("calculate", "Evaluate a math expression.", {"expression": S}, ["expression"]),
        calculator,
    ),
    "create_issue": (
        tool(
            "create_issue",
            "Open an issue in a code repository.",
            {"repo": S, "title": S, "labels": {"type": "array", "items": S}},
            ["repo", "title"],
        ),
        create_issue,
    ),
    "book_table": (
        tool(
            "book_table",
            "Reserve a restaurant table.",
            {"restaurant": S, "party_size": I, "date": S, "time": S},
            ["restaurant", "party_size", "date", "time"],
        ),
        book_table,
    ),
    "get_news": (
        tool("get_news", "Top news headlines on a topic.", {"topic": S, "country": S}, ["topic"]),
        news,
    ),
    "search_products": (
        tool(
            "search_products",
            "Search the product catalogue.",
            {
                "category": S,
                "filters": {
                    "type": "object",
                    "properties": {"min_price": N, "brand": S, "in_stock": B},
                },
            },
            ["category"],
        ),
        set_filters,
    ),
    "get_current_time": (
        tool("get_current_time", "Current time in a timezone.", {"timezone": S}, ["timezone"]),
        get_time,
    ),
}
