"""`intently models ...` end to end on a tiny project."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from intently.cli import app

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_train_deploys_then_models_commands_manage_versions(make_project):
    path = str(make_project())
    first = invoke("train", "--project", path)
    assert first.exit_code == 0 and "deployed" in first.output
    second = invoke("train", "--project", path)
    assert second.exit_code == 0
    listing = invoke("models", "list", "--project", path)
    assert listing.exit_code == 0
    assert "active" in listing.output and "retired" in listing.output

    from intently import load_project
    from intently.registry import Registry

    registry = Registry(load_project(path).model_root())
    v1, v2 = (info.id for info in registry.versions("intent"))
    assert registry.active("intent").id == v2

    rolled = invoke("models", "rollback", "--project", path)
    assert rolled.exit_code == 0 and v1 in rolled.output
    assert registry.active("intent").id == v1

    deployed = invoke("models", "deploy", v2, "--project", path, "--if-improved")
    assert deployed.exit_code == 0 and "deployed" in deployed.output
    assert registry.active("intent").id == v2

    shown = invoke("models", "show", v2[:12] if v1[:12] != v2[:12] else v2, "--project", path)
    assert shown.exit_code == 0 and json.loads(shown.output)["status"] == "active"

    diff = invoke("models", "diff", v1, v2, "--project", path)
    assert diff.exit_code == 0 and "macro_f1" in diff.output

    pruned = invoke("models", "prune", "--keep", "1", "--project", path)
    assert pruned.exit_code == 0 and "removed 0" in pruned.output  # v1 is the rollback target


def test_no_deploy_flag_leaves_nothing_active(make_project):
    path = str(make_project())
    assert invoke("train", "--project", path, "--no-deploy").exit_code == 0
    from intently import load_project
    from intently.registry import Registry

    assert Registry(load_project(path).model_root()).active("intent") is None
