import random
from collections import Counter

from intently.data import Example, stratified_split


def make(label: str, n: int) -> list[Example]:
    return [Example(f"{label} {i:03d}", label) for i in range(n)]


def key(example: Example) -> tuple[str, str]:
    return (example.text, example.label)


def sizes(parts) -> list[Counter]:
    return [Counter(e.label for e in part) for part in parts]


def test_same_seed_same_split_and_another_seed_another():
    examples = make("a", 100) + make("b", 20)

    first = stratified_split(examples, seed=1)
    again = stratified_split(examples, seed=1)
    other = stratified_split(examples, seed=2)

    assert first == again
    assert [key(e) for e in first[2]] != [key(e) for e in other[2]]
    assert sizes(first) == sizes(other)


def test_input_order_does_not_matter():
    examples = make("a", 30) + make("b", 12)
    shuffled = examples[:]
    random.Random(0).shuffle(shuffled)
    assert stratified_split(examples, seed=5) == stratified_split(shuffled, seed=5)


def test_stratification_and_tiny_classes():
    examples = (
        make("one", 1) + make("two", 2) + make("three", 3) + make("four", 4) + make("ten", 10)
    )

    train, valid, test = stratified_split(examples, (0.7, 0.15, 0.15), seed=13)

    assert sizes((train, valid, test)) == [
        Counter({"one": 1, "two": 2, "three": 2, "four": 2, "ten": 6}),
        Counter({"four": 1, "ten": 2}),
        Counter({"three": 1, "four": 1, "ten": 2}),
    ]


def test_no_example_is_lost_or_duplicated():
    examples = make("a", 37) + make("b", 5) + make("c", 2) + make("d", 1)

    train, valid, test = stratified_split(examples, seed=3)

    together = [key(e) for e in (*train, *valid, *test)]
    assert len(together) == len(set(together)) == len(examples)
    assert sorted(together) == sorted(key(e) for e in examples)


def test_ratios_respected_for_a_large_class():
    train, valid, test = stratified_split(make("a", 100), (0.7, 0.15, 0.15))
    assert (len(train), len(valid), len(test)) == (70, 15, 15)

    train, valid, test = stratified_split(make("a", 100), (0.6, 0.1, 0.3))
    assert (len(train), len(valid), len(test)) == (60, 10, 30)


def test_zero_valid_share():
    train, valid, test = stratified_split(make("a", 10) + make("b", 4), (0.8, 0.0, 0.2), seed=0)
    assert valid == ()
    assert sizes((train, test)) == [Counter({"a": 8, "b": 3}), Counter({"a": 2, "b": 1})]


def test_train_only():
    examples = make("a", 10)
    train, valid, test = stratified_split(examples, (1.0, 0.0, 0.0))
    assert (valid, test) == ((), ())
    assert sorted(train, key=key) == examples


def test_empty_input():
    assert stratified_split([]) == ((), (), ())


def test_fills_of_one_template_stay_in_one_part():
    templated = [
        Example(f"pay {who} now", "pay", meta={"template": "pay {person} now"})
        for who in ("ann", "bob", "cy", "dee")
    ] + [
        Example(f"send money to {who}", "pay", meta={"template": "send money to {person}"})
        for who in ("ann", "bob", "cy")
    ]
    examples = templated + make("pay", 14) + make("other", 10)

    for seed in range(20):
        parts = stratified_split(examples, seed=seed)
        for pattern in ("pay {person} now", "send money to {person}"):
            holding = [
                i for i, part in enumerate(parts) for e in part if e.meta.get("template") == pattern
            ]
            assert len(set(holding)) == 1, (seed, pattern, holding)
        train, valid, test = parts
        assert Counter(e.label for e in test)["pay"] <= round(21 * 0.15)
        together = sorted(key(e) for e in (*train, *valid, *test))
        assert together == sorted(key(e) for e in examples)


def test_a_label_made_of_one_template_trains_only():
    examples = [
        Example(f"book {city}", "book", meta={"template": "book {city}"})
        for city in ("rome", "oslo", "lima", "pune", "kiev")
    ] + make("other", 10)

    train, valid, test = stratified_split(examples, seed=4)

    assert Counter(e.label for e in train)["book"] == 5
    assert "book" not in {e.label for e in (*valid, *test)}
