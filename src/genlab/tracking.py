"""MLflow: where runs are stored, how experiments and runs are named, what is tagged.

The embedded default is a SQLite file in the project (no server). `MLFLOW_TRACKING_URI` points
at a team server instead; it is checked before any training, so an unreachable server costs
seconds, not a finished run.
"""

from __future__ import annotations

import base64
import contextlib
import os
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

# Nothing leaves the machine: MLflow's usage telemetry is off unless a user turns it on.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
# A tracking server that dies mid-run: MLflow's defaults (7 retries, 120 s timeout) make each
# call wait ~4 min. These make a dead server fail a call within about a minute (a user's own
# setting wins): 15 s per attempt, 2 retries, 1 s then 2 s apart.
# A server makes MLflow print two "View run" links per run: one per trial floods a study's log.
for _knob, _value in (
    ("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true"),
    ("MLFLOW_HTTP_REQUEST_TIMEOUT", "15"),
    ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2"),
    ("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1"),
):
    os.environ.setdefault(_knob, _value)

from genlab.config import Params, reads  # noqa: E402
from genlab.config.tracking import TrackingConfig  # noqa: E402
from genlab.owners import owner_gone, owner_id  # noqa: E402


class TrackingError(RuntimeError):
    """The MLflow store cannot be used (unreachable server, unsupported URI)."""


def store_root() -> Path:
    """The project a stage belongs to. `dvc exp run --temp` and queued experiments run in a
    throw-away copy under `.dvc/tmp/exps/`; DVC names the real project in `DVC_ROOT`, so the
    embedded store stays the project's own and no run is lost with the copy."""
    return Path(os.environ.get("DVC_ROOT") or Path.cwd()).resolve()


def resolve_tracking_uri(cfg: TrackingConfig) -> str:
    """The env var wins; a relative sqlite path is anchored at the project root."""
    uri = os.environ.get("MLFLOW_TRACKING_URI") or cfg.tracking_uri
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        uri = "sqlite:///" + str(store_root() / uri.removeprefix("sqlite:///"))
    return uri


def artifact_location(cfg: TrackingConfig, uri: str) -> str | None:
    """Local stores keep artifacts beside the project; a server decides its own."""
    if uri.startswith("sqlite:"):
        return (store_root() / cfg.artifact_dir).as_uri()
    return None


def check_tracking(uri: str, timeout: float = 5.0) -> None:
    """Fail fast, with one clear message, when runs could not be recorded."""
    if uri.startswith(("http://", "https://")):
        _check_server(uri.rstrip("/"), timeout)
    elif uri.startswith("sqlite:///"):
        db = Path(uri.removeprefix("sqlite:///"))
        db.parent.mkdir(parents=True, exist_ok=True)
        if db.exists() and db.stat().st_size and db.read_bytes()[:16] != b"SQLite format 3\x00":
            raise TrackingError(
                f"{db} is not a SQLite database: move it away or point "
                "tracking.tracking_uri / MLFLOW_TRACKING_URI elsewhere"
            )
        _create_store_once(uri, db)
    elif not uri.startswith(("databricks", "postgresql", "mysql", "mssql")):
        raise TrackingError(
            f"tracking URI '{uri}' is not supported: MLflow 3 refuses file stores. Use "
            "sqlite:///path.db (embedded), http(s)://host:port (server) or a database URI"
        )
    global _CHECKED_URI
    _CHECKED_URI = uri
    close_stale_runs(uri)


# --------------------------------------------------------------- runs left RUNNING
OWNER_TAG, END_REASON_TAG = "genlab.owner", "genlab.end_reason"
INTERRUPTED = "interrupted (Ctrl-C / SIGINT)"  # the reason `cli.run_stage` gives its KILLED runs
_CHECKED_URI: str | None = None  # the store this process records into (set by check_tracking)


def checked_uri() -> str | None:
    """The store this process records into, once `check_tracking` has checked it."""
    return _CHECKED_URI


def _runs(uri: str, states: tuple[str, ...] = ("RUNNING",)) -> list:
    from mlflow.tracking import MlflowClient

    mlflow = MlflowClient(uri)
    ids = [e.experiment_id for e in mlflow.search_experiments()]
    if not ids:
        return []
    return [  # MLflow's filter has no OR: one query per state
        run
        for st in states
        for run in mlflow.search_runs(ids, f"attributes.status = '{st}'", max_results=5000)
    ]


def _shared_study_parent(run) -> bool:
    """A study's parent run, shared by workers on any machine: the tune stage closes it."""
    return "optuna.study" in run.data.tags and "mlflow.parentRunId" not in run.data.tags


def end_run(mlflow, run_id: str, status: str, reason: str = "") -> None:
    """End a run as `status` (FINISHED, FAILED, KILLED) through `mlflow` (an MlflowClient),
    `reason` (if any) in its `genlab.end_reason` tag: the one way genlab ends a run. `study`
    ends the runs of a block with it; runs that no block holds use it directly (a study's
    Optuna parent, shared by processes on any machine; trials, ended from Optuna callbacks)."""
    if reason:
        mlflow.set_tag(run_id, END_REASON_TAG, reason[:500])
    mlflow.set_terminated(run_id, status)


def error_ending(err: BaseException) -> tuple[str, str]:
    """How a run an error left open ends, and why: KILLED on Ctrl-C (Lightning turns it into
    SystemExit), as `cli.run_stage` would mark it, else FAILED with the error."""
    if isinstance(err, KeyboardInterrupt | SystemExit):
        return "KILLED", INTERRUPTED
    return "FAILED", f"{type(err).__name__}: {err}"


def close_stale_runs(uri: str) -> int:
    """Runs left RUNNING by a process of this machine that no longer exists (SIGKILL, power
    cut) are marked KILLED with a reason: the store never shows a dead run as running."""
    from mlflow.tracking import MlflowClient

    mlflow = MlflowClient(uri)
    stale = [
        run
        for run in _runs(uri)
        if not _shared_study_parent(run) and owner_gone(run.data.tags.get(OWNER_TAG, ""))
    ]
    for run in stale:
        end_run(mlflow, run.info.run_id, "KILLED", gone_reason(run.data.tags[OWNER_TAG]))
    return len(stale)


def gone_reason(owner: str) -> str:
    """The reason of a run whose process died without ending it."""
    return f"process {owner} ended without closing it"


def close_my_runs(status: str, reason: str) -> None:
    """On Ctrl-C or a crash: this process's open runs end as KILLED/FAILED with the reason,
    not RUNNING forever. On Ctrl-C, Lightning has already ended its run as FAILED: that one
    becomes KILLED too (a diverged run stays FAILED). Best effort: the store may be down."""
    if _CHECKED_URI is None:
        return
    from mlflow.tracking import MlflowClient

    me = owner_id()
    try:
        mlflow = MlflowClient(_CHECKED_URI)
        states = ("RUNNING", "FAILED") if status == "KILLED" else ("RUNNING",)
        for run in _runs(_CHECKED_URI, states):
            mine = run.data.tags.get(OWNER_TAG) == me
            if mine and not _shared_study_parent(run) and run.data.tags.get(
                "genlab.status"
            ) != "diverged":
                end_run(mlflow, run.info.run_id, status, reason)
    except Exception:  # noqa: BLE001 - the store may be down: nothing more can be done here
        pass


def _check_server(uri: str, timeout: float) -> None:
    """The server answers, and accepts this client's credentials (basic-auth servers)."""
    user = os.environ.get("MLFLOW_TRACKING_USERNAME")
    try:
        with urllib.request.urlopen(uri + "/health", timeout=timeout) as resp:
            if resp.status != 200:
                raise TrackingError(f"MLflow server at {uri} answered HTTP {resp.status}")
        req = urllib.request.Request(uri + "/api/2.0/mlflow/experiments/search?max_results=1")
        if user:
            token = f"{user}:{os.environ.get('MLFLOW_TRACKING_PASSWORD', '')}"
            req.add_header("Authorization", "Basic " + base64.b64encode(token.encode()).decode())
        urllib.request.urlopen(req, timeout=timeout).close()
    except urllib.error.HTTPError as err:
        if err.code in (401, 403):
            who = f"user '{user}'" if user else "anonymous requests"
            raise TrackingError(
                f"MLflow server at {uri} refuses {who} (HTTP {err.code}): `source team.env`, or "
                "set MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD to a user with access"
            ) from None
        raise TrackingError(f"MLflow server at {uri} answered HTTP {err.code}") from None
    except (urllib.error.URLError, OSError) as err:
        raise TrackingError(
            f"MLflow tracking server at {uri} is unreachable ({err}). Start it (`make team-up` "
            "for the local team stack), fix MLFLOW_TRACKING_URI, or unset it to use the "
            "embedded sqlite:///mlflow.db store"
        ) from None


def _create_store_once(uri: str, db: Path) -> None:
    """Create (migrate) a new SQLite store under a file lock: two stages starting together on
    a fresh store (`dvc queue start -j 2`) would otherwise race in MLflow's schema migration."""
    if db.exists() and db.stat().st_size:
        return
    from filelock import FileLock

    with FileLock(str(db) + ".lock", timeout=120):
        if db.exists() and db.stat().st_size:
            return
        from mlflow.tracking import MlflowClient

        MlflowClient(uri).search_experiments(max_results=1)


def experiment_name(cfg: TrackingConfig, family: str) -> str:
    """One MLflow experiment per stage family, e.g. `genlab/train`."""
    return f"{cfg.experiment_prefix}/{family}"


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, timeout=10
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


# Run names. MLflow's runs table shows only a name's first ~20 characters: what differs between
# runs of one experiment comes first (optimizer, lr, batch; a study's variant), what they share
# (model, data, seed) after it. The exact values are in each run's params.
def short(x: float) -> str:
    """A number in a run name: 3 significant digits (`0.001`, `0.00213`, `1.2e-05`)."""
    return f"{x:.3g}"


def describe_model(params: Params) -> str:
    """`mlp256x256`, `poly4`, `cnn32x32`."""
    m = params.model
    if m.name == "mlp":  # the chosen model's only: a run's name depends on nothing else
        return "mlp" + "x".join(str(h) for h in m.mlp.hidden)
    if m.name == "poly":
        return f"poly{m.poly.degree}"
    return "cnn" + "x".join(str(c) for c in m.cnn1d.channels)


def describe_optimizer(params: Params) -> str:
    """`adam-lr0.001-bs64`: the part of a training run's name that most often differs."""
    o = params.train.optimizer
    batch = {"gd": "full", "sgd": "1"}.get(o.name, str(o.batch_size))
    return f"{o.name}-lr{short(o.lr)}-bs{batch}"


def describe_run(params: Params) -> str:
    """`adam-lr0.001-bs64-mlp256x256-mnist1d-s42`: optimizer, lr and batch first (they tell
    runs apart in a cut-off column), then model, data and seed."""
    shared = f"{describe_model(params)}-{params.data.name}-s{params.seed}"
    return f"{describe_optimizer(params)}-{shared}"


@reads.unrecorded
def run_params(
    params: Params,
    *sections: str,
    trained: bool = True,
    datasets: tuple[str, ...] = (),
) -> dict[str, object]:
    """The params that apply to a run, flattened (`train.optimizer.lr`), for MLflow's params.

    params.yaml holds every dataset, model and study: logging all of it gives each run ~160
    params, most of which (`data.poly.*` on an MNIST-1D run) it never read. `trained`: the
    seed, the chosen dataset's and model's own subsections and `train`. `sections`: a stage's
    own section (`tune`, `optimizers`; dotted for a subsection). `datasets`: the generators a
    study draws its own data from (polyfit: `poly`).
    """
    from genlab.config import as_flat_dict

    out: dict[str, object] = {}
    if trained:
        data, model = params.data.name, params.model.name
        out["seed"] = params.seed
        out["data.name"] = data
        out.update(as_flat_dict(getattr(params.data, data), f"data.{data}."))
        out["model.name"] = model
        out.update(as_flat_dict(getattr(params.model, model), f"model.{model}."))
        out.update(as_flat_dict(params.train, "train."))
    for name in datasets:
        out.update(as_flat_dict(getattr(params.data, name), f"data.{name}."))
    for section in sections:
        node = params
        for key in section.split("."):
            node = getattr(node, key)
        out.update(as_flat_dict(node, f"{section}."))
    return out


def log_params(mlflow, run_id: str, values: dict[str, object]) -> None:
    """Log params into a run through `mlflow` (an MlflowClient), in MLflow's batches of 100
    (values cut to MLflow's 6000 characters)."""
    from mlflow.entities import Param

    items = [Param(k, str(v)[:6000]) for k, v in values.items()]
    for i in range(0, len(items), 100):
        mlflow.log_batch(run_id, params=items[i : i + 100])


# Set by DVC for `dvc exp run` (all modes): the experiment's name and the commit it started from.
DVC_EXP_TAGS = {"DVC_EXP_NAME": "dvc.exp_name", "DVC_EXP_BASELINE_REV": "dvc.baseline_rev"}


def dvc_experiment_tags() -> dict[str, str]:
    """`dvc.exp_name` / `dvc.baseline_rev` when the stage runs inside a DVC experiment, so a
    `dvc exp show` row leads to its MLflow runs and back (README, Experiments)."""
    return {tag: os.environ[var] for var, tag in DVC_EXP_TAGS.items() if os.environ.get(var)}


# A run page lists `test/loss` (the curve's last epoch) beside `final/test/loss`: each training
# run's description (`mlflow.note.content`, shown at the top of its page) says which is which.
CURVES_NOTE = (
    "Unprefixed metrics (`train/loss`, `test/loss`, ...): per-epoch curves (step = epoch); "
    "tables and this page show their last epoch."
)
FINAL_NOTES = {  # first on the page (MLflow folds a description after ~3 lines)
    "train": "`final/*` (`final/test/loss`, ...): the model this run selected, the epoch with "
    "the best validation metric. The numbers `dvc metrics show` reports: compare runs on these.",
    "train_best": "`final/*` (`final/test/loss`, ...): the model this run selected, the epoch "
    "with the best validation metric, tested once. The numbers `dvc metrics show` reports.",
    "regularization": "`final/*`: the epoch the study reports (`reported_epoch`): the best "
    "validation epoch with early stopping, else the last. The numbers of the report.",
    "train_seeds": "`final/*`: the epoch this fit's validation metric selects, as in `train` "
    "(params' own seed is the run of `train` / `train_cnn`). The numbers of the report.",
    "optimizers": "`final/*`: the last epoch (same epoch budget for every variant, nothing is "
    "selected). The numbers of the report.",
    "lr_range": "`final/*`: the last epoch (same epoch budget for every run, nothing is "
    "selected). The numbers of the report.",
    "tune": "`objective`: the trial's value for Optuna, its best validation value over epochs. "
    "A trial never sees the test split; `val/*` are the values the pruner judged.",
}


def metrics_note(stage: str) -> str:
    """What a training run's metric names mean, for its description ('' for other stages):
    `final/*` first, then the per-epoch curves."""
    final = FINAL_NOTES.get(stage)
    return f"{final}\n\n{CURVES_NOTE}" if final else ""


@reads.unrecorded
def run_tags(
    params: Params, stage: str, data_hash: str, description: str = "", curves: bool = True
) -> dict[str, str]:
    """Tags every run carries (stage, data, seed, commit, owner, DVC experiment) and its
    description: `description` first, then what its metric names mean (`metrics_note`) unless
    `curves` is False (a study's parent run, which holds no per-epoch curves)."""
    tags = {
        "genlab.stage": stage,
        "genlab.dataset": params.data.name,
        "genlab.data_hash": data_hash,
        "genlab.seed": str(params.seed),
        "mlflow.source.git.commit": os.environ.get("DVC_EXP_BASELINE_REV") or git_commit(),
        OWNER_TAG: owner_id(),
        **dvc_experiment_tags(),
    }
    note = "\n\n".join(filter(None, (description, metrics_note(stage) if curves else "")))
    if note:
        tags["mlflow.note.content"] = note
    return tags


def make_logger(params: Params, family: str, run_name: str, tags: dict[str, str]):
    """Lightning's own MLflow logger, with URI and artifact location always explicit."""
    from lightning.pytorch.loggers import MLFlowLogger

    uri = resolve_tracking_uri(params.tracking)
    return MLFlowLogger(
        experiment_name=experiment_name(params.tracking, family),
        run_name=run_name,
        tracking_uri=uri,
        tags=tags,
        artifact_location=artifact_location(params.tracking, uri),
        log_model=False,
    )


def ensure_experiment(params: Params, family: str) -> str:
    """The id of the stage family's experiment, created (with explicit artifact root) if new."""
    mlflow = client(params)
    name = experiment_name(params.tracking, family)
    exp = mlflow.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    uri = resolve_tracking_uri(params.tracking)
    return mlflow.create_experiment(name, artifact_location=artifact_location(params.tracking, uri))


def start_run(
    params: Params,
    family: str,
    run_name: str,
    tags: dict[str, str],
    parent_run_id: str | None = None,
) -> str:
    """Create a run (a parent per stage execution, or a child under one); returns its id.

    Hand the id to `attach_logger` to let Lightning log a fit into it. A study's runs are
    opened and ended by `study`.
    """
    tags = dict(tags)
    if parent_run_id:
        tags["mlflow.parentRunId"] = parent_run_id
    run = client(params).create_run(ensure_experiment(params, family), run_name=run_name, tags=tags)
    return run.info.run_id


def attach_logger(params: Params, family: str, run_id: str):
    """Lightning's MLflow logger writing into an existing run (e.g. a child of a study run)."""
    from lightning.pytorch.loggers import MLFlowLogger

    return MLFlowLogger(
        experiment_name=experiment_name(params.tracking, family),
        tracking_uri=resolve_tracking_uri(params.tracking),
        run_id=run_id,
        log_model=False,
    )


def client(params: Params):
    """An MlflowClient on the resolved store (for stages that add to an existing run)."""
    from mlflow.tracking import MlflowClient

    return MlflowClient(resolve_tracking_uri(params.tracking))


CHECKPOINT_TAG = "genlab.checkpoint_sha256"


def file_sha256(path: str | Path) -> str:
    """Content hash of a file (a checkpoint): what links DVC's outputs to an MLflow run."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def run_for_checkpoint(params: Params, family: str, checkpoint: str | Path):
    """The latest run of `family` tagged with this checkpoint's hash, or None.

    Run ids stay out of DVC-tracked outputs (an id changes on every rerun, so identical
    weights would hash differently and every downstream stage would rerun). The weights find
    their run instead, in whatever store is in use: a teammate's clone finds the run on the
    team server from the checkpoint `dvc pull` brought.
    """
    mlflow = client(params)
    exp = mlflow.get_experiment_by_name(experiment_name(params.tracking, family))
    if exp is None:
        return None
    runs = mlflow.search_runs(
        [exp.experiment_id],
        f"tags.`{CHECKPOINT_TAG}` = '{file_sha256(checkpoint)}'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return runs[0] if runs else None


# --------------------------------------------------------------- one study: a parent, its children
DATA_HASH_TAG, STATUS_TAG, NOT_FINITE_TAG = "genlab.data_hash", "genlab.status", "genlab.not_finite"


def data_hash(*arrays) -> str:
    """What the `genlab.data_hash` tag of a study's runs means: sha256 over the values of the
    exact arrays the runs trained and were tested on, in the order given (split data: x and y
    of train, val, test). Equal tags: the same numbers, whichever file or generator they came
    from, so it is computed from the arrays in memory, never from a file."""
    import hashlib

    import numpy as np

    digest = hashlib.sha256()
    for a in arrays:
        digest.update(np.ascontiguousarray(a).tobytes())
    return digest.hexdigest()


def splits_hash(splits) -> str:
    """`data_hash` of a `genlab.data.Splits`: x and y of train, val and test, in that order."""
    return data_hash(*(a for name in ("train", "val", "test") for a in splits.split(name)))


def finite_metrics(values: dict[str, object], step: int = 0) -> tuple[list, list[str]]:
    """MLflow metrics for the finite numbers of `values`, and the names left out.

    The one NaN policy of genlab's own logging: a value that is NaN or ±inf (a diverged fit's
    loss, Adam's undefined noise scale) is not logged. The SQLite store reads +inf back as
    1.8e308 and no metric filter (`metrics.x < 1`, `> -1`) matches a stored NaN, so a logged
    non-finite value would look like a number in tables and charts, or vanish from queries.
    Left-out names go to the run's `genlab.not_finite` tag instead (`Study.log_metrics`): every
    child of a study still shows the same names side by side, metrics plus that tag.
    Only numbers are metrics: booleans and strings (`status`) are skipped.
    """
    import math
    import numbers
    import time

    import numpy as np
    from mlflow.entities import Metric

    now, metrics, dropped = int(time.time() * 1000), [], []
    for key, value in values.items():
        if not isinstance(value, numbers.Real) or isinstance(value, bool | np.bool_):
            continue  # numpy's number scalars are Real, its bool is not: both checks
        if math.isfinite(value):
            metrics.append(Metric(key, float(value), now, step))
        else:
            dropped.append(key)
    return metrics, dropped


class Child:
    """A child run while it is open (`Study.child`): its id, the Lightning logger writing into
    it (if asked for) and, once known, how its fit ended (`outcome`)."""

    def __init__(self, run_id: str, logger=None) -> None:
        self.run_id, self.logger = run_id, logger
        self.status: str | None = None
        self.reason = ""

    def outcome(self, status: str, reason: str = "") -> None:
        """`ok`, or why the fit is not usable (`diverged`): tagged `genlab.status` (and
        `genlab.diverged_reason`) when the run ends, which is then FINISHED or FAILED."""
        self.status, self.reason = status, reason


class Study(Child):
    """An open study: one parent run per stage execution, children for its variants. Made by
    `study`, which ends every run it opened. A single-fit stage (`train`) is a study without
    children: its fit logs into the parent (`logger`), whose `outcome` it sets."""

    def __init__(
        self, params: Params, stage: str, run_id: str, tags: dict[str, str], logger=None
    ) -> None:
        super().__init__(run_id, logger)
        self.params, self.stage, self.tags = params, stage, tags
        self.mlflow = client(params)
        self.statuses: list[str] = []  # the children's outcomes: the parent's `genlab.status`
        self._not_finite: dict[str, set[str]] = {}
        self._store_down = False  # set when ending a run after an error failed too

    @property
    def data_hash(self) -> str:
        return self.tags.get(DATA_HASH_TAG, "")

    @contextlib.contextmanager
    def child(
        self,
        name: str,
        tags: dict[str, str] | None = None,
        params: dict[str, object] | None = None,
        logger: bool = False,
    ) -> Iterator[Child]:
        """A child run of the parent (tags: the parent's unless given), ended on leaving:
        FINISHED, or FAILED with `genlab.status` when its `outcome` is not `ok`; on an error
        FAILED (KILLED on Ctrl-C) with the reason, and the error goes on. `logger`: Lightning's
        MLflow logger writing into it (`Child.logger`)."""
        run_id = start_run(self.params, self.stage, name, tags or self.tags, self.run_id)
        try:
            if params:
                log_params(self.mlflow, run_id, params)
            attached = attach_logger(self.params, self.stage, run_id) if logger else None
            run = Child(run_id, attached)
            yield run
        except BaseException as err:
            self._end_on_error(run_id, err)
            raise
        if run.status is not None:
            self.statuses.append(run.status)
        self._end(run_id, run.status, run.reason)

    def log_params(self, run_id: str, values: dict[str, object]) -> None:
        log_params(self.mlflow, run_id, values)

    def log_metrics(self, run_id: str, values: dict[str, object], step: int | None = None) -> None:
        """Numbers as metrics at `step` (0 if None) in MLflow's batches of 1000; NaN and ±inf
        are not logged but named in the run's `genlab.not_finite` tag (`finite_metrics`)."""
        metrics, dropped = finite_metrics(values, step or 0)
        self._log(run_id, metrics, dropped)

    def log_series(
        self, run_id: str, rows: list[dict[str, float]], keys: Sequence[str], step: str = "epoch"
    ) -> None:
        """Per-epoch values (`rows[i][step]` is the step), batched after the fit: one store
        transaction per 1000 values instead of one per epoch. Non-finite points are gaps."""
        metrics = []
        for row in rows:
            got, _ = finite_metrics({k: row[k] for k in keys if k in row}, int(row[step]))
            metrics += got
        self._log(run_id, metrics, [])

    def _log(self, run_id: str, metrics: list, dropped: list[str]) -> None:
        for i in range(0, len(metrics), 1000):
            self.mlflow.log_batch(run_id, metrics=metrics[i : i + 1000])
        names = self._not_finite.setdefault(run_id, set())
        if not set(dropped) <= names:
            names.update(dropped)
            self.tag(run_id, {NOT_FINITE_TAG: ",".join(sorted(names))[:5000]})

    def artifact(self, *paths: str | Path) -> None:
        """Files (figures, tables) on the parent run."""
        for path in paths:
            self.mlflow.log_artifact(self.run_id, str(path))

    def tag(self, run_id: str, tags: dict[str, str]) -> None:
        from mlflow.entities import RunTag

        self.mlflow.log_batch(run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    def _end(self, run_id: str, status: str | None, reason: str) -> None:
        """End a run its block left normally: FINISHED, or FAILED when its fit's outcome
        `status` is not `ok` (tagged `genlab.status`, the reason in `genlab.diverged_reason`)."""
        state = "FINISHED"
        if status is not None:
            tags = {STATUS_TAG: status}
            if status != "ok":
                state = "FAILED"
                if reason:
                    tags["genlab.diverged_reason"] = reason
            self.tag(run_id, tags)
        end_run(self.mlflow, run_id, state)

    def _end_on_error(self, run_id: str, err: BaseException) -> None:
        """End a run the error left open (`error_ending`): KILLED on Ctrl-C, else FAILED, with
        the reason. If the store is what failed, one try: no retries on every open run before
        the error is reported."""
        if self._store_down:
            return
        try:
            end_run(self.mlflow, run_id, *error_ending(err))
        except Exception:  # noqa: BLE001 - the original error is the one to report
            self._store_down = True


@contextlib.contextmanager
def study(
    params: Params,
    stage: str,
    name: str,
    tags: dict[str, str],
    logged: dict[str, object] | None = None,
    logger: bool = False,
) -> Iterator[Study]:
    """The one MLflow tracker of a stage: a parent run `name` in the stage's experiment with
    `tags` and the params `logged`, open for the block; children via `Study.child`.
    `logger`: the parent is made by Lightning's MLflow logger (`Study.logger`), for a stage
    whose one fit logs into it (`train`, `train_best`); Lightning may end the run when the
    fit ends, the block's end decides its final status.

    Leaving the block ends the parent FINISHED, tagged `genlab.status`: its own `outcome` if
    set (not `ok`: FAILED, with `genlab.diverged_reason`), else `diverged` if any child's
    outcome was not `ok`. An error ends the open child and the parent FAILED (KILLED on
    Ctrl-C) with the reason, and goes on: `cli.run_stage` then finds nothing of the stage
    still RUNNING, so no run is ended twice.
    """
    if logger:  # Lightning's logger makes the run: its tags (user, source) as its fits have
        made = make_logger(params, stage, name, dict(tags))
        run = Study(params, stage, made.run_id, tags, made)
    else:
        run = Study(params, stage, start_run(params, stage, name, tags), tags)
    try:
        if logged:
            run.log_params(run.run_id, logged)
        yield run
    except BaseException as err:
        run._end_on_error(run.run_id, err)
        raise
    if run.status is None and run.statuses:
        worst = next((s for s in run.statuses if s != "ok"), "ok")
        run.tag(run.run_id, {STATUS_TAG: worst})
    run._end(run.run_id, run.status, run.reason)
