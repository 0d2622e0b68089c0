"""Stage `losses`: the loss functions' worked examples (BCE, CE, entropy and KL identities).

Run: `dvc repro losses`. Reads params `losses`. Writes results/losses.json,
plots/losses/{table.csv,loss_curves.png}.
"""

from genlab.cli import run_stage
from genlab.config import load_params
from genlab.outputs import write_csv, write_json
from genlab.stages.losses import loss_curves_figure, run


def main() -> None:
    params = load_params()
    table, info = run(params.losses)
    write_csv("plots/losses/table.csv", table)
    loss_curves_figure("plots/losses/loss_curves.png")
    by_p = {f"ce_at_p{r['p_true']:g}": r["stable/ce"] for r in table}
    write_json("results/losses.json", {**by_p, **info})
    parts = ", ".join(f"p={r['p_true']:g}: {r['stable/ce']:.2f}" for r in table)
    print(
        f"losses: −log ŷ on the true class {parts}; "
        f"H(p,q) {info['H(p,q)']:.3f} vs H(q,p) {info['H(q,p)']:.3f}"
    )


if __name__ == "__main__":
    run_stage("losses", main)
