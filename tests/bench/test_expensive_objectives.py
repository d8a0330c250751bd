"""bench/expensive_objectives.py on tiny caps: the climb and a population strategy run, count and repeat."""

from __future__ import annotations

import pytest

pytest.importorskip("gymnasium")

from bench.expensive_objectives import cap_of, first_reach, one_run, parse_method


def test_a_method_spec_names_the_strategy_and_sizes_the_population_from_the_workers():
    assert parse_method("snes/population=1w/sigma=0.3", 16) == ("snes", {"population": 14, "sigma": 0.3})
    assert parse_method("openai_es/population=2w", 1) == ("openai_es", {"population": 2})
    assert parse_method("climb/steps=4", 8) == ("climb", {"steps": 4})
    assert parse_method("snes/population=auto", 8) == ("snes", {"population": "auto"})
    assert cap_of(2000, 1) == 2000 and cap_of(2000, 64) == 63


def test_first_reach_is_the_first_check_at_or_above_the_target():
    trace = [[2, 10.0], [4, 30.0], [6, 20.0], [8, 40.0]]
    assert first_reach(trace, 25.0) == 4
    assert first_reach(trace, 50.0) == float("inf")


@pytest.mark.parametrize("method", ["climb", "snes/population=1w"])
def test_a_run_stops_at_its_cap_and_repeats_itself(method):
    first = one_run("CartPole-v1", method, 4, 0, None, 6)
    assert first["critical"] >= 6 and first["trace"] and first["reached"] is None
    assert first["evaluations"] >= first["critical"]
    again = one_run("CartPole-v1", method, 4, 0, None, 6)
    assert again["trace"] == first["trace"] and again["evaluations"] == first["evaluations"]


def test_a_population_run_is_the_same_split_among_fewer_workers():
    # population=1w is 2 members on 1 to 4 workers: the same generations, split differently. Generation 0 has
    # 3 candidates (the members and the centre), the next ones 4 (and the best so far): 3 + 4 + 4 alone, 1 + 1 + 1 on 4.
    alone = one_run("CartPole-v1", "snes/population=1w", 1, 0, None, 11)
    shared = one_run("CartPole-v1", "snes/population=1w", 4, 0, None, 3)
    assert alone["generations"] == shared["generations"] == 3
    assert alone["trace"][-1][1] == shared["trace"][-1][1]


def test_the_automatic_population_is_the_searchs_default_for_the_policy():
    # CartPole-v1's policy 4-16-2 has 114 parameters: SNES's own 4 + floor(3 ln 114) = 18, on 16 workers 30.
    assert one_run("CartPole-v1", "snes/population=auto", 1, 0, None, 20)["population"] == 18
    assert one_run("CartPole-v1", "snes/population=auto", 16, 0, None, 2)["population"] == 30
