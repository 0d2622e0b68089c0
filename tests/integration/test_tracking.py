"""genlab.tracking across processes: two processes creating a fresh store at once."""

from __future__ import annotations

import multiprocessing as mp

import pytest

from genlab import tracking


def _create(db: str, barrier, errors) -> None:
    barrier.wait()
    try:
        tracking.check_tracking(f"sqlite:///{db}")
        from mlflow.tracking import MlflowClient

        MlflowClient(f"sqlite:///{db}").search_experiments()
    except Exception as err:  # noqa: BLE001 - reported to the parent
        errors.put(f"{type(err).__name__}: {err}")


@pytest.mark.slow  # 5 tries x 2 processes
def test_two_processes_creating_a_fresh_store_never_crash(tmp_path):
    """MLflow's schema migration races when two stages open a new SQLite store at once
    (`dvc queue start -j 2`): creation is serialised by a file lock. 5 tries, 0 failures
    (without the lock, 10 tries out of 10 failed on the 2-core development machine)."""
    import mlflow.store.tracking.sqlalchemy_store  # noqa: F401 - imported before the fork

    ctx = mp.get_context("fork")
    errors = ctx.Queue()
    for i in range(5):
        db = tmp_path / f"try{i}" / "mlflow.db"
        db.parent.mkdir()
        barrier = ctx.Barrier(2)
        procs = [ctx.Process(target=_create, args=(str(db), barrier, errors)) for _ in range(2)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
        assert [p.exitcode for p in procs] == [0, 0]
    failures = []
    while not errors.empty():
        failures.append(errors.get())
    assert failures == []
