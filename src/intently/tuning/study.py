"""Optuna studies of a project's task: create, run, join from other processes, summarise.

A study lives in an Optuna RDB storage (a SQLite file in the project by default, PostgreSQL for
several machines), so any number of processes can work on it at once: Optuna hands each its own
trials. Intently adds no scheduler. The study's user attributes record what every worker must
agree on (task, backend, metric, folds, search space, seed and the fingerprint of the data), so
a worker started elsewhere with ``intently tune-worker --storage URL --study NAME`` scores the
same objective, and one whose project holds other data is refused.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
import warnings
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from intently.collect import build_dataset
from intently.errors import StudyStorageError, TrainingError, TuningError
from intently.spec import DEFAULT_TASK, Project
from intently.spec.search_space import resolve_space, searched
from intently.tuning.objective import Objective, baseline_trial, decode_params, folds_for
from intently.tuning.result import StudyResult, TrialProgress, TrialRow

if TYPE_CHECKING:
    import optuna

STORAGE_FILE = ".intently/optuna.db"
"""Default storage, relative to the project's folder."""
_PLAN_KEY = "intently"
_FINISHED = ("COMPLETE", "PRUNED", "FAIL")

OnTrial = Callable[[TrialProgress], None]


def default_storage(project: Project) -> str:
    """``sqlite:///<project folder>/.intently/optuna.db`` (the folder is created)."""
    path = project.root / STORAGE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def default_study_name(project: Project, task: str) -> str:
    return f"{project.name}-{task}-{project.training_for(task).backend}"


def masked(url: str) -> str:
    """``url`` with any password hidden (for reports and messages)."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url


def open_storage(url: str) -> optuna.storages.RDBStorage:
    """An Optuna RDB storage at ``url``; unreachable or unusable → StudyStorageError (E342).

    Heartbeats let a worker that dies mid-trial be noticed: its trial is marked failed after
    the grace period instead of staying RUNNING for ever."""
    import optuna

    engine_kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        # several local processes share the file: wait for the lock instead of failing
        engine_kwargs["connect_args"] = {"timeout": 60}
    else:
        engine_kwargs["pool_pre_ping"] = True
    try:
        with warnings.catch_warnings():  # heartbeats are "experimental" since Optuna 2.9
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(
                url, engine_kwargs=engine_kwargs, heartbeat_interval=30, grace_period=120
            )
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StudyStorageError(
            f"cannot open the Optuna storage {masked(url)}: {first}.",
            hint="check the URL (sqlite:///path or postgresql+psycopg://user@host/db) and "
            "that the database server is reachable.",
        ) from None


def _plan(project: Project, task: str) -> tuple[dict[str, Any], Objective]:
    """What the study's workers share, and the objective it describes on this project."""
    dataset = build_dataset(project, task)
    training = project.training_for(task)
    tuning = project.tuning_for(task)
    space = resolve_space(training.backend, tuning.space)
    if not searched(space):
        raise TuningError(
            f"the {training.backend} backend declares no search space and tuning.space varies "
            "nothing.",
            hint="give ranges under tuning.space, e.g. `C: {low: 0.1, high: 10, log: true}`.",
        )
    examples = (*dataset.train, *dataset.valid)
    folds = folds_for(len(examples), tuning.folds)
    objective = Objective(
        examples=examples,
        backend=training.backend,
        base_params=dict(training.params),
        space=space,
        metric=tuning.metric,
        folds=folds,
        seed=training.seed,
        task=task,
    )
    return plan_of(objective, dataset.fingerprint), objective


def plan_of(objective: Objective, fingerprint: str) -> dict[str, Any]:
    """What every worker of a study must agree on, as the study records it (JSON)."""
    return json.loads(
        json.dumps(
            {
                "task": objective.task,
                "backend": objective.backend,
                "metric": objective.metric,
                "folds": objective.folds,
                "seed": objective.seed,
                "base_params": dict(objective.base_params),
                "space": {key: dim.to_json() for key, dim in objective.space.items()},
                "dataset_fingerprint": fingerprint,
                "examples": len(objective.examples),
            }
        )
    )


def create_study(
    project: Project,
    task: str = DEFAULT_TASK,
    *,
    storage: str | None = None,
    study_name: str | None = None,
) -> tuple[optuna.Study, Objective]:
    """Create the study (or continue one of the same name and plan) and its objective. A new
    study's first trial is the project's current parameters (:func:`baseline_trial`)."""
    plan, objective = _plan(project, task)
    url = storage or project.tuning_for(task).storage or default_storage(project)
    name = study_name or default_study_name(project, task)
    pruning = project.tuning_for(task).pruning
    study = open_study(plan, url, name, seed=objective.seed, pruning=pruning)
    if not study.trials:
        study.enqueue_trial(
            baseline_trial(objective.backend, objective.base_params, objective.space)
        )
    return study, objective


def open_study(
    plan: dict[str, Any], storage: str, name: str, *, seed: int, pruning: bool = True
) -> optuna.Study:
    """The study ``name`` in ``storage``, created with ``plan`` or, when it exists, checked
    to have been started with the same plan (TuningError otherwise)."""
    import optuna

    study = optuna.create_study(
        storage=open_storage(storage),
        study_name=name,
        direction="maximize",
        load_if_exists=True,
        sampler=_sampler(seed),
        pruner=_pruner(pruning),
    )
    recorded = study.user_attrs.get(_PLAN_KEY)
    if recorded is None:
        study.set_user_attr(_PLAN_KEY, plan)
    else:
        _check_same_plan(recorded, plan, name)
    return study


def _check_same_plan(recorded: Mapping[str, Any], plan: Mapping[str, Any], name: str) -> None:
    differs = [key for key in plan if recorded.get(key) != plan[key]]
    if differs:
        raise TuningError(
            f"study '{name}' was started with another {', '.join(differs)} than this project's.",
            hint="pass a new --study NAME, or use the project (and data) the study began with.",
        )


def _sampler(seed: int, worker: int = 0) -> optuna.samplers.BaseSampler:
    import optuna

    # each worker its own seed, or all would propose the same first trials; the constant liar
    # keeps parallel workers from proposing the points their running trials already cover
    return optuna.samplers.TPESampler(seed=seed + worker, constant_liar=True)


def _pruner(pruning: bool) -> optuna.pruners.BasePruner:
    import optuna

    if not pruning:
        return optuna.pruners.NopPruner()
    # 4 finished trials before any pruning; a trial is stopped when its score after a fold (or
    # an epoch) is below the median of earlier trials at that point
    return optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=0)


def optimize(
    study: optuna.Study,
    objective: Objective,
    *,
    trials: int | None,
    timeout: float | None,
    jobs: int = 1,
    on_trial: OnTrial | None = None,
) -> None:
    """Run trials in this process until the study holds ``trials`` finished ones (counted
    over every worker) or ``timeout`` seconds pass. A trial whose fit fails is recorded as
    FAIL and the study goes on."""
    import optuna

    callbacks: list[Callable[[optuna.Study, optuna.trial.FrozenTrial], None]] = []
    if trials is not None:
        done = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
        callbacks.append(optuna.study.MaxTrialsCallback(trials, states=done))
    if on_trial is not None:
        callbacks.append(lambda s, t: on_trial(_progress(s, t, trials)))
    if trials is not None and _finished(study) >= trials:
        return
    study.optimize(
        objective,
        n_trials=None if trials is None else trials - _finished(study),
        timeout=timeout,
        n_jobs=jobs,
        catch=(TrainingError,),
        callbacks=callbacks,
        gc_after_trial=True,
    )


def _finished(study: optuna.Study) -> int:
    import optuna

    done = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return len(study.get_trials(deepcopy=False, states=done))


def _row(trial: optuna.trial.FrozenTrial) -> TrialRow:
    seconds = trial.duration.total_seconds() if trial.duration is not None else None
    return TrialRow(
        trial.number, trial.state.name, trial.value, dict(trial.params), seconds, trial.last_step
    )


def _best(study: optuna.Study) -> TrialRow | None:
    try:
        return _row(study.best_trial)
    except ValueError:  # no completed trial yet
        return None


def _progress(
    study: optuna.Study, trial: optuna.trial.FrozenTrial, planned: int | None
) -> TrialProgress:
    return TrialProgress(_row(trial), _best(study), _finished(study), planned)


def join_study(
    project: Project,
    *,
    storage: str,
    study_name: str,
    trials: int | None = None,
    timeout: float | None = None,
    jobs: int = 1,
    worker: int | None = None,
    on_trial: OnTrial | None = None,
) -> None:
    """Work on an existing study (another process or machine): read its plan, check that
    this project's data is the data it was started on, and run trials until it is done.
    ``worker`` offsets the sampler's seed (default: the process id, distinct per worker)."""
    import optuna

    try:
        study = optuna.load_study(study_name=study_name, storage=open_storage(storage))
    except KeyError:
        raise StudyStorageError(
            f"no study '{study_name}' in {masked(storage)}.",
            hint="start it with `intently tune --storage URL --study NAME` first.",
        ) from None
    recorded = study.user_attrs.get(_PLAN_KEY)
    if recorded is None:
        raise TuningError(f"study '{study_name}' was not created by `intently tune`.")
    task = str(recorded["task"])
    plan, objective = _plan(project, task)
    _check_same_plan(recorded, plan, study_name)
    study.sampler = _sampler(objective.seed, os.getpid() if worker is None else worker)
    study.pruner = _pruner(project.tuning_for(task).pruning)
    optimize(study, objective, trials=trials, timeout=timeout, jobs=jobs, on_trial=on_trial)


def _work(
    project: Project,
    storage: str,
    study_name: str,
    trials: int | None,
    timeout: float | None,
    worker: int,
    threads: int,
) -> None:
    # the entry point of a local worker process (spawned: a fresh interpreter, no forked state);
    # the local workers share this machine's cores, so each one's BLAS/OpenMP pools get their
    # share instead of every worker starting one thread per core
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=threads):
        join_study(
            project,
            storage=storage,
            study_name=study_name,
            trials=trials,
            timeout=timeout,
            worker=worker,
        )


def run_study(
    project: Project,
    task: str = DEFAULT_TASK,
    *,
    trials: int | None = None,
    timeout: float | None = None,
    storage: str | None = None,
    study_name: str | None = None,
    jobs: int = 1,
    workers: int = 1,
    on_trial: OnTrial | None = None,
) -> StudyResult:
    """Run a study of ``task`` to its end and summarise it.

    ``trials`` (default ``tuning.trials``) counts finished trials over all workers;
    ``timeout`` is in seconds. With ``workers > 1`` that many processes are started on this
    machine, each joining the study through its storage, and this process only watches the
    storage to report progress; ``jobs`` runs trials in threads of one process instead."""
    started = time.perf_counter()
    tuning = project.tuning_for(task)
    trials = trials if trials is not None else tuning.trials
    if trials is None and timeout is None:
        timeout = tuning.budget_minutes * 60
    url = storage or tuning.storage or default_storage(project)
    study, objective = create_study(project, task, storage=url, study_name=study_name)
    if workers <= 1:
        optimize(study, objective, trials=trials, timeout=timeout, jobs=jobs, on_trial=on_trial)
    else:
        _run_workers(project, study, url, workers, trials, timeout, on_trial)
    return summarise(study, objective, storage=url, seconds=time.perf_counter() - started)


def _run_workers(
    project: Project,
    study: optuna.Study,
    url: str,
    workers: int,
    trials: int | None,
    timeout: float | None,
    on_trial: OnTrial | None,
) -> None:
    context = multiprocessing.get_context("spawn")
    threads = max(1, (os.cpu_count() or 1) // workers)
    processes = [
        context.Process(
            target=_work,
            args=(project, url, study.study_name, trials, timeout, worker, threads),
            daemon=True,
        )
        for worker in range(1, workers + 1)
    ]
    for process in processes:
        process.start()
    seen: set[int] = set()
    try:
        while True:
            alive = any(p.is_alive() for p in processes)
            for trial in study.get_trials(deepcopy=False):
                if trial.state.name in _FINISHED and trial.number not in seen:
                    seen.add(trial.number)
                    if on_trial is not None:
                        on_trial(_progress(study, trial, trials))
            if not alive:
                break
            time.sleep(0.5)
    finally:
        for process in processes:
            process.join(timeout=5)
            if process.is_alive():
                process.terminate()
    failed = [p.exitcode for p in processes if p.exitcode]
    if failed and len(failed) == len(processes):
        raise TuningError(
            f"all {workers} worker processes failed (exit codes {failed}).",
            hint="run `intently tune` without --workers to see the error.",
        )


def summarise(
    study: optuna.Study, objective: Objective, *, storage: str, seconds: float
) -> StudyResult:
    """The study's best parameters and trial table; TuningError when no trial finished."""
    best = _best(study)
    if best is None or best.value is None:
        raise TuningError(
            f"study '{study.study_name}' has no finished trial.",
            hint="give it more time (--timeout, tuning.budget_minutes) or more --trials; "
            "failed trials are listed by `optuna trials`.",
        )
    plan = study.user_attrs.get(_PLAN_KEY, {})
    params = {**objective.base_params, **decode_params(objective.space, best.params)}
    return StudyResult(
        study_name=study.study_name,
        storage=masked(storage),
        task=objective.task,
        backend=objective.backend,
        metric=objective.metric,
        folds=objective.folds,
        best_value=float(best.value),
        best_number=best.number,
        best_params=json.loads(json.dumps(params)),
        trials=tuple(_row(t) for t in study.get_trials(deepcopy=False)),
        seconds=seconds,
        examples=len(objective.examples),
        space=dict(plan.get("space", {})),
        storage_url=storage,
    )
