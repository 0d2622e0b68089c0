"""Progress lines of long stages: one per unit, with a count and an ETA."""

from __future__ import annotations

import io

from genlab.progress import Progress, line, seconds


def test_seconds_are_short():
    assert seconds(0.42) == "0.4 s"
    assert seconds(13.4) == "13 s"
    assert seconds(125) == "2 min 05 s"


def test_line_has_count_label_time_and_eta():
    assert line("regularization", 3, 9, "dropout", 2.1, 12.6) == (
        "regularization: 3/9 dropout done in 2.1 s, ETA 13 s"
    )
    last = line("tune", 9, 9, "trial 8 pruned", 1.0, 0.0)
    assert last == "tune: 9/9 trial 8 pruned done in 1.0 s"


def test_eta_is_the_mean_time_per_unit_times_the_units_left():
    now = [100.0]
    out = io.StringIO()
    p = Progress("optimizers", 4, clock=lambda: now[0], out=out)
    now[0] += 2.0
    p.step("gd")
    now[0] += 4.0
    p.step("sgd")
    assert out.getvalue().splitlines() == [
        "optimizers: 1/4 gd done in 2.0 s, ETA 6.0 s",
        "optimizers: 2/4 sgd done in 4.0 s, ETA 6.0 s",
    ]


def test_a_shared_count_times_only_what_finished_since_this_process_started():
    now = [0.0]
    out = io.StringIO()
    p = Progress("tune", 10, done=4, clock=lambda: now[0], out=out)
    now[0] += 3.0
    text = p.step("trial 7 complete", done=6)
    assert text == "tune: 6/10 trial 7 complete done in 3.0 s, ETA 6.0 s"
