import json
import textwrap
from pathlib import Path

import pytest

from intently.errors import SpecError
from intently.spec import (
    DEFAULT_PROJECT_FILE,
    FallbackSpec,
    Gates,
    TrainingSpec,
    load_project,
    project_from_dict,
)

VALID = """\
name: shop
description: A tiny shop assistant
agents:
  - id: support
    description: Orders and parcels
    intents:
      - name: greeting
        description: Says hello
        variations:
          - hello
          - hi there
      - name: track_order
        variations: [where is my order, track my parcel]
        priority: 2
    examples:
      - query: where is order 12?
        intent: track_order
        entities: {order_id: "12"}
      - query: what's the weather
        intent: oos
  - id: smalltalk
    intents:
      - name: thanks
        variations: [thanks, thank you]
entities:
  city:
    - paris
    - value: new york
      synonyms: [nyc]
templates:
  track_order:
    - is my order in {city}
"""


def write(folder: Path, text: str, name: str = DEFAULT_PROJECT_FILE) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def spec_error(folder: Path, text: str, name: str = DEFAULT_PROJECT_FILE) -> SpecError:
    path = write(folder, text, name)
    with pytest.raises(SpecError) as caught:
        load_project(path)
    error = caught.value
    assert error.where is not None
    assert error.where.path == path.resolve()
    assert name in str(error)
    return error


# --- valid files --------------------------------------------------------------------------


def test_valid_yaml_project_loads(tmp_path):
    path = write(tmp_path, VALID)
    project = load_project(path)

    assert project.name == "shop"
    assert project.description == "A tiny shop assistant"
    assert project.path == path.resolve()
    assert [agent.id for agent in project.agents] == ["support", "smalltalk"]
    assert list(project.intents) == ["greeting", "track_order", "thanks"]
    assert project.intents["greeting"].variations == ("hello", "hi there")
    assert project.intents["greeting"].description == "Says hello"
    assert project.intents["greeting"].priority == 1
    assert project.intents["track_order"].priority == 2
    example = project.agents[0].examples[0]
    assert (example.query, example.intent, example.entities) == (
        "where is order 12?",
        "track_order",
        {"order_id": "12"},
    )
    # an example may use the fallback label without defining it as an intent
    assert project.agents[0].examples[1].intent == "oos"
    city = project.entities["city"]
    assert [(value.value, value.synonyms) for value in city] == [
        ("paris", ()),
        ("new york", ("nyc",)),
    ]
    assert project.templates == {"track_order": ("is my order in {city}",)}
    assert project.task_names == ("intent",)


def test_defaults_of_training_gates_and_fallback(tmp_path):
    project = load_project(write(tmp_path, VALID))

    assert project.training == TrainingSpec()
    assert project.training.backend == "linear"
    assert project.training.seed == 13
    assert project.training.split == (0.7, 0.15, 0.15)
    assert project.training.params == {}
    assert project.gates == Gates(accuracy=0.85, macro_f1=0.80, min_intent_f1=0.75, coverage=1.0)
    assert project.fallback == FallbackSpec()
    assert project.fallback.label == "oos"
    assert project.fallback.threshold == "auto"
    assert project.fallback.ambiguity_threshold == 0.0
    assert project.fallback.max_in_scope_drop == 0.01
    assert project.datasets == ()
    assert project.tasks == {}


def test_task_settings_override_project_settings(tmp_path):
    path = write(
        tmp_path,
        """\
        name: shop
        training: {seed: 7}
        tasks:
          sentiment:
            labels: [pos, neg]
            training: {seed: 99, split: [0.8, 0.1, 0.1]}
            fallback: {label: unknown, threshold: 0.4}
        """,
    )
    project = load_project(path)

    assert project.task_names == ("intent", "sentiment")
    assert project.training_for("intent").seed == 7
    assert project.training_for("sentiment").seed == 99
    assert project.training_for("sentiment").split == (0.8, 0.1, 0.1)
    assert project.fallback_for("sentiment") == FallbackSpec(label="unknown", threshold=0.4)
    assert project.fallback_for("intent").label == "oos"
    assert project.gates_for("sentiment") == Gates()


def test_yes_and_no_stay_texts(tmp_path):
    # YAML 1.1 would read these as booleans; "no" is a perfectly good deny example.
    path = write(
        tmp_path,
        """\
        name: bot
        agents:
          - id: a
            intents:
              - name: affirm
                variations: [yes, Yes, on, sure]
              - name: deny
                variations:
                  - no
                  - NO
                  - off
        training:
          backend: zeroshot
          params: {use_examples: yes, descriptions: {deny: "no"}}
        tasks:
          other:
            description: no
            training:
              backend: stack
              params:
                members: [{backend: zeroshot, params: {fit_thresholds: off}}, {backend: linear}]
        """,
    )
    project = load_project(path)

    assert project.intents["affirm"].variations == ("yes", "Yes", "on", "sure")
    assert project.intents["deny"].variations == ("no", "NO", "off")
    assert project.tasks["other"].description == "no"
    # backend params are passed on as written, with YAML 1.1 booleans
    assert project.training.params == {"use_examples": True, "descriptions": {"deny": "no"}}
    assert project.training_for("other").params["members"][0]["params"] == {"fit_thresholds": False}


def test_json_project_loads(tmp_path):
    data = {
        "name": "shop",
        "agents": [
            {
                "id": "support",
                "intents": [{"name": "greeting", "variations": ["hello", "hi 👋"]}],
            }
        ],
        "training": {"seed": 5, "split": [0.8, 0.1, 0.1]},
        "fallback": {"threshold": 0.3},
    }
    path = tmp_path / "project.json"
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")

    project = load_project(path)

    assert project.name == "shop"
    assert project.intents["greeting"].variations == ("hello", "hi 👋")
    assert project.training.seed == 5
    assert project.training.split == (0.8, 0.1, 0.1)
    assert project.fallback.threshold == 0.3
    assert project.path == path.resolve()


def test_json_with_tab_indentation_and_compact_separators_loads(tmp_path):
    data = {"name": "shop", "agents": [{"id": "a", "intents": [{"name": "hi"}]}]}
    tabbed = tmp_path / "tabbed.json"
    tabbed.write_text(json.dumps(data, indent="\t"), encoding="utf-8")
    compact = tmp_path / "compact.json"
    compact.write_text(json.dumps(data, separators=(",", ":")), encoding="utf-8")

    assert load_project(tabbed).intents.keys() == {"hi"}
    assert load_project(compact).intents.keys() == {"hi"}


def test_malformed_json_names_the_line(tmp_path):
    error = spec_error(
        tmp_path,
        '{\n  "name": "shop",\n  "agents": [\n    {"id": "a"\n    "intents": []}\n  ]\n}\n',
        name="project.json",
    )
    assert error.where.line == 5
    assert "malformed YAML" in error.message


def test_directory_loads_its_intently_yaml(tmp_path):
    write(tmp_path, VALID)
    assert load_project(tmp_path).path == (tmp_path / DEFAULT_PROJECT_FILE).resolve()


# --- syntax and shape errors --------------------------------------------------------------


def test_malformed_yaml_names_file_and_line(tmp_path):
    error = spec_error(
        tmp_path,
        """\
        name: shop
        agents:
          - id: support
            description: orders: and returns
        """,
    )
    assert error.where.line == 4
    assert "malformed YAML" in error.message
    assert f"{DEFAULT_PROJECT_FILE}:4" in str(error)
    assert "quotes" in (error.hint or "")
    assert error.code == "E100"


@pytest.mark.parametrize(
    "text",
    [
        "name: shop\nbase: &b {description: d}\nagents:\n  - id: a\n    <<: *b\n",
        "name: shop\nagents:\n  - id: a\n\n    description: !secret x\n",
    ],
)
def test_merge_keys_and_custom_tags_are_spec_errors(tmp_path, text):
    error = spec_error(tmp_path, text)
    assert error.where.line == 5
    assert error.message.startswith("unsupported YAML: ")
    assert "merge keys" in (error.hint or "")


def test_unknown_top_level_key_suggests_the_right_one(tmp_path):
    error = spec_error(
        tmp_path,
        """\
        name: shop
        agnets:
          - id: support
        """,
    )
    assert error.where.line == 2
    assert error.where.key == "agnets"
    assert error.message == "unknown key 'agnets'. Did you mean 'agents'?"
    assert "allowed keys here: agents, datasets, deploy, description" in (error.hint or "")
    assert f"{DEFAULT_PROJECT_FILE}:2 (agnets): unknown key" in str(error)


def test_unknown_key_inside_an_intent(tmp_path):
    error = spec_error(
        tmp_path,
        """\
        name: shop
        agents:
          - id: support
            intents:
              - name: greeting
                varations:
                  - hello
        """,
    )
    assert error.where.line == 6
    assert error.where.key == "agents[0].intents[0].varations"
    assert "unknown key 'varations'" in error.message
    assert "Did you mean 'variations'?" in error.message
    assert error.hint == "allowed keys here: description, name, priority, variations."


def test_unknown_key_inside_an_entity_value_and_a_task(tmp_path):
    entity = spec_error(
        tmp_path,
        """\
        name: shop
        entities:
          city:
            - paris
            - value: new york
              synonms: [nyc]
        """,
    )
    assert entity.where.line == 6
    assert entity.message == "unknown key 'synonms'. Did you mean 'synonyms'?"

    task = spec_error(
        tmp_path,
        """\
        name: shop
        tasks:
          sentiment:
            labls: [pos, neg]
        """,
    )
    assert task.where.line == 4
    assert task.message == "unknown key 'labls'. Did you mean 'labels'?"


def test_unknown_key_without_close_match_has_no_suggestion(tmp_path):
    error = spec_error(tmp_path, "name: shop\nzzz: 1\n")
    assert error.where.line == 2
    assert error.message == "unknown key 'zzz'."


def test_agent_without_id(tmp_path):
    error = spec_error(
        tmp_path,
        """\
        name: shop
        agents:
          - id: support
          - description: no id here
            intents:
              - name: greeting
        """,
    )
    assert error.where.line == 4
    assert error.where.key == "agents[1]"
    assert error.message == "required key 'id' is missing."
    assert error.hint == "add 'id:' to this entry."


def test_missing_name_points_at_the_top(tmp_path):
    error = spec_error(tmp_path, "description: no name\n")
    assert error.where.line == 1
    assert error.message == "required key 'name' is missing."


@pytest.mark.parametrize("text", ["", "- a\n- b\n", "just a string\n"])
def test_project_file_must_be_a_mapping(tmp_path, text):
    error = spec_error(tmp_path, text)
    assert error.where.line == 1
    assert "must be a mapping" in error.message


def test_bad_value_names_the_line_and_the_value(tmp_path):
    error = spec_error(
        tmp_path,
        """\
        name: shop
        fallback:
          label: oos
          threshold: 1.5
        """,
    )
    assert error.where.line == 4
    assert error.where.key == "fallback.threshold"
    assert "threshold must be 'auto' or within [0, 1]" in error.message


def test_duplicate_yaml_key(tmp_path):
    error = spec_error(
        tmp_path,
        """\
        name: shop
        agents:
          - id: support
            intents: []
            id: again
        """,
    )
    assert error.where.line == 5
    assert error.where.key == "agents[0].id"
    assert error.message == "duplicate key 'id'."


def test_split_must_sum_to_one(tmp_path):
    error = spec_error(
        tmp_path,
        """\
        name: shop
        training:
          seed: 3
          split: [0.5, 0.3, 0.1]
        """,
    )
    assert error.where.line == 4
    assert error.where.key == "training.split"
    assert "summing to 1" in error.message
    assert "got [0.5, 0.3, 0.1]" in error.message


def test_missing_file_suggests_intently_init(tmp_path):
    path = tmp_path / "nowhere.yaml"
    with pytest.raises(SpecError) as caught:
        load_project(path)
    error = caught.value
    assert error.message == "project file not found."
    assert error.where.path == path.resolve()
    assert "intently init" in (error.hint or "")
    assert "nowhere.yaml" in str(error)


def test_non_utf8_file(tmp_path):
    path = tmp_path / DEFAULT_PROJECT_FILE
    path.write_bytes(b"name: caf\xe9\n")
    with pytest.raises(SpecError, match="not UTF-8"):
        load_project(path)


# --- cross checks ---------------------------------------------------------------------------


def test_example_with_undefined_intent(tmp_path):
    error = spec_error(
        tmp_path,
        """\
        name: shop
        agents:
          - id: support
            intents:
              - name: greeting
            examples:
              - query: hi there
                intent: greting
        """,
    )
    assert error.where.line == 8
    assert error.where.key == "agents[0].examples[0].intent"
    assert error.message == "example refers to undefined intent 'greting'. Did you mean 'greeting'?"


def test_template_for_undefined_intent(tmp_path):
    error = spec_error(
        tmp_path,
        """\
        name: shop
        agents:
          - id: support
            intents:
              - name: greeting
        templates:
          greetng:
            - hello
        """,
    )
    assert error.where.line == 7
    assert error.where.key == "templates.greetng"
    assert "undefined intent 'greetng'. Did you mean 'greeting'?" in error.message


def test_template_slot_naming_no_entity(tmp_path):
    error = spec_error(
        tmp_path,
        """\
        name: shop
        agents:
          - id: support
            intents:
              - name: book
        entities:
          city: [paris]
        templates:
          book:
            - book a trip
            - book a trip to {citty}
        """,
    )
    assert error.where.line == 11
    assert error.where.key == "templates.book[1]"
    assert error.message == "template slot '{citty}' names no entity. Did you mean 'city'?"


def test_duplicate_intent_across_agents(tmp_path):
    error = spec_error(
        tmp_path,
        """\
        name: shop
        agents:
          - id: support
            intents:
              - name: greeting
          - id: sales
            intents:
              - name: greeting
        """,
    )
    assert error.where.line == 8
    assert error.where.key == "agents[1].intents[0].name"
    assert error.message == "intent 'greeting' is defined twice."
    assert error.hint == "rename it or remove the copy at line 5."


def test_dataset_assigned_to_undeclared_task(tmp_path):
    error = spec_error(
        tmp_path,
        """\
        name: shop
        tasks:
          sentiment: {}
        datasets:
          - extra.jsonl
          - path: reviews.csv
            task: sentimnt
        """,
    )
    assert error.where.line == 6
    assert error.where.key == "datasets[1]"
    assert "undeclared task 'sentimnt'. Did you mean 'sentiment'?" in error.message
    assert "tasks:" in (error.hint or "")


# --- backend parameters (intently.spec.params) --------------------------------------------


def test_bad_parameter_value_is_located_before_any_data_is_read(tmp_path):
    error = spec_error(
        tmp_path,
        """\
        name: shop
        datasets: [never-written.jsonl]
        training:
          backend: linear
          params:
            C: 0
        """,
    )
    assert (error.where.line, error.where.key) == (6, "training.params.C")
    assert error.message == "the 'C' parameter of the linear backend must be a number > 0; got 0."
    assert f"{DEFAULT_PROJECT_FILE}:6 (training.params.C)" in str(error)


def test_unknown_parameter_suggests_the_close_one_and_lists_the_rest(tmp_path):
    error = spec_error(
        tmp_path,
        """\
        name: shop
        training:
          params: {C: 2.0, clas_weight: balanced}
        """,
    )
    assert (error.where.line, error.where.key) == (3, "training.params.clas_weight")
    assert error.message == (
        "backend 'linear' has no parameter 'clas_weight'. Did you mean 'class_weight'?"
    )
    assert "char_ngrams" in (error.hint or "") and "multi_class" in (error.hint or "")


@pytest.mark.parametrize(
    ("backend", "param", "message"),
    [
        ("linear", "C: high", "must be a number > 0; got 'high'."),
        ("linear", "multi_class: multinomial", "must be one of 'ovr', 'crammer_singer'; got"),
        ("linear", "word_ngrams: [2, 1]", "must be a pair [low, high] with low <= high"),
        ("embedding", "max_length: 64.5", "must be an integer in [8, 8192]; got 64.5."),
        ("zeroshot", "use_examples: sometimes", "must be true or false; got 'sometimes'."),
        ("transformer", "class_weight: equal", "must be null or 'balanced'; got 'equal'."),
    ],
)
def test_wrong_type_or_choice_names_the_allowed_values(tmp_path, backend, param, message):
    error = spec_error(
        tmp_path,
        f"""\
        name: shop
        training:
          backend: {backend}
          params:
            {param}
        """,
    )
    key = param.split(":")[0]
    assert (error.where.line, error.where.key) == (5, f"training.params.{key}")
    assert f"'{key}' parameter of the {backend} backend {message}" in error.message


def test_a_number_yaml_reads_as_text_gets_a_hint(tmp_path):
    error = spec_error(
        tmp_path,
        """\
        name: shop
        training: {backend: transformer, params: {lr: 1e-4}}
        """,
    )
    assert "got '1e-4'" in error.message
    assert "dot before any exponent" in (error.hint or "")


def test_stack_member_parameters_are_checked_where_they_are_written(tmp_path):
    error = spec_error(
        tmp_path,
        """\
        name: shop
        tasks:
          sentiment:
            training:
              backend: stack
              params:
                members:
                  - backend: linear
                  - backend: linear
                    params: {C: -1}
        """,
    )
    assert error.where.key == "tasks.sentiment.training.params.members[1].params.C"
    assert error.where.line == 10
    assert "'C' parameter of the linear backend" in error.message


def test_parameters_of_a_backend_without_a_table_pass_through(tmp_path):
    path = write(tmp_path, "name: shop\ntraining: {backend: plugin, params: {depth: 3}}\n")
    assert load_project(path).training.params == {"depth": 3}


def test_project_from_dict_checks_parameters():
    data = {"name": "shop", "training": {"params": {"min_df": 0}}}
    with pytest.raises(SpecError) as caught:
        project_from_dict(data)
    assert caught.value.where is not None and caught.value.where.key == "training.params.min_df"
    assert "must be an integer >= 1; got 0." in caught.value.message


def test_project_from_dict_runs_the_same_checks(tmp_path):
    data = {
        "name": "shop",
        "agents": [{"id": "a", "intents": [{"name": "greeting"}]}],
        "templates": {"greetng": ["hello"]},
    }
    with pytest.raises(SpecError, match="Did you mean 'greeting'"):
        project_from_dict(data)


# --- paths -------------------------------------------------------------------------------


def test_relative_paths_resolve_from_the_project_folder(tmp_path, monkeypatch):
    folder = tmp_path / "bot"
    path = write(folder, "name: shop\ndatasets:\n  - data/extra.jsonl\n")
    monkeypatch.chdir(tmp_path)

    project = load_project(Path("bot") / DEFAULT_PROJECT_FILE)

    assert project.root == folder.resolve()
    assert project.datasets[0].path == "data/extra.jsonl"
    assert project.datasets[0].task == "intent"
    assert project.resolve(project.datasets[0].path) == folder.resolve() / "data" / "extra.jsonl"
    absolute = tmp_path / "elsewhere.csv"
    assert project.resolve(absolute) == absolute
    assert project.model_root() == folder.resolve() / "models"
    assert project.path == path.resolve()


def test_project_from_dict_root_anchors_relative_paths(tmp_path):
    project = project_from_dict({"name": "shop"}, root=tmp_path)
    assert project.resolve("x.jsonl") == tmp_path.resolve() / "x.jsonl"
    assert project_from_dict({"name": "shop"}).path is None
