"""The lecture's loss-function arithmetic, computed by the same code that trains the models.

Each number is produced twice: by the textbook formula on probabilities and by the stable
logits-in loss the pipeline trains with; the table shows they agree where both are finite.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from genlab.config.losses import LossExamplesConfig  # noqa: E402
from genlab.information import cross_entropy, entropy, kl_divergence  # noqa: E402
from genlab.losses import binary_cross_entropy_formula, loss_fn  # noqa: E402
from genlab.outputs import write_csv, write_json  # noqa: E402
from genlab.plotting import save_figure  # noqa: E402


def probability_table(probabilities: list[float]) -> list[dict[str, float]]:
    """Per probability ŷ of the true class: −log ŷ by hand, BCE and CE from logits."""
    rows = []
    bce, ce = loss_fn("bce"), loss_fn("ce")
    for p in probabilities:
        logit = torch.tensor([math.log(p / (1 - p))], dtype=torch.float64)
        two_class_logits = torch.log(torch.tensor([[p, 1 - p]], dtype=torch.float64))
        rows.append(
            {
                "p_true": p,
                "formula/-log_p": -math.log(p),
                "formula/bce_y1": float(binary_cross_entropy_formula(1.0, p)),
                "formula/bce_y0": float(binary_cross_entropy_formula(0.0, p)),
                "stable/bce_y1": float(bce(logit, torch.tensor([1.0], dtype=torch.float64))),
                "stable/bce_y0": float(bce(logit, torch.tensor([0.0], dtype=torch.float64))),
                "stable/ce": float(ce(two_class_logits, torch.tensor([0]))),
            }
        )
    return rows


def information_identities(p: list[float], q: list[float]) -> dict[str, float]:
    """H(p), H(p,q), D_KL(p‖q) and the reverse direction: H(p,q) = H(p) + D_KL, asymmetric."""
    h_p, h_q = entropy(p), entropy(q)
    h_pq, h_qp = cross_entropy(p, q), cross_entropy(q, p)
    kl_pq, kl_qp = kl_divergence(p, q), kl_divergence(q, p)
    return {
        "H(p)": h_p,
        "H(q)": h_q,
        "H(p,q)": h_pq,
        "H(q,p)": h_qp,
        "KL(p||q)": kl_pq,
        "KL(q||p)": kl_qp,
        "H(p)+KL(p||q)-H(p,q)": h_p + kl_pq - h_pq,
    }


def loss_curves_figure(path: str | Path) -> Path:
    """BCE for y=1 and y=0 against ŷ, next to MSE: why confident mistakes cost so much."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    p = torch.linspace(0.001, 0.999, 400, dtype=torch.float64)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(p, binary_cross_entropy_formula(torch.ones_like(p), p), label="BCE, y = 1: −log ŷ")
    ax.plot(p, binary_cross_entropy_formula(torch.zeros_like(p), p), label="BCE, y = 0")
    ax.plot(p, (1 - p) ** 2, "--", label="MSE, y = 1: (1 − ŷ)²")
    ax.set_xlabel("predicted probability ŷ")
    ax.set_ylabel("loss")
    ax.set_ylim(0, 5)
    ax.grid(alpha=0.3)
    ax.legend()
    return save_figure(fig, path)


# ------------------------------------------------------------------ the stage (genlab.study)
# Arithmetic only: no data, no trained model, no MLflow run (no `open_runs`).


def run(params, data: None, runs: None) -> tuple[list[dict[str, float]], dict[str, float]]:
    """The probability table and the entropy / KL identities of the `losses` section."""
    cfg: LossExamplesConfig = params.losses
    return probability_table(cfg.probabilities), information_identities(cfg.p, cfg.q)


def write(result: tuple[list[dict], dict], paths) -> list[Path]:
    """plots/losses/table.csv, loss_curves.png and results/losses.json (−log ŷ on the true
    class at each probability, and the identities)."""
    table, info = result
    plots = Path(paths.plots)
    files = [write_csv(plots / "table.csv", table), loss_curves_figure(plots / "loss_curves.png")]
    by_p = {f"ce_at_p{r['p_true']:g}": r["stable/ce"] for r in table}
    write_json(paths.results, {**by_p, **info})
    return files


def line(result: tuple[list[dict], dict], run_id: None) -> str:
    table, info = result
    parts = ", ".join(f"p={r['p_true']:g}: {r['stable/ce']:.2f}" for r in table)
    return (
        f"losses: −log ŷ on the true class {parts}; "
        f"H(p,q) {info['H(p,q)']:.3f} vs H(q,p) {info['H(q,p)']:.3f}"
    )
