"""A/B tests and shadow mode: a challenger version next to the active one (the champion).

``split`` mode answers a ``share`` of the traffic with the challenger. Assignment is sticky:
the arm is a hash of the test id and the caller's user id (``sticky_by: user``) or
conversation id (``conversation``), falling back to the other id, so one user keeps one arm
for the whole test; a request with neither id is assigned at random. ``shadow`` mode answers
every request with the champion, asks the challenger too and records its answer next to the
champion's (``interactions.shadow``), so both are compared on the same texts at no risk.

Interactions carry ``ab_test_id`` and ``arm``; :func:`report` compares the arms from them:
agreement (shadow), fallback rate per arm, accuracy per arm from reviews with a 95% Wilson
interval, and a significance test (two-proportion z-test between split arms, exact McNemar on
the paired answers of shadow mode). :func:`promote` deploys the challenger (the usual
deploy-time validation) and ends the test; :func:`stop` ends it and changes nothing.
"""

from __future__ import annotations

import hashlib
import random
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from intently.db import Database
from intently.db.tables import AbTest, Interaction, utcnow
from intently.deploy import deploy_version, registry_for, validate_model
from intently.errors import AbTestConflict, AbTestError, AbTestNotFound, ModelError
from intently.loop.ab_stats import Proportion, mcnemar_exact, two_proportion_z_test
from intently.spec import Project


class Arm(StrEnum):
    CHAMPION = "champion"
    CHALLENGER = "challenger"


class Mode(StrEnum):
    SPLIT = "split"
    SHADOW = "shadow"


class StickyBy(StrEnum):
    USER = "user"
    CONVERSATION = "conversation"


class TestStatus(StrEnum):
    RUNNING = "running"
    PROMOTED = "promoted"
    STOPPED = "stopped"


@dataclass(frozen=True)
class AbTestRecord:
    id: str
    task: str
    champion_version: str
    challenger_version: str
    share: float
    mode: Mode
    sticky_by: StickyBy
    status: TestStatus
    created_at: datetime
    ended_at: datetime | None = None
    result: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "task": self.task,
            "champion": self.champion_version,
            "challenger": self.challenger_version,
            "share": self.share,
            "mode": self.mode.value,
            "sticky_by": self.sticky_by.value,
            "status": self.status.value,
            "created_at": self.created_at.isoformat(),
            "ended_at": None if self.ended_at is None else self.ended_at.isoformat(),
            "result": self.result,
        }


def _record(row: AbTest) -> AbTestRecord:
    return AbTestRecord(
        id=row.id,
        task=row.task,
        champion_version=row.champion_version,
        challenger_version=row.challenger_version,
        share=row.share,
        mode=Mode(row.mode),
        sticky_by=StickyBy(row.sticky_by),
        status=TestStatus(row.status),
        created_at=row.created_at,
        ended_at=row.ended_at,
        result=row.result,
    )


# -- assignment (the hot path) --------------------------------------------------------------


def bucket(test_id: str, key: str) -> float:
    """A uniform number in [0, 1) fixed by the test and the sticky key."""
    digest = hashlib.blake2b(f"{test_id}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def route(test: AbTestRecord, user_id: str | None, conversation_id: str | None) -> Arm:
    """The arm that answers this request: in split mode the challenger for ``share`` of the
    sticky keys, in shadow mode always the champion (the challenger only shadows)."""
    if test.mode is Mode.SHADOW:
        return Arm.CHAMPION
    if test.sticky_by is StickyBy.USER:
        key = user_id or conversation_id
    else:
        key = conversation_id or user_id
    draw = bucket(test.id, key) if key else random.random()
    return Arm.CHALLENGER if draw < test.share else Arm.CHAMPION


# -- the tests table -------------------------------------------------------------------------


class AbTestStore:
    """A/B tests in ``db`` (migrated); at most one running test per task (a partial unique
    index, so two processes starting one at once cannot both succeed)."""

    def __init__(self, db: Database):
        self.db = db

    def create(
        self,
        task: str,
        champion: str,
        challenger: str,
        *,
        share: float,
        mode: Mode = Mode.SPLIT,
        sticky_by: StickyBy = StickyBy.USER,
    ) -> AbTestRecord:
        row = AbTest(
            id=f"ab_{secrets.token_hex(6)}",
            task=task,
            champion_version=champion,
            challenger_version=challenger,
            share=share,
            mode=mode.value,
            sticky_by=sticky_by.value,
            status=TestStatus.RUNNING.value,
            created_at=utcnow(),
        )
        try:
            with self.db.session() as session:
                session.add(row)
                session.flush()
                return _record(row)
        except IntegrityError:
            running = self.running(task)
            raise AbTestConflict(
                f"task '{task}' already runs A/B test {running[0].id if running else '(unknown)'}.",
                hint="end it with `intently ab promote` or `intently ab stop` first.",
            ) from None

    def running(self, task: str | None = None) -> list[AbTestRecord]:
        query = select(AbTest).where(AbTest.status == TestStatus.RUNNING.value)
        if task is not None:
            query = query.where(AbTest.task == task)
        with self.db.session() as session:
            return [_record(row) for row in session.scalars(query.order_by(AbTest.created_at))]

    def get(self, test_id: str) -> AbTestRecord:
        with self.db.session() as session:
            row = session.get(AbTest, test_id)
            if row is None:
                raise AbTestNotFound(
                    f"no A/B test has the id '{test_id}'.",
                    hint="list them with `intently ab list`.",
                )
            return _record(row)

    def list(self, task: str | None = None, limit: int = 50) -> list[AbTestRecord]:
        """Newest first."""
        query = select(AbTest).order_by(AbTest.created_at.desc(), AbTest.id)
        if task is not None:
            query = query.where(AbTest.task == task)
        with self.db.session() as session:
            return [_record(row) for row in session.scalars(query.limit(limit))]

    def end(self, test_id: str, status: TestStatus, result: dict[str, Any]) -> AbTestRecord:
        with self.db.session() as session:
            changed = session.execute(
                update(AbTest)
                .where(AbTest.id == test_id, AbTest.status == TestStatus.RUNNING.value)
                .values(status=status.value, ended_at=utcnow(), result=result)
            ).rowcount
        record = self.get(test_id)
        if not changed:
            raise AbTestError(
                f"A/B test {test_id} is {record.status.value}, not running.",
                hint="start a new one with `intently ab start`.",
            )
        return record

    def current(self, task: str) -> AbTestRecord:
        """The running test of ``task``; AbTestNotFound when it runs none."""
        running = self.running(task)
        if not running:
            raise AbTestNotFound(
                f"task '{task}' runs no A/B test.",
                hint="start one with `intently ab start CHALLENGER --task " + task + "`.",
            )
        return running[0]


# -- starting and ending ---------------------------------------------------------------------


def start(
    project: Project,
    db: Database,
    task: str,
    challenger: str,
    *,
    share: float = 0.1,
    mode: Mode = Mode.SPLIT,
    sticky_by: StickyBy = StickyBy.USER,
) -> AbTestRecord:
    """Start a test of ``challenger`` against ``task``'s active version."""
    project.check_task(task)
    if not 0 < share <= 1:
        raise AbTestError(
            f"share must be within (0, 1]; got {share}.", hint="e.g. --share 0.1 for 10%."
        )
    registry = registry_for(project)
    champion = registry.active(task)
    if champion is None:
        raise AbTestError(
            f"task '{task}' has no active version to test a challenger against.",
            hint="deploy one first (`intently models deploy`).",
        )
    info = registry.get(task, challenger)
    if info.id == champion.id:
        raise AbTestError(
            f"{info.id} is the active version; the challenger must be another one.",
            hint="list versions with `intently models list`.",
        )
    try:
        validate_model(info.path)  # the service must be able to load and serve it
    except ModelError as error:
        raise AbTestError(f"the challenger cannot be served: {error.message}") from None
    store = AbTestStore(db)
    return store.create(
        task, champion.id, info.id, share=share, mode=Mode(mode), sticky_by=StickyBy(sticky_by)
    )


def promote(project: Project, db: Database, task: str) -> AbTestRecord:
    """Deploy the challenger of ``task``'s running test and end the test as promoted."""
    store = AbTestStore(db)
    test = store.current(task)
    result = report(db, test)
    decision = deploy_version(project, task, test.challenger_version)
    result["deploy"] = {"deployed": decision.deployed, "reason": decision.reason}
    return store.end(test.id, TestStatus.PROMOTED, result)


def stop(db: Database, task: str) -> AbTestRecord:
    """End ``task``'s running test; the champion keeps serving everything."""
    store = AbTestStore(db)
    test = store.current(task)
    return store.end(test.id, TestStatus.STOPPED, report(db, test))


# -- the report ------------------------------------------------------------------------------


@dataclass
class _Tally:
    answered: int = 0
    fallbacks: int = 0
    reviewed: int = 0
    right: int = 0

    def to_json(self, version: str) -> dict[str, Any]:
        return {
            "version": version,
            "answered": self.answered,
            "fallback_rate": Proportion(self.fallbacks, self.answered).to_json(),
            "accuracy": Proportion(self.right, self.reviewed).to_json(),
        }


def report(db: Database, test: AbTestRecord) -> dict[str, Any]:
    """Both arms compared on the interactions recorded under ``test``."""
    columns = (
        Interaction.arm,
        Interaction.label,
        Interaction.fallback,
        Interaction.reviewed_label,
        Interaction.shadow,
    )
    with db.connection() as connection:
        rows = connection.execute(select(*columns).where(Interaction.ab_test_id == test.id)).all()
    champion, challenger = _Tally(), _Tally()
    agreeing = shadowed = champion_only = challenger_only = 0
    for arm, label, fallback, truth, shadow in rows:
        tally = challenger if arm == Arm.CHALLENGER.value else champion
        tally.answered += 1
        tally.fallbacks += bool(fallback)
        if truth is not None:
            tally.reviewed += 1
            tally.right += label == truth
        if test.mode is Mode.SHADOW and isinstance(shadow, dict) and "label" in shadow:
            shadowed += 1
            agreeing += shadow["label"] == label
            challenger.answered += 1
            challenger.fallbacks += bool(shadow.get("fallback"))
            if truth is not None:
                challenger.reviewed += 1
                challenger.right += shadow["label"] == truth
                champion_only += label == truth and shadow["label"] != truth
                challenger_only += shadow["label"] == truth and label != truth
    if test.mode is Mode.SHADOW:
        significance = mcnemar_exact(champion_only, challenger_only)
    else:
        significance = two_proportion_z_test(
            challenger.right, challenger.reviewed, champion.right, champion.reviewed
        )
    return {
        "test": test.to_json() | {"result": None},
        "agreement": (
            Proportion(agreeing, shadowed).to_json() if test.mode is Mode.SHADOW else None
        ),
        "arms": {
            Arm.CHAMPION.value: champion.to_json(test.champion_version),
            Arm.CHALLENGER.value: challenger.to_json(test.challenger_version),
        },
        "significance": None if significance is None else significance.to_json(),
    }
