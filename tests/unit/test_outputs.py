"""genlab.outputs: every output is written whole or not at all, NaN/inf become JSON null, and
CSV rows keep every column."""

from __future__ import annotations

import errno
import json
import math
import os

import pytest

from genlab import outputs


def _strict_json(path):
    """json.loads accepts NaN/Infinity; `dvc metrics show` and browsers do not."""

    def refuse(name):
        raise AssertionError(f"{path} holds {name}")

    return json.loads(path.read_text(), parse_constant=refuse)


def test_non_finite_numbers_become_null_at_any_depth(tmp_path):
    path = outputs.write_json(
        tmp_path / "m.json",
        {"loss": math.nan, "ok": 0.5, "curve": [1.0, math.inf, (-math.inf, 2)], "n": {"x": -0.0}},
    )
    assert path == tmp_path / "m.json" and path.read_text().endswith("}\n")
    assert _strict_json(path) == {
        "loss": None, "ok": 0.5, "curve": [1.0, None, [None, 2]], "n": {"x": -0.0}
    }
    assert path in outputs.written()


def test_a_failed_replace_keeps_the_earlier_file_names_the_target_and_leaves_no_temp(
    tmp_path, monkeypatch
):
    target = tmp_path / "metrics" / "train.json"
    outputs.write_json(target, {"test/loss": 1.0})
    before = target.read_bytes()

    def full(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device", src)

    monkeypatch.setattr(outputs.os, "replace", full)
    with pytest.raises(OSError) as err:
        outputs.write_json(target, {"test/loss": 2.0})
    assert err.value.errno == errno.ENOSPC
    assert err.value.filename == str(target)  # not the temp file's name
    assert target.read_bytes() == before
    assert sorted(p.name for p in target.parent.iterdir()) == ["train.json"]


def test_an_interrupt_mid_write_leaves_no_temp_and_propagates(tmp_path, monkeypatch):
    target = tmp_path / "history.csv"

    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(outputs.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        outputs.write_csv(target, [{"epoch": 0}])
    assert list(tmp_path.iterdir()) == []


def test_outputs_are_readable_by_others_and_folders_are_made(tmp_path):
    path = outputs.write_atomic(tmp_path / "a" / "b" / "note.txt", "hello")
    assert path.read_text() == "hello"
    assert os.stat(path).st_mode & 0o777 == 0o644  # not mkstemp's 0600


def test_csv_has_every_column_in_first_seen_order_and_short_floats(tmp_path):
    path = outputs.write_csv(
        tmp_path / "rows.csv",
        [{"epoch": 0, "loss": 0.123456789}, {"loss": 2.0, "note": "diverged", "epoch": 1}],
    )
    assert path.read_text() == "epoch,loss,note\n0,0.123457,\n1,2,diverged\n"


def test_reading_a_missing_or_corrupt_file_names_it_and_the_fix(tmp_path):
    missing = tmp_path / "best_params.json"
    with pytest.raises(FileNotFoundError) as err:
        outputs.read_json(missing, "tune's best trial", "run `dvc repro tune`")
    assert str(err.value) == f"{missing} (tune's best trial) is missing: run `dvc repro tune`"
    missing.write_text('{"lr": 0.1')
    with pytest.raises(ValueError, match=r"best_params.json \(tune's best trial\) is corrupt"):
        outputs.read_json(missing, "tune's best trial", "run `dvc repro tune`")
    missing.write_text('{"lr": 0.1}')
    assert outputs.read_json(missing, "tune's best trial", "run `dvc repro tune`") == {"lr": 0.1}


def test_the_dvc_history_drops_wall_clock_time_only():
    rows = [{"epoch": 0.0, "train/loss": 1.0, "time_s": 3.2}, {"epoch": 1.0, "time_s": 6.1}]
    assert outputs.reproducible_history(rows) == [{"epoch": 0.0, "train/loss": 1.0}, {"epoch": 1.0}]
    assert rows[0]["time_s"] == 3.2  # the MLflow curves keep it
