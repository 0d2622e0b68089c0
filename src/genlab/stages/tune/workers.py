"""The processes that work a study: `n_workers` per machine, any number of machines, one
shared trial budget, all under the study's one MLflow parent run.

Worker 0 runs in the stage's own process; the others are spawned (`WorkerSpec` and
`run_worker` cross the spawn boundary by pickling, so they live at module level here).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
import time
import zlib
from dataclasses import dataclass, field

import optuna
from optuna.trial import FrozenTrial

from genlab import tracking
from genlab.config import Params
from genlab.data.splits import Splits
from genlab.owners import owner_id
from genlab.progress import Progress
from genlab.quiet import quiet_libraries
from genlab.stages.tune.objective import Objective, TrialDiverged, TrialSurplus
from genlab.stages.tune.runs import (
    STAGE,
    close_stale_parent_runs,
    log_missing_params,
    new_parent_run,
    resume_parent,
    study_parent_run,
)
from genlab.stages.tune.space import (
    check_space,
    make_pruner,
    make_sampler,
    objective_metric,
    study_name,
)
from genlab.stages.tune.storage import is_shared, open_storage, open_study, redacted, storage_spec
from genlab.stages.tune.trials import (
    counts_toward_budget,
    fail_stale_trials,
    n_counted,
    others_working,
    room_left,
    status,
)

quiet_libraries()
optuna.logging.set_verbosity(optuna.logging.WARNING)

POLL_S = 0.5  # a worker waiting for others' last trials looks again this often


@dataclass
class WorkerSpec:
    """Everything a worker process needs (picklable: it crosses a spawn boundary)."""

    params: Params
    splits: Splits
    study: str
    storage: str
    parent_run_id: str
    data_id: str
    sampler_seed: int
    parent_pid: int | None = None  # set for spawned workers: they stop when orphaned


def _claim(remaining) -> bool:
    """Take one trial from the budget shared by this machine's workers (atomic): they never
    race each other for the last slots, only other machines' workers."""
    with remaining.get_lock():
        if remaining.value <= 0:
            return False
        remaining.value -= 1
        return True


def _refund(remaining) -> None:
    """A trial that does not count (surplus, interrupted) gives its slot back."""
    with remaining.get_lock():
        remaining.value += 1


def run_one_trial(study: optuna.Study, objective: Objective) -> FrozenTrial:
    """One trial under `optimize` (heartbeats and stale-trial retries run only there)."""
    done: list[FrozenTrial] = []
    study.optimize(
        objective,
        n_trials=1,
        catch=(TrialDiverged, TrialSurplus),
        gc_after_trial=False,
        callbacks=[lambda _study, t: done.append(t)],
    )
    return done[0]


def run_worker(spec: WorkerSpec, remaining) -> None:
    """Run trials until the study holds `n_trials` counted ones, from whichever process or
    machine. While the trials in flight would fill it, wait and watch them instead: one whose
    worker dies is failed (heartbeat, or pid on this machine) and its retry is run here."""
    import torch

    torch.set_num_threads(spec.params.tune.torch_threads)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    tune = spec.params.tune
    shared = is_shared(spec.storage)
    storage = open_storage(spec.storage, spec.params)
    study = optuna.load_study(
        study_name=spec.study,
        storage=storage,
        sampler=make_sampler(tune, spec.sampler_seed),
        pruner=make_pruner(tune),
    )
    objective = Objective(spec.params, spec.splits, spec.parent_run_id, spec.data_id)
    counted = n_counted(study)
    progress = Progress(STAGE, tune.n_trials, done=min(counted, tune.n_trials))
    while True:
        if spec.parent_pid is not None and os.getppid() != spec.parent_pid:
            return  # the stage was killed: leave the rest to its rerun
        trials = study.get_trials(deepcopy=False)
        if sum(map(counts_toward_budget, trials)) >= tune.n_trials:
            return
        if not room_left(trials, tune.n_trials):
            time.sleep(POLL_S)
            fail_stale_trials(study, storage, spec.params, shared, startup=False)
            continue
        if not _claim(remaining):
            return  # this machine's other workers run the rest
        trial = run_one_trial(study, objective)
        if not counts_toward_budget(trial):
            _refund(remaining)
        counted = min(n_counted(study), tune.n_trials)  # with every other worker's trials
        progress.step(f"trial {trial.number} {status(trial)}", done=counted)


def sampler_seed(seed: int, worker: int, n_trials_so_far: int, shared: bool) -> int:
    """Distinct per worker, and per process on a shared store: clones that join a study in the
    same state with the same `seed` would otherwise draw the same configurations."""
    base = seed + 1009 * worker + n_trials_so_far
    return (base + (zlib.crc32(owner_id().encode()) if shared else 0)) % 2**32


@dataclass
class StudyResult:
    study: optuna.Study
    name: str
    storage: str  # as it may be shown: without a password
    parent_run_id: str
    counted_before: int
    new_trials: int  # counted trials the study gained meanwhile, from any process
    interrupted: list[int] = field(default_factory=list)


def run_study(params: Params, splits: Splits) -> StudyResult:
    """Create or join the study, run `n_workers` workers until it holds `n_trials` counted
    trials, all under the study's one MLflow parent run (left RUNNING for the caller to add
    figures to and finish)."""
    tune = params.tune
    check_space(params)
    name = study_name(params)
    spec = storage_spec(tune)
    storage = open_storage(spec, params)
    direction = objective_metric(params).direction
    study, created = open_study(
        name, storage, direction, make_sampler(tune, params.seed), make_pruner(tune)
    )
    data_id = tracking.splits_hash(splits)
    parent = study_parent_run(
        params, study, created, lambda: new_parent_run(params, name, redacted(spec), data_id)
    )
    resume_parent(params, parent, {"genlab.n_trials": str(tune.n_trials)})
    log_missing_params(params, parent, tracking.run_params(params, "tune", trained=False))
    interrupted = fail_stale_trials(study, storage, params, is_shared(spec))
    close_stale_parent_runs(params, name, keep=parent)
    before = n_counted(study)
    left = max(0, tune.n_trials - before)
    n_workers = min(tune.n_workers, left)
    ctx = mp.get_context("spawn")
    remaining = ctx.Value("i", left)
    specs = [
        WorkerSpec(
            params,
            splits,
            name,
            spec,
            parent,
            data_id,
            sampler_seed=sampler_seed(params.seed, i, len(study.trials), is_shared(spec)),
            parent_pid=os.getpid() if i > 0 else None,
        )
        for i in range(n_workers)
    ]
    try:
        if specs:
            run_workers(ctx, specs, remaining)
    except BaseException as err:
        if not others_working(study):  # the shared run goes on while others work
            tracking.end_run(tracking.client(params), parent, *tracking.error_ending(err))
        raise
    study = optuna.load_study(study_name=name, storage=storage)
    counted = n_counted(study)
    return StudyResult(study, name, redacted(spec), parent, before, counted - before, interrupted)


def run_workers(ctx, specs: list[WorkerSpec], remaining) -> None:
    """Worker 0 runs in this process (its imports are done: it starts at once); the others are
    spawned processes that join the shared budget as soon as they have started up."""
    procs = [
        ctx.Process(target=run_worker, args=(s, remaining), name=f"tune-worker-{i}")
        for i, s in enumerate(specs[1:], start=1)
    ]
    # start() blocks until a child has imported its modules and read its arguments (the splits
    # overflow the pipe), so the children are started from a thread while worker 0 runs
    starter = threading.Thread(target=lambda: [p.start() for p in procs], daemon=True)
    starter.start()
    try:
        run_worker(specs[0], remaining)
        starter.join()
        for p in procs:
            p.join()
    finally:  # on an error or Ctrl-C here, don't leave workers running
        starter.join()
        for p in procs:
            if p.is_alive():
                p.terminate()
                p.join()
    failed = [(p.name, p.exitcode) for p in procs if p.exitcode != 0]
    if failed:
        raise RuntimeError(f"tune workers failed (name, exit code): {failed}; see stderr above")
