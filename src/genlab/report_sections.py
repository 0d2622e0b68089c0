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
        f"{_n(sc.get('slope'), '.2f')} ± {_n(sc.get('slope_stderr'), '.2f')}: larger batches take "
        "higher learning rates here, but far less than linearly (s = 1) or square-root (0.5). "
        f"Each batch size trained at its own suggestion beat the fixed LR in "
        f"{sum(bool(v) for v in beats.values())} of {len(beats)} cases. Largest batch that fits "
        f"on a GPU: {gpu.get('value', gpu.get('status', 'n/a'))} ({gpu.get('reason', '')})."
    )


def polyfit_text(m: dict) -> str:
    ls, gd = m.get("ls", {}), m.get("gd", {})
    return (
        f"{m.get('n_train')} noisy samples of f (noise variance {_n(m.get('noise_var'), '.3f')}), "
        "Legendre basis. Degree 1 underfits (least-squares train/test error "
        f"{_n(ls.get('degree1/train/loss'))}/{_n(ls.get('degree1/test/loss'))}), "
        "degree 4 "
        f"fits ({_n(ls.get('degree4/train/loss'))}/{_n(ls.get('degree4/test/loss'))}), "
        "degree 20 overfits: exact least squares reaches train error "
        f"{_n(ls.get('degree20/train/loss'))} but test error "
        f"{_n(ls.get('degree20/test/loss'), '.4g')}, while gradient descent, stopped after its "
        f"epoch budget, stays at {_n(gd.get('degree20/test/loss'))} — early-stopped GD has not "
        "fitted the ill-conditioned directions, an implicit regularization. "
        "Validation picks degree "
        f"{ls.get('best_degree')}."
    )


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
        "weights near zero."
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


SECTIONS: list[Section] = [
    Section(
        "Loss functions: worked examples",
        "losses",
        "metrics/losses.json",
        ["plots/losses/loss_curves.png"],
        losses_text,
        tables=["plots/losses/table.csv"],
    ),
    Section(
        "Main model: train vs test error",
        "evaluate",
        "metrics/evaluate.json",
        ["plots/evaluate/learning_curve.png"],
        main_model_text,
        params_stage="train",
    ),
    Section(
        "Gradient descent: GD vs SGD vs mini-batch vs momentum vs Adam",
        "optimizers",
        "metrics/optimizers.json",
        ["plots/optimizers/optimizers.png"],
        optimizers_text,
        tables=["plots/optimizers/summary.csv"],
    ),
    Section(
        "Learning-rate range test and batch size",
        "lr_range",
        "metrics/lr_range.json",
        ["plots/lr_range/lr_range.png"],
        lr_range_text,
        tables=["plots/lr_range/training.csv"],
    ),
    Section(
        "Under- and overfitting: polynomial degree",
        "polyfit",
        "metrics/polyfit.json",
        ["plots/polyfit/curves.png", "plots/polyfit/errors.png"],
        polyfit_text,
        tables=["plots/polyfit/ls.csv", "plots/polyfit/gd.csv"],
    ),
    Section(
        "Bias–variance decomposition, measured",
        "biasvar",
        "metrics/biasvar.json",
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
        "metrics/regularization.json",
        ["plots/regularization/summary.png", "plots/regularization/curves.png"],
        regularization_text,
        tables=["plots/regularization/summary.csv"],
    ),
    Section(
        "Hyperparameter study (Optuna)",
        "tune",
        "metrics/tune.json",
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
        "metrics/train_best.json",
        ["plots/train_best/learning_curve.png"],
        train_best_text,
    ),
]
