"""Settings from the environment and ``.env``, and ``intently serve`` (preflight, env for the
workers, and one real two-worker server with multiprocess metrics)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from server_helpers import ENV_KEYS, http, start_server, wait_for

import intently.cli.serve as serve_cli
from intently.cli import EXIT_GATES_FAILED, EXIT_SERVER_START, main
from intently.server import Settings

INTENTLY_VARS = [name for name in os.environ if name.startswith("INTENTLY_")]


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for name in INTENTLY_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env
    return monkeypatch


def test_settings_defaults(clean_env):
    settings = Settings()
    assert (settings.host, settings.port, settings.workers) == ("127.0.0.1", 8000, 2)
    assert settings.project == Path("intently.yaml") and settings.api_keys == ""
    assert settings.max_body_bytes == 1_000_000 and settings.max_text_chars == 10_000
    assert settings.max_header_bytes == 65_536
    assert settings.max_batch == 1_000 and settings.cors_origins == []
    assert settings.reload_interval_s == 1.0 and not settings.insecure_no_auth
    assert (settings.runtime, settings.precision) == ("auto", "auto")
    assert settings.database_url is None


def test_settings_from_environment_and_dotenv(clean_env, tmp_path):
    clean_env.setenv("INTENTLY_PORT", "9001")
    clean_env.setenv("INTENTLY_CORS_ORIGINS", "https://a.example, https://b.example")
    (tmp_path / ".env").write_text(
        "INTENTLY_API_KEYS=predict:from-dotenv\nINTENTLY_PORT=7000\n", encoding="utf-8"
    )
    settings = Settings()
    assert settings.port == 9001  # the environment wins over .env
    assert settings.env_keys() == [("predict", b"from-dotenv")]
    assert settings.cors_origins == ["https://a.example", "https://b.example"]
    assert "from-dotenv" not in repr(settings)


def test_settings_round_trip_through_worker_environment(clean_env):
    settings = Settings(
        _env_file=None, port=1234, cors_origins=["https://x.example"], insecure_no_auth=True
    )
    for name, value in settings.to_env().items():
        clean_env.setenv(name, value)
    assert Settings(_env_file=None) == settings


def _run(capsys, *args: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as info:
        main([str(a) for a in args])
        raise SystemExit(0)
    captured = capsys.readouterr()
    return info.value.code or 0, captured.out + captured.err


def test_serve_refuses_to_start_without_keys(clean_env, capsys, served_project):
    started = []
    clean_env.setattr(serve_cli, "_run_uvicorn", started.append)
    code, output = _run(capsys, "serve", "--project", served_project.path)
    assert code == EXIT_SERVER_START and not started
    assert "no API key" in output and "--insecure-no-auth" in " ".join(output.split())


def test_serve_checks_then_hands_settings_to_the_workers(clean_env, capsys, served_project):
    clean_env.setenv("INTENTLY_API_KEYS", ENV_KEYS)
    (served_project.root / "models" / "intent" / "active.json").unlink()
    seen = {}

    def fake_uvicorn(settings):
        seen["settings"] = settings
        seen["env"] = {k: v for k, v in os.environ.items() if k.startswith("INTENTLY_")}
        seen["metrics_dir"] = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        assert Path(seen["metrics_dir"]).is_dir()

    clean_env.setattr(serve_cli, "_run_uvicorn", fake_uvicorn)
    code, output = _run(
        capsys, "serve", "--project", served_project.path, "--port", "8123", "--workers", "3"
    )
    assert code == 0, output
    assert "no task has a deployed model" in " ".join(output.split())
    settings = seen["settings"]
    assert settings.port == 8123 and settings.workers == 3 and settings.project.is_absolute()
    assert seen["env"]["INTENTLY_PORT"] == "8123"
    assert seen["env"]["INTENTLY_PROJECT"] == str(served_project.path.resolve())
    assert not Path(seen["metrics_dir"]).exists()  # removed when the server stops
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ


def test_a_port_in_use_is_its_own_exit_code_with_a_plain_message(clean_env, capsys, served_project):
    clean_env.setenv("INTENTLY_API_KEYS", ENV_KEYS)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, output = _run(capsys, "serve", "--project", served_project.path, "--port", port)
    assert code == EXIT_SERVER_START != EXIT_GATES_FAILED
    assert f"cannot listen on 127.0.0.1:{port}" in " ".join(output.split())
    assert "Traceback" not in output


@pytest.mark.slow
def test_two_workers_serve_and_metrics_sum_over_both(served_project, tmp_path):
    server = start_server(served_project.path, tmp_path, workers=2)
    try:
        server.wait_ready()

        def totals() -> dict[str, float]:
            status, body = http(server.base + "/metrics")
            assert status == 200
            sums: dict[str, float] = {}
            for line in body.decode().splitlines():
                if line.startswith("intently_") and "{" in line:
                    name, value = line.split("{", 1)[0], float(line.rsplit(" ", 1)[1])
                    sums[name] = sums.get(name, 0.0) + value
            return sums

        # /readyz answers as soon as one worker is up; each worker loads the model once
        both_up = wait_for(lambda: totals().get("intently_model_swaps_total") == 2.0, 60, 0.2)
        assert both_up, server.output()
        for _ in range(40):  # one connection each: either worker may answer
            status, body = http(server.base + "/v1/classify", {"text": "where is my order"})
            assert status == 200, body
        # whichever worker answers the scrape, it reports every worker's samples (the other
        # worker's within its flush interval)
        counted = wait_for(lambda: totals().get("intently_predictions_total") == 40.0, 10, 0.2)
        assert counted, (totals(), server.output())
    finally:
        server.kill()


def test_public_api_is_sorted_and_importable():
    import intently.server

    exported = list(intently.server.__all__)
    classes = [name for name in exported if name[0].isupper()]
    functions = [name for name in exported if not name[0].isupper()]
    assert exported == sorted(classes) + sorted(functions)
    assert all(getattr(intently.server, name, None) is not None for name in exported)
