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
]
