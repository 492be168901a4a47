"""Task names are safe slugs the project defines, in the spec and at every front door
(issue 8, #1): ``../../../x`` in ``tasks:`` used to put versions outside ``models/``, and
``--task`` took tasks the project does not define."""

import re
import textwrap
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from intently.cli import main
from intently.errors import InputError, SpecError
from intently.server import create_app
from intently.server.settings import Settings
from intently.spec import load_project, project_from_dict, require_task

PROJECT = """\
name: shop
agents:
  - id: support
    intents:
      - name: greeting
        variations: [hello, hi there]
tasks:
  urgency:
    labels: [urgent, normal]
  {bad}:
    labels: [a, b]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "intently.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.mark.parametrize("bad", ["../../../x", "/tmp/x", "'..'", "Urgent", "a/b", "'-x'", "x" * 65])
def test_the_spec_refuses_an_unsafe_task_name_at_its_line(tmp_path, bad):
    path = write(tmp_path, PROJECT.format(bad=bad))
    with pytest.raises(SpecError, match="a task name must be 1 to 64 lowercase") as caught:
        load_project(path)
    assert caught.value.where is not None
    assert (caught.value.where.path, caught.value.where.line) == (path, 10)
    assert repr(yaml.safe_load(bad)) in caught.value.message


def test_a_dataset_assigned_to_an_unsafe_task_is_refused(tmp_path):
    text = PROJECT.format(bad="topic") + "datasets:\n  - path: extra.jsonl\n    task: ../x\n"
    with pytest.raises(SpecError, match=re.escape("(got '../x')")) as caught:
        load_project(write(tmp_path, text))
    assert caught.value.where is not None and caught.value.where.line == 14


def test_projects_built_in_code_get_the_same_check():
    with pytest.raises(SpecError, match="a task name must be"):
        project_from_dict({"name": "shop", "tasks": {"../x": {}}})


@pytest.mark.parametrize("good", ["intent", "topic", "topic_2", "sentiment-v2", "9lives"])
def test_safe_task_names_load(tmp_path, good):
    project = load_project(write(tmp_path, PROJECT.format(bad=good)))
    assert good in project.task_names


def test_require_task_refuses_unsafe_and_unknown_names():
    tasks = ("intent", "urgency")
    assert require_task("urgency", tasks) == "urgency"
    with pytest.raises(InputError, match=re.escape("task name '../../x' is not allowed")):
        require_task("../../x", tasks)
    with pytest.raises(InputError, match=r"not defined in the project.*Did you mean 'urgency'\?"):
        require_task("urgncy", tasks)
    with pytest.raises(InputError) as caught:
        require_task("x" * 10_000, tasks)
    assert len(caught.value.message) < 300


@pytest.fixture
def project_path(tmp_path: Path) -> Path:
    return write(tmp_path / "project", PROJECT.format(bad="topic"))


@pytest.mark.parametrize(
    "command",
    [
        ["models", "list"],
        ["models", "show", "v1"],
        ["models", "deploy", "v1"],
        ["models", "rollback"],
        ["models", "diff", "v1", "v2"],
        ["models", "prune"],
        ["predict", "hello"],
    ],
)
@pytest.mark.parametrize(
    ("task", "says"),
    [("../../x", "task name '../../x' is not allowed"), ("urgncy", "Did you mean 'urgency'?")],
)
def test_cli_refuses_a_task_the_project_does_not_define(
    project_path, tmp_path, capsys, command, task, says
):
    with pytest.raises(SystemExit) as info:
        main([*command, "-p", str(project_path), "-t", task])
    assert info.value.code == 1
    assert says in " ".join(capsys.readouterr().err.split())
    # Nothing was written for the refused name, inside the project or next to it.
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["intently.yaml", "project"]


def test_http_requests_name_a_safe_task_of_the_project(project_path):
    settings = Settings(
        _env_file=None,
        project=project_path,
        insecure_no_auth=True,
        database_url=f"sqlite:///{project_path.parent / 'intently.db'}",
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        listed = client.get("/v1/models", params={"task": "../../x"})
        assert listed.status_code == 422
        assert "task name '../../x' is not allowed" in listed.text
        classified = client.post("/v1/classify", json={"text": "hello", "task": "urgncy"})
        assert classified.status_code == 422
        assert "Did you mean 'urgency'?" in classified.text
