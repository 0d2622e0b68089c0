import pytest
import torch
from torch import nn

from genlab.regularization import (
    fraction_near_zero,
    l1_penalty,
    l2_penalty,
    split_decay_params,
)


def _weight() -> torch.Tensor:
    return torch.tensor([[1.0, -2.0], [0.5, 0.0]], requires_grad=True)


def test_l2_penalty_hand_value_and_gradient():
    w, b = _weight(), torch.tensor([3.0, -1.0], requires_grad=True)
    lam = 0.1
    penalty = l2_penalty([w, b], lam)
    assert penalty.ndim == 0
    # lam/2 * (1 + 4 + 0.25 + 0 + 9 + 1)
    assert penalty.item() == pytest.approx(0.05 * 15.25)
    penalty.backward()
    torch.testing.assert_close(w.grad, lam * w.detach())
    torch.testing.assert_close(b.grad, lam * b.detach())


def test_l1_penalty_hand_value_and_gradient_is_sign():
    w = _weight()
    lam = 0.3
    penalty = l1_penalty([w], lam)
    assert penalty.ndim == 0
    assert penalty.item() == pytest.approx(0.3 * 3.5)
    penalty.backward()
    torch.testing.assert_close(w.grad, lam * torch.sign(w.detach()))


@pytest.mark.parametrize("penalty", [l1_penalty, l2_penalty])
def test_penalties_are_zero_tensors_when_off_or_empty(penalty):
    for value in (penalty([_weight()], 0.0), penalty([], 0.5), penalty(iter([]), 0.0)):
        assert isinstance(value, torch.Tensor) and value.ndim == 0 and value.item() == 0.0


def test_penalties_accept_generators():
    model = nn.Linear(3, 2)
    expected = 0.5 * sum((p.detach() ** 2).sum() for p in model.parameters())
    assert l2_penalty(model.parameters(), 1.0).item() == pytest.approx(expected.item())


def _mlp() -> nn.Sequential:
    return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))


def _ids(params) -> set[int]:
    return {id(p) for p in params}


def test_split_decay_params_default_decays_only_weight_matrices():
    model = _mlp()
    decayed, not_decayed = split_decay_params(model, penalize_bias_and_norm=False)
    assert _ids(decayed) == {id(model[0].weight), id(model[3].weight)}
    assert len(decayed) == 2
    assert _ids(not_decayed) == {
        id(model[0].bias),
        id(model[1].weight),
        id(model[1].bias),
        id(model[3].bias),
    }
    assert len(not_decayed) == 4


def test_split_decay_params_true_decays_everything():
    model = _mlp()
    decayed, not_decayed = split_decay_params(model, penalize_bias_and_norm=True)
    assert _ids(decayed) == _ids(model.parameters())
    assert len(decayed) == len(list(model.parameters()))
    assert not_decayed == []


def test_split_decay_params_norm_layers_and_shared_params():
    conv = nn.Conv2d(3, 4, 3)
    model = nn.Sequential(conv, nn.GroupNorm(2, 4), nn.LayerNorm(4), conv)
    decayed, not_decayed = split_decay_params(model, penalize_bias_and_norm=False)
    assert _ids(decayed) == {id(conv.weight)} and len(decayed) == 1
    assert len(not_decayed) == 5  # conv bias + 2 norm layers x (weight, bias)
    assert _ids(decayed) | _ids(not_decayed) == _ids(model.parameters())


def test_fraction_near_zero_hand_value():
    params = [torch.tensor([0.0, 5e-4, -2e-3, 1.0]), torch.tensor([[-1e-4, 0.1], [3e-3, 0.0]])]
    # |w| < 1e-3: 0, 5e-4, -1e-4, 0 -> 4 of 8
    assert fraction_near_zero(params) == pytest.approx(0.5)
    assert fraction_near_zero(params, tol=0.5) == pytest.approx(7 / 8)  # all but 1.0
    assert fraction_near_zero([]) == 0.0


def test_sgd_with_l2_penalty_equals_sgd_weight_decay():
    torch.manual_seed(0)
    x, y = torch.randn(16, 5), torch.randn(16, 1)
    lr, lam = 0.1, 0.05
    model_a = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 1))
    model_b = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 1))
    model_b.load_state_dict(model_a.state_dict())
    opt_a = torch.optim.SGD(model_a.parameters(), lr=lr)
    opt_b = torch.optim.SGD(model_b.parameters(), lr=lr, weight_decay=lam)
    mse = nn.MSELoss()
    for _ in range(5):
        opt_a.zero_grad()
        (mse(model_a(x), y) + l2_penalty(model_a.parameters(), lam)).backward()
        opt_a.step()
        opt_b.zero_grad()
        mse(model_b(x), y).backward()
        opt_b.step()
    for pa, pb in zip(model_a.parameters(), model_b.parameters(), strict=True):
        torch.testing.assert_close(pa, pb, rtol=1e-6, atol=1e-7)
    # and the penalty actually mattered: plain SGD ends somewhere else
    assert any(
        not torch.allclose(pa, pb)
        for pa, pb in zip(model_a.parameters(), _train_plain(x, y, lr), strict=True)
    )


def _train_plain(x, y, lr):
    torch.manual_seed(0)
    x_, y_ = torch.randn(16, 5), torch.randn(16, 1)
    assert torch.equal(x, x_) and torch.equal(y, y_)
    model = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 1))
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    for _ in range(5):
        opt.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        opt.step()
    return list(model.parameters())
