"""The worked examples agree with the lecture's hand-computed numbers."""

from __future__ import annotations

import pytest

from genlab.stages.losses import information_identities, probability_table


def test_cross_entropy_examples_from_the_lecture():
    rows = {r["p_true"]: r for r in probability_table([0.1, 0.8])}
    assert rows[0.1]["stable/ce"] == pytest.approx(2.302585, abs=1e-6)
    assert rows[0.8]["stable/ce"] == pytest.approx(0.223144, abs=1e-6)
    for r in rows.values():
        assert r["stable/bce_y1"] == pytest.approx(r["formula/bce_y1"], rel=1e-9)
        assert r["stable/bce_y0"] == pytest.approx(r["formula/bce_y0"], rel=1e-9)


def test_identities_and_asymmetry():
    info = information_identities([0.5, 0.5], [0.9, 0.1])
    assert info["H(p)+KL(p||q)-H(p,q)"] == pytest.approx(0.0, abs=1e-12)
    # by hand: H(p,q) = -(0.5 ln 0.9 + 0.5 ln 0.1) = 1.203973; H(q,p) = ln 2 = 0.693147
    assert info["H(p,q)"] == pytest.approx(1.203973, abs=1e-6)
    assert info["H(q,p)"] == pytest.approx(0.693147, abs=1e-6)
    assert info["KL(p||q)"] > 0 and info["KL(q||p)"] > 0
