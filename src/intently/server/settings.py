"""Settings of the HTTP service: one pydantic-settings class, read from ``INTENTLY_*`` variables.

Every field can be set in the environment (``INTENTLY_PORT=9000``) or in a ``.env`` file in
the working directory; ``intently serve`` flags override both. Nothing is read at import
time: :func:`get_settings` builds the object on first use.
"""

from __future__ import annotations

import hmac
import json
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ENV_PREFIX = "INTENTLY_"


class Settings(BaseSettings):
    """Everything ``intently serve`` and :func:`intently.server.create_app` read."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", extra="ignore", frozen=True
    )

    project: Path = Field(Path("intently.yaml"), description="Project file to serve.")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    workers: int = Field(2, ge=1, description="Worker processes (each loads every model).")
    api_keys: str = Field(
        "",
        description="Comma-separated `role:key` pairs, e.g. `predict:k1,admin:k2`; roles are "
        "predict, reviewer and admin. Keys created with `intently keys create` are accepted "
        "as well.",
        repr=False,
    )
    insecure_no_auth: bool = Field(
        False, description="Serve without any API key check (development only)."
    )
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default sqlite:///<project folder>/intently.db."
    )
    max_body_bytes: int = Field(1_000_000, ge=1, description="Larger request bodies get 413.")
    max_header_bytes: int = Field(
        64 * 1024,
        ge=1024,
        description="Largest request line plus headers `intently serve` reads; a request "
        "with more gets 431 and its connection is closed.",
    )
    max_text_chars: int = Field(10_000, ge=1, description="Longer texts get 422.")
    max_batch: int = Field(1_000, ge=1, description="Most texts in one batch request.")
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Origins allowed by CORS (comma-separated or a JSON list); empty = CORS off.",
    )
    runtime: Literal["auto", "native", "onnx"] = Field(
        "auto",
        description="How models are served: the exported ONNX graph, the native backend files, "
        "or auto (the exported graph when the version was exported, else native).",
    )
    precision: Literal["auto", "fp32", "int8"] = Field(
        "auto",
        description="Which exported graph the ONNX runtime serves; auto: the one export timed "
        "fastest among those that passed parity.",
    )
    onnx_threads: int | None = Field(
        None,
        ge=1,
        description="onnxruntime threads per worker; default 1 for linear graphs and one per "
        "core for encoders (with several workers, cores / workers avoids oversubscription).",
    )
    reload_interval_s: float = Field(
        1.0, gt=0, description="How often each worker checks for a newly deployed model."
    )
    auth_cache_s: float = Field(
        30.0, ge=0, description="How long a database key check is remembered in memory."
    )
    metrics_public: bool = Field(
        True, description="Serve /metrics without a key; false requires the predict role."
    )
    record: bool = Field(
        True, description="Record every classify answer (text, label, ranking) for review."
    )
    record_skip_tasks: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Tasks whose answers are not recorded (comma-separated or a JSON list).",
    )
    record_batch_size: int = Field(
        1_000,
        ge=1,
        description="Buffered answers that trigger a write before the flush interval ends.",
    )
    record_flush_interval_s: float = Field(
        0.5,
        gt=0,
        description="Longest wait before buffered answers are written; a killed (-9) worker "
        "loses at most this long of answers.",
    )
    record_max_buffer: int = Field(
        50_000, ge=1, description="Answers buffered in memory before they go to the spill file."
    )
    record_spill_dir: Path | None = Field(
        None,
        description="Where answers wait while the database is unavailable; default "
        "<project folder>/.intently/spill.",
    )
    redact: bool = Field(
        False, description="Replace emails, phone and card numbers in recorded texts."
    )
    redact_patterns: dict[str, str] = Field(
        default_factory=dict,
        description="More redactions as a JSON object placeholder → regex, e.g. "
        '{"<ORDER>": "ORD-\\d+"}; applied when `redact` is on.',
    )
    log_level: str = "info"
    access_log: bool = Field(False, description="uvicorn's per-request log (costs throughput).")

    @field_validator("cors_origins", "record_skip_tasks", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("api_keys")
    @classmethod
    def _check_keys(cls, value: str) -> str:
        parse_api_keys(value)  # raises ValueError with the position of a malformed entry
        return value

    def env_keys(self) -> list[tuple[str, bytes]]:
        """The configured ``(role, key)`` pairs."""
        return parse_api_keys(self.api_keys)

    def to_env(self) -> dict[str, str]:
        """``INTENTLY_*`` variables that rebuild these settings in a worker process."""
        env = {}
        for name, value in self.model_dump().items():
            if value is None:
                continue
            if isinstance(value, list | dict):
                value = json.dumps(value)
            elif isinstance(value, bool):
                value = "true" if value else "false"
            env[f"{ENV_PREFIX}{name.upper()}"] = str(value)
        return env


ROLES = ("predict", "admin", "reviewer")


def parse_api_keys(text: str) -> list[tuple[str, bytes]]:
    """``"predict:k1, admin:k2"`` → ``[("predict", b"k1"), ("admin", b"k2")]``."""
    pairs = []
    for position, entry in enumerate(part.strip() for part in text.split(",")):
        if not entry:
            continue
        role, sep, key = entry.partition(":")
        role, key = role.strip().lower(), key.strip()
        if not sep or role not in ROLES or not key:
            raise ValueError(
                f"API key entry #{position + 1} must look like 'role:key' with role one of "
                f"{', '.join(ROLES)} and a non-empty key; got '{role}{sep}…'"
            )
        pairs.append((role, key.encode()))
    return pairs


def key_matches(candidate: bytes, keys: list[tuple[str, bytes]]) -> str | None:
    """The role of ``candidate`` among ``keys``; compares against every key in constant time."""
    found = None
    for role, key in keys:
        if hmac.compare_digest(candidate, key) and found is None:
            found = role
    return found


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings from the environment and ``.env``, read once per process.

    A FastAPI dependency as well: tests swap it with ``app.dependency_overrides``.
    """
    return Settings()
