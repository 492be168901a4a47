"""A/B tests: statistics against known values, sticky assignment, reports, promote and stop."""

from __future__ import annotations

import pytest

import intently
from conftest import Deployed, Record
from intently.db import Database
from intently.db.interactions import InteractionStore
from intently.errors import AbTestConflict, AbTestError, AbTestNotFound
from intently.loop import ab
from intently.loop.ab_stats import mcnemar_exact, two_proportion_z_test, wilson_interval
from intently.registry import Registry


def test_wilson_interval_matches_hand_computed_values() -> None:
    # p = 0.8, z^2 = 3.8415: centre (0.8 + 0.19207) / 1.38415 = 0.71675,
    # half-width 1.96 * sqrt(0.016 + 0.0096) / 1.38415 = 0.22659
    low, high = wilson_interval(8, 10)  # type: ignore[misc]
    assert low == pytest.approx(0.4902, abs=1e-4)
    assert high == pytest.approx(0.9433, abs=1e-4)
    assert wilson_interval(0, 20)[0] == 0.0  # type: ignore[index]
    assert wilson_interval(0, 0) is None


def test_two_proportion_z_test_matches_hand_computed_values() -> None:
    # pooled 0.525; se = sqrt(0.525 * 0.475 * (1/100 + 1/100)) = 0.070622; z = -0.15 / se
    result = two_proportion_z_test(45, 100, 60, 100)
    assert result is not None
    assert result.statistic == pytest.approx(-2.1240, abs=1e-3)
    assert result.p_value == pytest.approx(0.03367, abs=1e-4)
    assert result.significant()
    assert not two_proportion_z_test(50, 100, 52, 100).significant()  # type: ignore[union-attr]


def test_exact_mcnemar_counts_discordant_pairs() -> None:
    # 1 vs 9 discordant pairs: 2 * (C(10,0) + C(10,1)) / 2^10 = 22 / 1024
    result = mcnemar_exact(1, 9)
    assert result is not None and result.p_value == pytest.approx(22 / 1024)
    assert mcnemar_exact(0, 0) is None


def _test(share: float = 0.1, mode: ab.Mode = ab.Mode.SPLIT, **kw: object) -> ab.AbTestRecord:
    from datetime import UTC, datetime

    return ab.AbTestRecord(
        id="ab_1",
        task="intent",
        champion_version="v1",
        challenger_version="v2",
        share=share,
        mode=mode,
        sticky_by=kw.get("sticky_by", ab.StickyBy.USER),  # type: ignore[arg-type]
        status=ab.TestStatus.RUNNING,
        created_at=datetime.now(UTC),
    )


def test_assignment_is_sticky_and_respects_the_share() -> None:
    test = _test(share=0.1)
    arms = [ab.route(test, f"user-{i}", None) for i in range(20_000)]
    share = arms.count(ab.Arm.CHALLENGER) / len(arms)
    assert share == pytest.approx(0.1, abs=0.01)
    # the same user gets the same arm on every request, whatever the conversation
    assert [ab.route(test, f"user-{i}", f"c-{i}") for i in range(500)] == arms[:500]
    by_conversation = _test(share=0.5, sticky_by=ab.StickyBy.CONVERSATION)
    first = [ab.route(by_conversation, "u", f"conv-{i}") for i in range(200)]
    assert first == [ab.route(by_conversation, "other", f"conv-{i}") for i in range(200)]
    assert ab.Arm.CHALLENGER in first and ab.Arm.CHAMPION in first
    assert {ab.route(_test(mode=ab.Mode.SHADOW, share=1.0), "u", None)} == {ab.Arm.CHAMPION}


def _candidate(deployed: Deployed) -> str:
    return intently.train(
        intently.load_project(deployed.path), write_reports=False, export=False
    ).version.id


def test_start_refuses_a_second_test_and_bad_arms(deployed: Deployed, database: Database) -> None:
    project = intently.load_project(deployed.path)
    challenger = _candidate(deployed)
    with pytest.raises(AbTestError, match="active version"):
        ab.start(project, database, "intent", deployed.weak)
    with pytest.raises(AbTestError, match="share"):
        ab.start(project, database, "intent", challenger, share=1.5)
    test = ab.start(project, database, "intent", challenger, share=0.2)
    assert (test.champion_version, test.challenger_version) == (deployed.weak, challenger)
    with pytest.raises(AbTestConflict):
        ab.start(project, database, "intent", challenger)
    stopped = ab.stop(database, "intent")
    assert stopped.status == ab.TestStatus.STOPPED and stopped.result is not None
    with pytest.raises(AbTestNotFound):
        ab.stop(database, "intent")
    assert Registry(deployed.root / "models").active("intent").id == deployed.weak  # type: ignore[union-attr]


def test_split_report_and_promote(deployed: Deployed, database: Database, record: Record) -> None:
    project = intently.load_project(deployed.path)
    test = ab.start(project, database, "intent", _candidate(deployed), share=0.5)
    store = InteractionStore(database)
    champion = record([("hi", "greeting")] * 10, ab_test_id=test.id, arm="champion")
    challenger = record(
        [("hi", "greeting")] * 10, ab_test_id=test.id, arm="challenger", fallback=True
    )
    for i, item in enumerate(champion):  # champion right on 4 of 10 reviewed answers
        store.correct(item.id, "greeting" if i < 4 else "goodbye", reviewer="t")
    for item in challenger:  # challenger right on all 10
        store.correct(item.id, "greeting", reviewer="t")
    result = ab.report(database, test)
    assert result["agreement"] is None
    arms = result["arms"]
    assert arms["champion"]["accuracy"]["value"] == 0.4
    assert arms["challenger"]["accuracy"]["value"] == 1.0
    assert arms["challenger"]["fallback_rate"]["value"] == 1.0
    assert arms["champion"]["accuracy"]["ci95"] == [0.1682, 0.6873]
    assert result["significance"]["test"] == "two-proportion z-test"
    assert result["significance"]["significant_at_0.05"] is True
    promoted = ab.promote(project, database, "intent")
    assert promoted.status == ab.TestStatus.PROMOTED
    active = Registry(deployed.root / "models").active("intent")
    assert active is not None and active.id == test.challenger_version


def test_shadow_report_compares_both_answers_of_the_same_texts(
    deployed: Deployed, database: Database, record: Record
) -> None:
    project = intently.load_project(deployed.path)
    test = ab.start(project, database, "intent", _candidate(deployed), mode=ab.Mode.SHADOW)
    shadow = {"label": "refund", "confidence": 0.9, "model_version": test.challenger_version}
    agree = record([("refund me", "refund")] * 6, ab_test_id=test.id, arm="champion", shadow=shadow)
    differ = record([("hi", "greeting")] * 4, ab_test_id=test.id, arm="champion", shadow=shadow)
    store = InteractionStore(database)
    for item in [*agree, *differ]:
        store.correct(item.id, item.label, reviewer="t")  # the champion was right every time
    result = ab.report(database, test)
    assert result["agreement"]["value"] == 0.6
    assert result["arms"]["champion"]["accuracy"]["value"] == 1.0
    assert result["arms"]["challenger"]["accuracy"]["value"] == 0.6
    assert result["arms"]["challenger"]["answered"] == 10
    assert result["significance"]["test"] == "exact McNemar"
    assert result["significance"]["p_value"] == pytest.approx(0.125)  # 4 vs 0: 2 / 16
