import math

import pytest
import torch

from genlab.losses import (
    LOSS_NAMES,
    binary_cross_entropy_formula,
    loss_fn,
    output_dim,
    predict_labels,
)


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


@pytest.mark.parametrize(
    ("y", "y_hat", "expected"),
    [(1.0, 0.9, 0.105361), (0.0, 0.9, 2.302585), (1.0, 0.5, math.log(2)), (0.0, 0.2, 0.223144)],
)
def test_bce_matches_lecture_formula_hand_values(y, y_hat, expected):
    logits = torch.tensor([_logit(y_hat)], dtype=torch.float64)
    target = torch.tensor([y], dtype=torch.float64)
    ours = loss_fn("bce")(logits, target)
    formula = binary_cross_entropy_formula(target, torch.sigmoid(logits)).mean()
    assert ours.item() == pytest.approx(expected, abs=1e-6)
    assert ours.item() == pytest.approx(formula.item(), abs=1e-12)


def test_bce_accepts_column_output_and_integer_targets():
    logits = torch.tensor([[2.0], [-1.0], [0.5]])
    target = torch.tensor([1, 0, 0])
    expected = binary_cross_entropy_formula(target.float(), torch.sigmoid(logits.squeeze(1)))
    assert loss_fn("bce")(logits, target).item() == pytest.approx(expected.mean().item(), rel=1e-6)


def test_bce_is_finite_for_huge_logits_where_formula_is_not():
    logits = torch.tensor([1000.0, -1000.0, 1000.0, -1000.0])
    target = torch.tensor([1.0, 0.0, 0.0, 1.0])
    loss = loss_fn("bce")(logits, target)
    assert torch.isfinite(loss)
    # two confident right answers cost 0, two confident wrong answers cost 1000 each
    assert loss.item() == pytest.approx(500.0)
    naive = binary_cross_entropy_formula(target, torch.sigmoid(logits))
    assert not torch.isfinite(naive).all()


@pytest.mark.parametrize(("p_true", "expected"), [(0.1, 2.302585), (0.8, 0.223144)])
def test_ce_is_minus_log_prob_of_true_class(p_true, expected):
    rest = (1 - p_true) / 2
    probs = torch.tensor([[rest, p_true, rest]], dtype=torch.float64)
    logits = torch.log(probs)
    loss = loss_fn("ce")(logits, torch.tensor([1]))
    assert loss.item() == pytest.approx(expected, abs=1e-6)
    assert loss.item() == pytest.approx(-math.log(p_true), abs=1e-12)


def test_ce_is_invariant_to_logit_shift_and_stable_for_huge_logits():
    logits = torch.tensor([[1.0, 3.0, -2.0], [0.0, 0.5, 4.0]])
    target = torch.tensor([1, 0])
    ce = loss_fn("ce")
    base = ce(logits, target)
    assert ce(logits + 1e4, target).item() == pytest.approx(base.item(), abs=1e-5)
    huge = ce(torch.tensor([[1000.0, -1000.0], [1000.0, -1000.0]]), torch.tensor([0, 1]))
    assert torch.isfinite(huge)
    assert huge.item() == pytest.approx(1000.0)  # (0 + 2000) / 2


def test_mse_hand_value_and_column_output():
    pred = torch.tensor([[1.0], [2.0], [4.0]])
    target = torch.tensor([0.0, 2.0, 1.0])
    # ((1)^2 + 0^2 + 3^2) / 3
    assert loss_fn("mse")(pred, target).item() == pytest.approx(10 / 3)
    assert loss_fn("mse")(pred.squeeze(1), target).item() == pytest.approx(10 / 3)


def test_unknown_loss_names_it_and_lists_allowed():
    with pytest.raises(ValueError, match="hinge") as err:
        loss_fn("hinge")
    for name in LOSS_NAMES:
        assert name in str(err.value)
    with pytest.raises(ValueError, match="hinge"):
        predict_labels("hinge", torch.zeros(2))
    with pytest.raises(ValueError, match="hinge"):
        output_dim("hinge", 3)


def test_predict_labels():
    assert predict_labels("bce", torch.tensor([[0.3], [-0.1], [0.0]])).tolist() == [1, 0, 0]
    assert predict_labels("ce", torch.tensor([[0.1, 2.0, -1.0], [5.0, 0.0, 1.0]])).tolist() == [
        1,
        0,
    ]
    assert predict_labels("mse", torch.tensor([0.3, 1.2])) is None


def test_output_dim():
    assert output_dim("bce", None) == 1
    assert output_dim("bce", 2) == 1
    assert output_dim("mse", None) == 1
    assert output_dim("ce", 10) == 10
    with pytest.raises(ValueError):
        output_dim("ce", None)
