"""What the report shows for each stage, and the sentences it writes from the numbers."""

from __future__ import annotations

from genlab.report import Section


def _g(m: dict, key: str, fmt: str = ".3f") -> str:
    v = m.get(key)
    return format(v, fmt) if isinstance(v, int | float) else "n/a"


def losses_text(m: dict) -> str:
    return (
        "Cross-entropy on the true class is −log ŷ: a predicted probability of 0.1 costs "
        f"{_g(m, 'ce_at_p0.1', '.2f')} nats, 0.8 costs {_g(m, 'ce_at_p0.8', '.2f')}; the "
        "table shows the pipeline's stable (logits-in) losses equal the textbook formulas. "
        f"For p=(0.5, 0.5), q=(0.9, 0.1): H(p,q) = {_g(m, 'H(p,q)')} = H(p) + KL(p‖q) = "
        f"{_g(m, 'H(p)')} + {_g(m, 'KL(p||q)')}, while H(q,p) = {_g(m, 'H(q,p)')}: "
        "cross-entropy is not symmetric."
    )


def main_model_text(m: dict) -> str:
    if m.get("status") != "ok":
        return f"The main model diverged: {m.get('reason', '')}."
    diag = (
        f" Diagnosis: <b>{m['diagnosis']}</b> ({m.get('diagnosis_reason', '')})."
        if ("diagnosis" in m)
        else ""
    )
    acc = (
        f" Accuracy: train {_g(m, 'train/acc')}, val {_g(m, 'val/acc')}, test {_g(m, 'test/acc')}."
        if "train/acc" in m
        else ""
    )
    return (
        f"The model selected at epoch {m.get('best_epoch')} (lowest val/loss of "
        f"{m.get('epochs_run')} epochs) has train/loss {_g(m, 'train/loss')}, val/loss "
        f"{_g(m, 'val/loss')} and test/loss {_g(m, 'test/loss')}: a generalization gap of "
        f"{_g(m, 'gap/loss')}.{acc}{diag}"
    )


def _v(m: dict, *path: str):
    for key in path:
        if not isinstance(m, dict) or key not in m:
            return None
        m = m[key]
    return m


def _n(value: object, fmt: str = ".3f") -> str:
    return format(value, fmt) if isinstance(value, int | float) else "n/a"


def optimizers_text(m: dict) -> str:
    c = m.get("claims", {})
    upe, loss = c.get("updates_per_epoch", {}), c.get("final_train_loss", {})
    noise, spe = c.get("gradient_noise", {}), c.get("s_per_epoch", {})
    return (
        f"Same model ({m.get('model')}), data ({m.get('dataset')}, {m.get('n_train')} training "
        f"samples), seed and {m.get('epochs')} epochs. Full-batch GD makes {upe.get('gd')} update "
        f"per epoch and ends at train/loss {_n(loss.get('gd'))}; mini-batch SGD makes "
        f"{upe.get('minibatch')} and reaches {_n(loss.get('minibatch'))}; SGD makes "
        f"{upe.get('sgd')} and reaches {_n(loss.get('sgd'))}. SGD's one-sample gradients are the "
        f"noisiest (noise measure {_n(noise.get('sgd'), '.1f')} vs "
        f"{_n(noise.get('minibatch'), '.1f')} for mini-batch, 0 for GD), "
        "and it is the slowest per epoch of wall-clock "
        f"({_n(spe.get('sgd'), '.2f')} s vs {_n(spe.get('minibatch'), '.2f')} s). The four panels "
        "plot the same curves against epochs, updates, samples seen and seconds."
    )


def lr_range_text(m: dict) -> str:
    sc, sug = m.get("scaling", {}), m.get("suggested_lr", {})
    meds = ", ".join(f"B={b}: {_n(v.get('median'), '.3g')}" for b, v in sug.items())
    beats = _v(m, "answer", "suggested_beats_fixed") or {}
    gpu = m.get("max_batch_size", {})
    return (
        f"Lightning's learning-rate finder, {len(m.get('seeds', []))} seeds per batch size, "
        f"suggests (median) {meds}. Fitting log lr* = a + s·log B gives s = "
        f"{_n(sc.get('slope'), '.2f')} ± {_n(sc.get('slope_stderr'), '.2f')}: "
        f"{batch_scaling(sc.get('slope'), sc.get('slope_stderr'))}. "
        f"Each batch size trained at its own suggestion beat the fixed LR in "
        f"{sum(bool(v) for v in beats.values())} of {len(beats)} cases. Largest batch that fits "
        f"on a GPU: {_largest_batch(gpu)}."
    )


def batch_scaling(slope: float | None, stderr: float | None) -> str:
    """What the fitted slope of log lr* on log B says, judged at two standard errors."""
    if not isinstance(slope, int | float) or not isinstance(stderr, int | float):
        return "too few suggestions to fit a slope"
    tol = 2 * stderr
    if abs(slope) <= tol:
        return (
            "no clear dependence of the learning rate on the batch size "
            "(s is within two standard errors of 0)"
        )
    if slope < 0:
        return "larger batches took *lower* learning rates here, against the usual rule"
    for rule, s in (("linear scaling (s = 1)", 1.0), ("square-root scaling (s = 0.5)", 0.5)):
        if abs(slope - s) <= tol:
            return f"larger batches take higher learning rates, consistent with {rule}"
    higher = "larger batches take higher learning rates"
    if slope < 0.5:
        return f"{higher}, but less than square-root scaling (0.5)"
    if slope < 1:
        return f"{higher}, between square-root (0.5) and linear (1) scaling"
    return f"{higher}, more than linearly (s > 1)"


def fit_label(train: float | None, test: float | None, noise_var: float | None) -> str:
    """Under/overfit read off a polynomial's own numbers against the noise floor σ².

    Underfit: even the training error is well above σ² (1.5×); overfit: the test error is
    over twice the training error and above that floor; otherwise it fits.
    """
    if not all(isinstance(v, int | float) for v in (train, test, noise_var)):
        return "n/a"
    if train > 1.5 * noise_var:
        return "underfits"
    if test > 2 * train and test > 1.5 * noise_var:
        return "overfits"
    return "fits"


def _largest_batch(found: dict) -> str:
    """What lr_range recorded from the batch-size finder (batch_size_finder.py's keys)."""
    if found.get("max_batch_size") is not None:
        device = f" on {found['device']}" if found.get("device") else ""
        return f"{found['max_batch_size']} samples{device}"
    return f"{found.get('status', 'n/a')} ({found.get('reason', '')})"


def polyfit_text(m: dict) -> str:
    ls, gd, sigma2 = m.get("ls", {}), m.get("gd", {}), m.get("noise_var")
    curves = [k for k in ls if k.startswith("degree") and k.endswith("/train/loss")]
    degrees = sorted({int(k.split("/")[0].removeprefix("degree")) for k in curves})
    parts = []
    for d in degrees:
        train, test = ls.get(f"degree{d}/train/loss"), ls.get(f"degree{d}/test/loss")
        parts.append(
            f"degree {d} {fit_label(train, test, sigma2)} (least-squares train/test error "
            f"{_n(train)}/{_n(test, '.4g')})"
        )
    text = (
        f"{m.get('n_train')} noisy samples of f (noise variance {_n(sigma2, '.3f')}), Legendre "
        f"basis. By its own numbers (underfit: train error above 1.5σ²; overfit: test error over "
        f"twice the train error): {'; '.join(parts) or 'no curve degrees recorded'}."
    )
    if degrees:
        top = degrees[-1]
        ls_test, gd_test = ls.get(f"degree{top}/test/loss"), gd.get(f"degree{top}/test/loss")
        if isinstance(ls_test, int | float) and isinstance(gd_test, int | float):
            if gd_test < ls_test:
                text += (
                    f" At degree {top}, gradient descent stopped after its epoch budget has test "
                    f"error {_n(gd_test)}, below exact least squares: early-stopped GD has not "
                    "fitted the ill-conditioned directions, an implicit regularization."
                )
            else:
                text += (
                    f" At degree {top}, gradient descent's test error {_n(gd_test)} is not below "
                    "exact least squares here: no implicit regularization visible."
                )
    return text + f" Validation picks degree {ls.get('best_degree')}."


def biasvar_text(m: dict) -> str:
    reg, cls = m.get("regression", {}), m.get("classification", {})
    deg = reg.get("degree", {})
    return (
        f"K = {m.get('draws')} training sets per complexity level. Over polynomial degree, the "
        f"expected error is lowest at degree {deg.get('best')} "
        f"({_n(deg.get('best/expected_error'))}, noise floor σ² = {_n(reg.get('noise_var'))}); "
        "bias² falls and variance rises with complexity, giving the U-shape. The measured "
        "expected error equals bias² + variance + σ² within "
        f"{_n(deg.get('identity/max_abs_z'), '.1f')} Monte-Carlo standard errors at every degree. "
        f"The 0-1 loss version (Domingos 2000) on the Gaussian classes uses the Bayes error "
        f"{_n(cls.get('bayes_error'))} as noise. The lecture's shortcut (test − train error ≈ "
        f"variance) overstates the variance by a median factor "
        f"{_n(deg.get('shortcut/gap_over_variance/median'), '.2f')} over degree."
    )


def regularization_text(m: dict) -> str:
    v = m.get("variants", {})
    none = v.get("none", {})
    best = max(v, key=lambda k: v[k].get("test/acc") or 0) if v else "n/a"
    holds = [k for k, r in v.items() if r.get("claim_loss") == "holds"]
    other = [k for k, r in v.items() if r.get("claim_loss") not in ("holds", "baseline")]
    return (
        f"An MLP on {m.get('n_train')} training samples without regularization reaches train/loss "
        f"{_n(none.get('train/loss'))} but test/loss {_n(none.get('test/loss'))} (test accuracy "
        f"{_n(none.get('test/acc'))}): it overfits. The lecture's claim (regularization raises "
        f"training loss and lowers test loss) holds for {', '.join(holds) or 'none'}; not for "
        f"{', '.join(other) or 'none'}. Best test accuracy: {best} "
        f"({_n(_v(v, best, 'test/acc'))}). L1 leaves {_n(_v(v, 'l1', 'near_zero'), '.1%')} of the "
        "weights near zero." + _epochs_text(m.get("epochs_to_train_loss") or {})
    )


def _epochs_text(e: dict) -> str:
    """"Dropout needs more epochs", as measured (only what the numbers say)."""
    if "dropout" not in e:
        return ""
    verdict = {True: "more", False: "not more", None: "no comparable number of"}
    parts = [
        f"{name} {_n(e.get(name), '.0f')} ({verdict[e.get(f'{name}_needs_more')]} epochs)"
        for name in ("dropout", "dropconnect")
        if name in e
    ]
    return (
        f" Epochs to bring the training loss to {_n(e.get('train_loss_target'), 'g')}: none "
        f"{_n(e.get('none'), '.0f')}, " + ", ".join(parts) + "."
    )


def tune_text(m: dict) -> str:
    t = m.get("trials", {})
    best = m.get("best", {})
    params = ", ".join(f"{k} = {_n(x, '.3g')}" for k, x in best.items())
    return (
        f"Optuna study <code>{m.get('study')}</code> (TPE, pruned per epoch): "
        f"{t.get('complete', 0)} trials complete, {t.get('pruned', 0)} pruned, "
        f"{t.get('diverged', 0)} diverged; pruning trained "
        f"{_n(m.get('epochs_fraction'), '.0%')} of the epochs an unpruned study would. Best "
        f"{m.get('metric')} {_n(m.get('best_value'))} at {params}. Importance: "
        + ", ".join(f"{k} {_n(x, '.2f')}" for k, x in (m.get("importance") or {}).items())
        + ". The landscape plots the best LR found per batch size."
    )


def train_best_text(m: dict) -> str:
    return (
        f"The winning configuration (trial {m.get('trial')} of <code>{m.get('study')}</code>) "
        "retrained once; the test split is seen here for the first time. " + main_model_text(m)
    )


def diagnosis_text(m: dict) -> str:
    """Labels per study, from the `diagnosis` stage (recomputed from stored numbers)."""
    stages = m.get("stages", {})
    tuned = (stages.get("train_best") or [{}])[0]
    parts = []
    for stage, rows in stages.items():
        counts: dict[str, int] = {}
        for r in rows:
            counts[r["label"]] = counts.get(r["label"], 0) + 1
        parts.append(f"{stage}: " + ", ".join(f"{n} {k}" for k, n in counts.items()))
    return (
        "Every model a study trained, labelled by one rule from its stored final numbers "
        "(a threshold change relabels them without retraining): "
        + "; ".join(parts)
        + f". The tuned model is <b>{tuned.get('label', 'n/a')}</b> "
        f"({tuned.get('reasoning', '')}). The main model's label is in its own section."
    )


SECTIONS: list[Section] = [
    Section(
        "Loss functions: worked examples",
        "losses",
        "results/losses.json",
        ["plots/losses/loss_curves.png"],
        losses_text,
        tables=["plots/losses/table.csv"],
    ),
    Section(
        "Main model: train vs test error",
        "evaluate",
        "results/evaluate.json",
        ["plots/evaluate/learning_curve.png"],
        main_model_text,
        params_stage="train",
    ),
    Section(
        "Gradient descent: GD vs SGD vs mini-batch vs momentum vs Adam",
        "optimizers",
        "results/optimizers.json",
        ["plots/optimizers/optimizers.png"],
        optimizers_text,
        tables=["plots/optimizers/summary.csv"],
    ),
    Section(
        "Learning-rate range test and batch size",
        "lr_range",
        "results/lr_range.json",
        ["plots/lr_range/lr_range.png"],
        lr_range_text,
        tables=["plots/lr_range/training.csv"],
    ),
    Section(
        "Under- and overfitting: polynomial degree",
        "polyfit",
        "results/polyfit.json",
        ["plots/polyfit/curves.png", "plots/polyfit/errors.png"],
        polyfit_text,
        tables=["plots/polyfit/ls.csv", "plots/polyfit/gd.csv"],
    ),
    Section(
        "Bias–variance decomposition, measured",
        "biasvar",
        "results/biasvar.json",
        [
            "plots/biasvar/regression.png",
            "plots/biasvar/classification.png",
            "plots/biasvar/shortcut.png",
        ],
        biasvar_text,
        tables=["plots/biasvar/regression_degree.csv"],
    ),
    Section(
        "Regularization compared",
        "regularization",
        "results/regularization.json",
        ["plots/regularization/summary.png", "plots/regularization/curves.png"],
        regularization_text,
        tables=["plots/regularization/summary.csv"],
    ),
    Section(
        "Hyperparameter study (Optuna)",
        "tune",
        "results/tune.json",
        [
            "plots/tune/optimization_history.png",
            "plots/tune/param_importances.png",
            "plots/tune/lr_batch.png",
        ],
        tune_text,
        tables=["plots/tune/trials.csv"],
    ),
    Section(
        "Final model: the study's best configuration",
        "train_best",
        "results/train_best.json",
        ["plots/train_best/learning_curve.png"],
        train_best_text,
    ),
    Section(
        "Diagnosis of every trained model",
        "diagnosis",
        "results/diagnosis.json",
        [],
        diagnosis_text,
        tables=["plots/diagnosis/labels.csv"],
    ),
]
