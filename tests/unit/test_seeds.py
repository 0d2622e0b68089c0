"""Claims over seeds: mean and spread of the finite values, a verdict only where seeds agree."""

from __future__ import annotations

import math

import pytest

from genlab.seeds import mean_std, seed_list, verdict


def test_params_own_seed_comes_first():
    assert seed_list(42, 3) == [42, 43, 44] and seed_list(7, 1) == [7]


def test_mean_and_sample_std_of_the_finite_values():
    mean, std = mean_std([1.0, 2.0, 3.0, math.nan, None])  # a diverged seed's NaN is left out
    assert mean == pytest.approx(2.0) and std == pytest.approx(1.0)  # ddof 1
    assert math.isnan(mean_std([5.0])[1]) and mean_std([5.0])[0] == 5.0
    assert all(math.isnan(v) for v in mean_std([math.nan]))


def test_verdict_holds_only_where_every_seed_agrees():
    assert verdict([True, True, True]) == {"holds": True, "seeds_holding": 3, "seeds": 3}
    assert verdict([False] * 3) == {"holds": False, "seeds_holding": 0, "seeds": 3}
    assert verdict([True, False, True]) == {"holds": None, "seeds_holding": 2, "seeds": 3}
    # a seed where a needed variant diverged decides nothing: no failure either
    out = verdict([False, None, False])
    assert out == {"holds": None, "seeds_holding": 0, "seeds": 3, "seeds_decided": 2}
    assert verdict([True])["holds"] is True
