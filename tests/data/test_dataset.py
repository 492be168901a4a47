import re
from collections import Counter

import numpy as np

from intently.data import Dataset, Example, Source, columns, fingerprint

EXAMPLES = (
    Example("hi", "greet"),
    Example("bye", "leave", Source.TEMPLATE),
    Example("hello", "greet", weight=2.0),
)


def test_fingerprint_format_and_order_independence():
    value = fingerprint(EXAMPLES)
    assert re.fullmatch(r"sha256:[0-9a-f]{32}", value)
    assert fingerprint(EXAMPLES[::-1]) == value
    assert fingerprint(list(EXAMPLES)) == value


def test_fingerprint_changes_with_label_text_or_weight():
    base = fingerprint(EXAMPLES)
    relabeled = (Example("hi", "hello"), *EXAMPLES[1:])
    retexted = (Example("hi!", "greet"), *EXAMPLES[1:])
    reweighted = (Example("hi", "greet", weight=1.5), *EXAMPLES[1:])
    assert len({base, fingerprint(relabeled), fingerprint(retexted), fingerprint(reweighted)}) == 4
    assert fingerprint(EXAMPLES[:2]) != base
    # provenance other than weight does not count
    assert fingerprint((Example("hi", "greet", agent_id="x"), *EXAMPLES[1:])) == base


def test_dataset_fingerprint_ignores_how_it_was_split():
    a = Dataset("intent", EXAMPLES[:1], EXAMPLES[1:2], EXAMPLES[2:], ("greet", "leave"))
    b = Dataset("intent", EXAMPLES[::-1], (), (), ("greet", "leave"))
    assert a.fingerprint == b.fingerprint == fingerprint(EXAMPLES)
    assert a.all == EXAMPLES
    assert a.counts() == Counter({"greet": 2, "leave": 1})


def test_explicit_fingerprint_is_kept():
    dataset = Dataset("intent", EXAMPLES, (), (), ("greet", "leave"), fingerprint="sha256:given")
    assert dataset.fingerprint == "sha256:given"


def test_columns():
    texts, labels, weights = columns(EXAMPLES)
    assert texts == ["hi", "bye", "hello"]
    assert labels == ["greet", "leave", "greet"]
    assert weights.dtype == np.float64
    assert weights.tolist() == [1.0, 0.85, 2.0]
