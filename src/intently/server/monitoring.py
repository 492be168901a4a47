"""Monitoring of the service: live metrics, drift and alerts over the recorded answers, and
their Prometheus gauges.

The routes of :mod:`intently.server.routes.monitoring` call :class:`Monitoring` in the thread
pool (each call reads the database). The gauges are refreshed by the learning scheduler's tick
(every few minutes), never on the scrape path::

    intently_alert{task,rule,label}            1 while the rule fires (0 once it stops)
    intently_drift_psi{task,kind}              PSI of labels / confidence, last 24 h
    intently_review_accuracy{task}             share of reviewed answers that were right, 24 h
"""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

from prometheus_client import Gauge

from intently.db import Database
from intently.db.tables import utcnow
from intently.loop.drift import task_drift, version_reference
from intently.loop.monitor import live_report, recent_answers, snapshots
from intently.server.metrics import ServerMetrics
from intently.server.pool import ModelPool
from intently.spec import Project


class Monitoring:
    def __init__(
        self, database: Database, project: Project, pool: ModelPool, metrics: ServerMetrics
    ):
        self.database = database
        self.project = project
        self.pool = pool
        self._references: dict[str, tuple[list[str], list[float]]] = {}
        self._lock = threading.Lock()
        self._fired: set[tuple[str, str, str]] = set()
        registry = metrics.registry
        self.alert_gauge = Gauge(
            "intently_alert",
            "1 while a monitoring alert rule fires.",
            ["task", "rule", "label"],
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.drift_gauge = Gauge(
            "intently_drift_psi",
            "Population stability index of recent answers against the model's reference.",
            ["task", "kind"],
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.accuracy_gauge = Gauge(
            "intently_review_accuracy",
            "Share of reviewed answers of the last 24 hours that were right.",
            ["task"],
            registry=registry,
            multiprocess_mode="livemax",
        )

    def live(self, hours: float, task: str | None = None) -> dict[str, Any]:
        """Live metrics of every task (or one), with the alerts they fire."""
        return live_report(self.database, self.project, hours=hours, task=task)

    def drift(self, task: str, hours: float) -> dict[str, Any]:
        """Label and confidence PSI of ``task``'s answers of the last ``hours`` against its
        serving version's held-out examples."""
        classifier = self.pool.classifier(task)
        version = classifier.version.id
        with self._lock:
            reference = self._references.get(version)
        if reference is None:
            path = self.pool.registry.task_dir(task) / version
            reference = version_reference(classifier, Path(path))
            with self._lock:
                self._references[version] = reference
        labels, confidence = recent_answers(
            self.database, task, since=utcnow() - timedelta(hours=hours)
        )
        drift = task_drift(
            task,
            reference_labels=reference[0],
            reference_confidence=reference[1],
            labels=labels,
            confidence=confidence,
        ).to_json()
        return {**drift, "version": version, "hours": hours}

    def snapshots(self, task: str, period: str, limit: int) -> list[dict[str, Any]]:
        return snapshots(self.database, task, period, limit)

    def update_gauges(self, hours: float = 24) -> None:
        """Recompute the gauges (the scheduler's tick)."""
        live = self.live(hours)
        fired = {(a["task"], a["rule"], a["label"] or "") for a in live["alerts"]}
        for key in self._fired - fired:
            self.alert_gauge.labels(*key).set(0)
        for key in fired:
            self.alert_gauge.labels(*key).set(1)
        self._fired = fired
        for task, metrics in live["tasks"].items():
            if metrics["review_accuracy"] is not None:
                self.accuracy_gauge.labels(task).set(metrics["review_accuracy"])
            if self.pool.get(task) is None or metrics["volume"] == 0:
                continue
            drift = self.drift(task, hours)
            self.drift_gauge.labels(task, "labels").set(drift["label_psi"])
            self.drift_gauge.labels(task, "confidence").set(drift["confidence_psi"])
