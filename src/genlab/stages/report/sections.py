"""What the report shows for each stage, and the sentences it writes from the numbers."""

from __future__ import annotations

from genlab.stages.report.page import Section


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
    selected = f"best {m['selected_by']}" if m.get("selected_by") else "best validation metric"
    return (
        f"The model selected at epoch {m.get('best_epoch')} ({selected} of "
        f"{m.get('epochs_run')} epochs) has train/loss {_g(m, 'train/loss')}, val/loss "
        f"{_g(m, 'val/loss')} and test/loss {_g(m, 'test/loss')}: a generalization gap of "
        f"{_g(m, 'gap/loss')}.{acc}{diag}"
    )


MODEL_NAMES = {"mlp": "MLP", "cnn1d": "1-D CNN", "poly": "polynomial"}
SAME = 0.05  # test accuracies closer than this count as "about the same"


def flagship_text(m: dict) -> str:
    """The main model (the MLP by default) and the 1-D CNN trained beside it: one comparison
    that follows their numbers (never a fixed claim), then which epoch each one is."""
    cnn = m.get("cnn") or {}
    compared = models_compared(m, cnn, m.get("reference"))
    if m.get("status") != "ok" or cnn.get("status") != "ok":
        return f"{MODEL_NAMES.get(m.get('model'), 'Main model')}: {main_model_text(m)} {compared}"
    epochs = "; ".join(
        f"{MODEL_NAMES.get(r.get('model'), r.get('model'))} epoch {r.get('best_epoch')} of "
        f"{r.get('epochs_run')}, test/loss {_g(r, 'test/loss')}"
        for r in (m, cnn)
    )
    selected = m.get("selected_by") or "validation metric"
    return f"{compared} Each model is its epoch with the best {selected} ({epochs})."


def models_compared(a: dict, b: dict, reference: dict | None = None) -> str:
    """Which of two classifiers fits its training set and which generalizes, from their final
    accuracies: the gap is test − train error, the number the diagnosis reads by default."""
    name_a = MODEL_NAMES.get(a.get("model"), "the main model")
    name_b = MODEL_NAMES.get(b.get("model"), "the second model")
    if b.get("status") != "ok":
        return f"The {name_b} beside it has no numbers ({b.get('status')}: {b.get('reason', '')})."
    numbers = all(isinstance(r.get(k), float) for r in (a, b) for k in ("train/acc", "test/acc"))
    if a.get("status") != "ok" or not numbers:
        return f"The {name_b} beside it: test accuracy {_g(b, 'test/acc')} ({b.get('diagnosis')})."

    def one(name: str, r: dict) -> str:
        gap = r["train/acc"] - r["test/acc"]
        return (
            f"the {name} fits its training set to accuracy {r['train/acc']:.3f} and reaches "
            f"{r['test/acc']:.3f} on test (gap {gap:.3f}: <b>{r.get('diagnosis', 'n/a')}</b>)"
        )

    diff = b["test/acc"] - a["test/acc"]
    if abs(diff) < SAME:
        verdict = f"the two generalize about equally (test accuracies within {SAME:g})"
    else:
        better, worse = (name_b, name_a) if diff > 0 else (name_a, name_b)
        n = f"{a['n_train']} " if a.get("n_train") else ""
        verdict = (
            f"the {better} generalizes better, {abs(diff):.3f} more test accuracy than the "
            f"{worse} from the same {n}training samples"
        )
    text = f"Side by side, {one(name_a, a)}; {one(name_b, b)}: {verdict}."
    ref = (reference or {}).get("test/acc", {})
    if a.get("model") in ref and b.get("model") in ref:
        text += (
            f" The MNIST-1D paper reports {ref[a['model']]:.2f} ({name_a}) and "
            f"{ref[b['model']]:.2f} ({name_b}) test accuracy with {reference.get('n_train')} "
            f"training signals; ours differ by {a['test/acc'] - ref[a['model']]:+.3f} and "
            f"{b['test/acc'] - ref[b['model']]:+.3f}."
        )
    return text


def _v(m: dict, *path: str):
    for key in path:
        if not isinstance(m, dict) or key not in m:
            return None
        m = m[key]
    return m


def _n(value: object, fmt: str = ".3f") -> str:
    return format(value, fmt) if isinstance(value, int | float) else "n/a"


def seeds_verdict(claim: object) -> str:
    """A lecture claim checked seed by seed (`{"holds", "seeds_holding", "seeds"}`), in words:
    it holds or fails only where every seed agrees; otherwise it is not established."""
    if isinstance(claim, bool):  # one seed's verdict
        return "holds in 1/1 seeds" if claim else "fails in 1/1 seeds"
    if not isinstance(claim, dict) or "holds" not in claim:
        return "not checked"
    k, n = claim.get("seeds_holding"), claim.get("seeds")
    if claim["holds"] is True:
        return f"holds in {k}/{n} seeds"
    if claim["holds"] is False:
        return f"fails in {n}/{n} seeds"
    decided = claim.get("seeds_decided")
    if decided is not None and decided < n:
        return f"decided in only {decided}/{n} seeds ({k} hold): not established"
    return f"seeds disagree ({k}/{n}): not established"


def _pm(row: dict, key: str, fmt: str = ".3f") -> str:
    """`0.035 ± 0.004`: a mean over seeds with its sample std (the mean alone for one seed)."""
    std = row.get(f"{key}_std")
    spread = f" ± {format(std, fmt)}" if isinstance(std, int | float) else ""
    return _n(row.get(key), fmt) + spread


def optimizers_text(m: dict) -> str:
    v, c = m.get("variants", {}), m.get("claims", {})
    gd, sgd, mb = v.get("gd", {}), v.get("sgd", {}), v.get("minibatch", {})
    seeds = m.get("seeds") or [m.get("seed")]
    n = len(seeds)
    which = f"{n} seeds ({seeds[0]}–{seeds[-1]}: init and shuffling)" if n > 1 else "1 seed"
    noise = f"{_pm(sgd, 'gradient_noise', '.1f')} vs {_pm(mb, 'gradient_noise', '.2f')}, 0 for GD"
    rises = ", ".join(_pm(r, "train_loss_increase_frac", ".2f") for r in (sgd, mb, gd))
    spe = f"{_pm(sgd, 's_per_epoch', '.2f')} s vs {_pm(mb, 's_per_epoch', '.3f')} s for mini-batch"
    claims = {
        "gd_highest_train_loss_at_equal_epochs": "after equal epochs GD's training loss is the "
        "highest",
        "update_noise_sgd_gt_minibatch_gt_gd": "one update's gradient noise orders SGD > "
        f"mini-batch > GD (measure {noise})",
        "curve_goes_up_more_often_sgd_ge_minibatch_ge_gd": "the epoch-end training loss goes up "
        f"most often for SGD, then mini-batch, then GD (share of epochs: {rises})",
        "sgd_slowest_per_epoch_wallclock": f"SGD is the slowest per epoch of wall-clock ({spe})",
        "gd_fastest_per_epoch_wallclock": "GD is the fastest per epoch",
    }
    checked = "; ".join(
        f"{text}: <b>{seeds_verdict(c[key])}</b>" for key, text in claims.items() if key in c
    )
    return (
        f"Same model ({m.get('model')}), data ({m.get('dataset')}, {m.get('n_train')} training "
        f"samples) and {m.get('epochs')} epochs; numbers are means ± sample std over {which}. "
        f"Full-batch GD makes {gd.get('updates_per_epoch')} update per epoch and ends at "
        f"train/loss {_pm(gd, 'train/loss')}; mini-batch SGD makes "
        f"{mb.get('updates_per_epoch')} and reaches {_pm(mb, 'train/loss')}; SGD makes "
        f"{sgd.get('updates_per_epoch')} and reaches {_pm(sgd, 'train/loss')}. The lecture's "
        f"claims, checked seed by seed (a claim stands only where every seed agrees): {checked}. "
        f"The four panels plot the curves of seed {seeds[0]} against epochs, updates, samples "
        "seen and seconds; a band spans the seeds' lowest to highest loss (not against seconds)."
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
    n = none.get("seeds", 1)
    best = max(v, key=lambda k: v[k].get("test/acc") or 0) if v else "n/a"
    holds = [k for k, r in v.items() if r.get("claim_loss") == "holds"]
    mixed = [k for k, r in v.items() if r.get("claim_loss") == "seeds disagree"]
    other = [k for k, r in v.items() if r.get("claim_loss") not in ("holds", "baseline")]
    other = [k for k in other if k not in mixed]
    pm = f" ± {_n(none.get('test/acc_std'))}" if n > 1 else ""
    return (
        f"An MLP on {m.get('n_train')} training samples without regularization reaches train/loss "
        f"{_n(none.get('train/loss'))} but test/loss {_n(none.get('test/loss'))} (test accuracy "
        f"{_n(none.get('test/acc'))}{pm}; means over {n} seed{'s' if n > 1 else ''}). The "
        "lecture's claim (regularization raises training loss and lowers test loss) holds in "
        f"every seed for {', '.join(holds) or 'none'}; the seeds disagree for "
        f"{', '.join(mixed) or 'none'} (not established); it does not hold for "
        f"{', '.join(other) or 'none'}. Best mean test accuracy: {best} "
        f"({_n(_v(v, best, 'test/acc'))}). L1 leaves {_n(_v(v, 'l1', 'near_zero'), '.1%')} of the "
        "weights near zero." + _epochs_text(m.get("epochs_to_train_loss") or {})
    )


def _epochs_text(e: dict) -> str:
    """"Dropout needs more epochs", as measured (only what the numbers say, every seed)."""
    if "dropout" not in e:
        return ""
    verdict = {True: "more", False: "not more", None: "seeds disagree on"}
    parts = [
        f"{name} {_n(e.get(name), '.1f')} ({verdict[e.get(f'{name}_needs_more')]} epochs"
        + (f", {e[f'{name}_needs_more_seeds']} seeds" if f"{name}_needs_more_seeds" in e else "")
        + ")"
        for name in ("dropout", "dropconnect")
        if name in e
    ]
    return (
        f" Mean epochs to bring the training loss to {_n(e.get('train_loss_target'), 'g')}: none "
        f"{_n(e.get('none'), '.1f')}, " + ", ".join(parts) + "."
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
        f"{m.get('metric')} {_n(m.get('best_value'))} at {params}. {importance_text(m)} "
        "The landscape plots the best LR found per batch size."
    )


def importance_text(m: dict) -> str:
    """fANOVA importances as a ranking only from `tune.min_trials_for_importance` complete
    trials on; below that, why they are not one."""
    imp, n = m.get("importance") or {}, m.get("importance_trials")
    if m.get("importance_reliable") is False:
        return (
            "The parameter importances are not shown as a ranking because only "
            f"{n} trials completed (need {m.get('importance_min_trials')}): fANOVA on so few "
            "is noise, and the figure says so."
        )
    if not imp:
        return "No parameter importances: too few complete trials."
    ranked = ", ".join(f"{k} {_n(x, '.2f')}" for k, x in imp.items())
    return f"Importance (fANOVA{f' from {n} complete trials' if n is not None else ''}): {ranked}."


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


def double_descent_text(m: dict) -> str:
    """The stage writes its own sentence from its numbers (the verdict is never fixed)."""
    return str(m.get("sentence", ""))


def train_seeds_text(m: dict) -> str:
    """The flagship's numbers as mean ± std over seeds, and its story checked seed by seed."""
    models, c = m.get("models", {}), m.get("claims", {})
    parts = [
        f"{name}: test accuracy {_pm(s, 'test/acc')}, train accuracy {_pm(s, 'train/acc')}, "
        f"gap (test − train error) {_pm(s, 'gap/acc')}"
        for name, s in models.items()
    ]
    text = (
        f"The main models retrained over {len(m.get('seeds', []))} seeds (params' own seed from "
        "`evaluate`, the others here; same data and settings): " + "; ".join(parts) + "."
    )
    if c:
        text += (
            f" The CNN's test accuracy is higher: {seeds_verdict(c.get('cnn_higher_test_acc'))}; "
            f"its gap is smaller: {seeds_verdict(c.get('cnn_smaller_gap'))}."
        )
    return text


SECTIONS: list[Section] = [
    Section(
        "Loss functions: worked examples",
        "losses",
        losses_text,
        tables=["table.csv"],
    ),
    Section(
        "Main models: the MLP and the 1-D CNN beside it, train vs test error",
        "evaluate",
        flagship_text,
        tables=["models.csv"],
        params_stage="train",
    ),
    Section(
        "The main models over seeds",
        "train_seeds",
        train_seeds_text,
        tables=["seeds.csv"],
    ),
    Section(
        "Gradient descent: GD vs SGD vs mini-batch vs momentum vs Adam",
        "optimizers",
        optimizers_text,
        tables=["summary.csv"],
    ),
    Section(
        "Learning-rate range test and batch size",
        "lr_range",
        lr_range_text,
        tables=["training.csv"],
    ),
    Section(
        "Under- and overfitting: polynomial degree",
        "polyfit",
        polyfit_text,
        tables=["ls.csv", "gd.csv"],
    ),
    Section(
        "Bias–variance decomposition, measured",
        "biasvar",
        biasvar_text,
        tables=["regression_degree.csv"],
    ),
    Section(
        "Where the U-curve breaks: double descent",
        "double_descent",
        double_descent_text,
        tables=["width.csv"],
    ),
    Section(
        "Regularization compared",
        "regularization",
        regularization_text,
        tables=["summary.csv"],
    ),
    Section(
        "Hyperparameter study (Optuna)",
        "tune",
        tune_text,
        tables=["trials.csv"],
    ),
    Section(
        "Final model: the study's best configuration",
        "train_best",
        train_best_text,
    ),
    Section(
        "Diagnosis of every trained model",
        "diagnosis",
        diagnosis_text,
        tables=["labels.csv"],
    ),
]
