"""MLflow: where runs are stored, how experiments and runs are named, what is tagged.

The embedded default is a SQLite file in the project (no server). `MLFLOW_TRACKING_URI` points
at a team server instead; it is checked before any training, so an unreachable server costs
seconds, not a finished run.
"""

from __future__ import annotations

import base64
import os
import subprocess
import urllib.error
import urllib.request
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

from genlab.config import Params  # noqa: E402
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


def _end(mlflow, run, status: str, reason: str) -> None:
    mlflow.set_tag(run.info.run_id, END_REASON_TAG, reason[:500])
    mlflow.set_terminated(run.info.run_id, status)


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
        who = run.data.tags[OWNER_TAG]
        _end(mlflow, run, "KILLED", f"process {who} ended without closing it")
    return len(stale)


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
                _end(mlflow, run, status, reason)
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
    return {
        "mlp": "mlp" + "x".join(str(h) for h in m.mlp.hidden),
        "poly": f"poly{m.poly.degree}",
        "cnn1d": "cnn" + "x".join(str(c) for c in m.cnn1d.channels),
    }[m.name]


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

    Hand the id to `attach_logger` to let Lightning log a fit into it; end it with
    `client(params).set_terminated(run_id)`.
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
