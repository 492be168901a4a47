"""Monitoring from the recorded interactions: live metrics, per-intent review scores,
hourly and daily snapshots.

:func:`task_metrics` is one task over one time window: volume, fallback rate, mean confidence
and the most answered intents (SQL aggregates over ``interactions``), and from the reviewed
answers of the window (a reviewer's label is the truth) review accuracy, correction rate (the
share of the window's answers a reviewer corrected), per-intent precision/recall/F1 with the
intent each is most often mistaken for, and the most frequent confusions. The scores are
:func:`intently.evaluation.metrics.evaluate_predictions`, the same as training reports.

:func:`take_snapshots` stores the metrics of the last complete hour and day of each task in
``snapshots`` (once: the table is unique per task, period and start, so several workers
taking the same snapshot store it once).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.exc import IntegrityError

from intently.db import Database
from intently.db.tables import Interaction, Snapshot, utcnow
from intently.evaluation.metrics import evaluate_predictions
from intently.loop.alerts import evaluate_alerts
from intently.spec import Project

TOP = 10
PERIODS = {"hour": timedelta(hours=1), "day": timedelta(days=1)}


def _rate(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(part / whole, 4)


def task_metrics(
    db: Database,
    task: str,
    *,
    since: datetime,
    until: datetime | None = None,
    fallback_label: str = "oos",
    top: int = TOP,
) -> dict[str, Any]:
    """One task's metrics over ``[since, until)``."""
    window = [Interaction.task == task, Interaction.created_at >= since]
    if until is not None:
        window.append(Interaction.created_at < until)
    with db.connection() as connection:
        volume, fallbacks, mean_confidence = connection.execute(
            select(
                func.count(),
                func.coalesce(func.sum(case((Interaction.fallback.is_(True), 1), else_=0)), 0),
                func.avg(Interaction.confidence),
            ).where(*window)
        ).one()
        top_intents = connection.execute(
            select(Interaction.label, func.count().label("n"))
            .where(*window)
            .group_by(Interaction.label)
            .order_by(func.count().desc(), Interaction.label)
            .limit(top)
        ).all()
        reviewed = connection.execute(
            select(Interaction.label, Interaction.reviewed_label, Interaction.confidence).where(
                *window, Interaction.reviewed_label.is_not(None)
            )
        ).all()
    volume = int(volume)
    scores = _review_scores(reviewed, fallback_label, top)
    return {
        "task": task,
        "since": since.isoformat(),
        "until": None if until is None else until.isoformat(),
        "volume": volume,
        "fallback_rate": _rate(int(fallbacks), volume),
        "mean_confidence": None if mean_confidence is None else round(float(mean_confidence), 4),
        "top_intents": [{"label": label, "count": int(n)} for label, n in top_intents],
        "reviewed": len(reviewed),
        "correction_rate": _rate(scores.pop("corrected"), volume),
        **scores,
    }


def _review_scores(rows: Any, fallback_label: str, top: int) -> dict[str, Any]:
    if not rows:
        return {
            "corrected": 0,
            "review_accuracy": None,
            "per_intent": {},
            "top_confusions": [],
        }
    predicted = [row[0] for row in rows]
    truth = [row[1] for row in rows]
    report = evaluate_predictions(
        [""] * len(rows),
        truth,
        predicted,
        [float(row[2]) for row in rows],
        defined_labels=(),
        fallback_label=fallback_label,
    )
    index = {label: i for i, label in enumerate(report.labels)}
    per_intent = {}
    for label, score in report.per_label.items():
        row = list(report.confusion[index[label]])
        row[index[label]] = 0
        worst = max(range(len(row)), key=lambda j: (row[j], -j))
        per_intent[label] = {
            "precision": round(score.precision, 4),
            "recall": round(score.recall, 4),
            "f1": round(score.f1, 4),
            "support": score.support,
            "confused_as": (
                None
                if row[worst] == 0
                else {"label": report.labels[worst], "share": round(row[worst] / score.support, 4)}
            ),
        }
    return {
        "corrected": sum(p != t for p, t in zip(predicted, truth, strict=True)),
        "review_accuracy": round(report.accuracy, 4),
        "per_intent": per_intent,
        "top_confusions": report.confused_with[:top],
    }


def live_metrics(
    db: Database,
    tasks: tuple[str, ...],
    *,
    hours: float = 24,
    now: datetime | None = None,
    fallback_labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    """:func:`task_metrics` of each task over the last ``hours``."""
    now = now or utcnow()
    since = now - timedelta(hours=hours)
    labels = fallback_labels or {}
    return {
        "hours": hours,
        "since": since.isoformat(),
        "until": now.isoformat(),
        "tasks": {
            task: task_metrics(db, task, since=since, fallback_label=labels.get(task, "oos"))
            for task in tasks
        },
    }


def live_report(
    db: Database, project: Project, *, hours: float = 24, task: str | None = None
) -> dict[str, Any]:
    """:func:`live_metrics` of the project's tasks (or one) with the alerts they fire (the
    answer of ``GET /v1/metrics/live`` and ``intently monitor``)."""
    tasks = project.task_names if task is None else (task,)
    labels = {name: project.fallback_for(name).label for name in tasks}
    data = live_metrics(db, tasks, hours=hours, fallback_labels=labels)
    data["alerts"] = [
        alert.to_json()
        for metrics in data["tasks"].values()
        for alert in evaluate_alerts(metrics, project.learning.alerts)
    ]
    return data


def recent_answers(db: Database, task: str, *, since: datetime) -> tuple[list[str], list[float]]:
    """Labels and confidences of ``task``'s answers since ``since`` (for drift)."""
    query = select(Interaction.label, Interaction.confidence).where(
        Interaction.task == task, Interaction.created_at >= since
    )
    with db.connection() as connection:
        rows = connection.execute(query).all()
    return [row[0] for row in rows], [float(row[1]) for row in rows]


# -- snapshots -------------------------------------------------------------------------------


def period_start(moment: datetime, period: str) -> datetime:
    """The start of the hour or day (UTC) that contains ``moment``."""
    start = moment.replace(minute=0, second=0, microsecond=0)
    return start.replace(hour=0) if period == "day" else start


def take_snapshots(
    db: Database,
    tasks: tuple[str, ...],
    *,
    now: datetime | None = None,
    fallback_labels: dict[str, str] | None = None,
) -> int:
    """Store each task's metrics of the last complete hour and day; returns how many new."""
    now = now or utcnow()
    labels = fallback_labels or {}
    stored = 0
    for period, length in PERIODS.items():
        start = period_start(now, period) - length
        for task in tasks:
            if _has_snapshot(db, task, period, start):
                continue
            metrics = task_metrics(
                db,
                task,
                since=start,
                until=start + length,
                fallback_label=labels.get(task, "oos"),
            )
            try:
                with db.session() as session:
                    session.add(
                        Snapshot(task=task, period=period, period_start=start, metrics=metrics)
                    )
            except IntegrityError:
                continue  # another worker stored the same snapshot first
            stored += 1
    return stored


def _has_snapshot(db: Database, task: str, period: str, start: datetime) -> bool:
    query = select(Snapshot.id).where(
        Snapshot.task == task, Snapshot.period == period, Snapshot.period_start == start
    )
    with db.connection() as connection:
        return connection.execute(query).first() is not None


def snapshots(
    db: Database, task: str, period: str = "hour", limit: int = 48
) -> list[dict[str, Any]]:
    """The latest snapshots of ``task``, newest first."""
    query = (
        select(Snapshot.period_start, Snapshot.metrics)
        .where(Snapshot.task == task, Snapshot.period == period)
        .order_by(Snapshot.period_start.desc())
        .limit(limit)
    )
    with db.connection() as connection:
        return [
            {"period": period, "period_start": start.isoformat(), "metrics": metrics}
            for start, metrics in connection.execute(query).all()
        ]
