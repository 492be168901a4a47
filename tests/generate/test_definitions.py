import itertools

from intently.data import Source
from intently.generate import definition_examples, expand_template
from intently.spec import project_from_dict


def project(**extra):
    data = {
        "name": "travel",
        "agents": [
            {
                "id": "trips",
                "intents": [
                    {"name": "book", "variations": ["book a trip", "I want to travel"]},
                    {"name": "cancel", "variations": ["cancel my trip"]},
                ],
                "examples": [
                    {"query": "fly me to paris", "intent": "book", "entities": {"city": "paris"}},
                    {"query": "call it off", "intent": "cancel"},
                ],
            },
            {"id": "chat", "intents": [{"name": "greet", "variations": ["hello"]}]},
        ],
        "entities": {
            "city": ["paris", {"value": "new york", "synonyms": ["nyc", "the big apple"]}],
            "day": ["monday", "friday"],
        },
        "templates": {"book": ["fly to {city}"]},
    }
    data.update(extra)
    return project_from_dict(data)


def test_definition_examples_in_file_order():
    examples = definition_examples(project())

    assert [(e.text, e.label, e.source, e.weight, e.agent_id) for e in examples] == [
        ("book a trip", "book", Source.VARIATION, 0.95, "trips"),
        ("I want to travel", "book", Source.VARIATION, 0.95, "trips"),
        ("cancel my trip", "cancel", Source.VARIATION, 0.95, "trips"),
        ("fly me to paris", "book", Source.DEFINITION, 1.0, "trips"),
        ("call it off", "cancel", Source.DEFINITION, 1.0, "trips"),
        ("hello", "greet", Source.VARIATION, 0.95, "chat"),
        ("fly to paris", "book", Source.TEMPLATE, 0.85, "trips"),
        ("fly to new york", "book", Source.TEMPLATE, 0.85, "trips"),
        ("fly to nyc", "book", Source.TEMPLATE, 0.85, "trips"),
        ("fly to the big apple", "book", Source.TEMPLATE, 0.85, "trips"),
    ]
    assert dict(examples[3].meta) == {"entities": {"city": "paris"}}
    assert dict(examples[4].meta) == {}
    assert dict(examples[6].meta) == {
        "template": "fly to {city}",
        "spans": [{"entity": "city", "value": "paris", "start": 7, "end": 12}],
    }
    nyc = examples[8]
    assert nyc.meta["spans"] == [{"entity": "city", "value": "new york", "start": 7, "end": 10}]


def test_template_without_slots_is_itself():
    assert expand_template("just book it", project()) == ["just book it"]


def test_template_expands_values_and_synonyms_in_product_order():
    assert expand_template("{city} on {day}", project()) == [
        "paris on monday",
        "paris on friday",
        "new york on monday",
        "new york on friday",
        "nyc on monday",
        "nyc on friday",
        "the big apple on monday",
        "the big apple on friday",
    ]


def test_repeated_slot_gets_the_same_value():
    assert expand_template("from {city} back to {city}", project()) == [
        "from paris back to paris",
        "from new york back to new york",
        "from nyc back to nyc",
        "from the big apple back to the big apple",
    ]


def big_project(seed: int = 13):
    return project(
        entities={
            "a": [f"a{i}" for i in range(5)],
            "b": [f"b{i}" for i in range(5)],
        },
        templates={"book": ["{a} {b}"]},
        training={"seed": seed},
    )


def test_expansion_is_capped_deterministically_by_seed():
    spec = big_project()
    pairs = itertools.product(spec.entities["a"], spec.entities["b"])
    full = [f"{a.value} {b.value}" for a, b in pairs]

    capped = expand_template("{a} {b}", spec, seed=1, limit=6)

    assert len(capped) == len(set(capped)) == 6
    assert set(capped) <= set(full)
    assert capped == sorted(capped, key=full.index)  # sampled, yet still in product order
    assert expand_template("{a} {b}", spec, seed=1, limit=6) == capped
    assert expand_template("{a} {b}", spec, seed=2, limit=6) != capped
    # under the limit: everything, in order
    assert expand_template("{a} {b}", spec, limit=25) == full


def test_definition_examples_cap_templates_at_twenty_with_the_project_seed():
    first = [
        e.text for e in definition_examples(big_project(seed=1)) if e.source is Source.TEMPLATE
    ]
    again = [
        e.text for e in definition_examples(big_project(seed=1)) if e.source is Source.TEMPLATE
    ]
    other = [
        e.text for e in definition_examples(big_project(seed=2)) if e.source is Source.TEMPLATE
    ]

    assert len(first) == len(set(first)) == 20
    assert first == again
    assert first != other
    assert first == expand_template("{a} {b}", big_project(seed=1), seed=1)
