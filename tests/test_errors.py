"""Bad input raises :class:`sim.HtaError` with a message that names the place and the fix.

Every test checks the exception *type* (never a raw numpy / numba / KeyError
traceback) and the *content* of the message: strategy, cycle, from- and to-state,
draw, offending value and a hint of the fix, as far as they apply.  Tests marked
"library bug" in their docstring fail on purpose until the library is fixed.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest

from sim import (
    AnyOf,
    ByCycle,
    BySojourn,
    ByStrategy,
    C,
    HazardRatio,
    HtaError,
    LifeTable,
    Model,
    Rate,
    RelativeRisk,
    icer_table,
    run_cohort,
)
from sim.experiment.cli import main as cli_main
from sim.params.table import read_parameter_table

# --------------------------------------------------------------------------- helpers
STATES = ("Healthy", "Sick", "Dead")
STRATEGIES = ("usual", "drug")
TRANSITIONS = {
    ("Healthy", "Healthy"): C,
    ("Healthy", "Sick"): "p_sick",
    ("Healthy", "Dead"): "p_die",
    ("Sick", "Sick"): C,
    ("Sick", "Dead"): 0.2,
}
PARAMETERS = {"p_sick": 0.1, "p_die": 0.01, "hr": 0.8}


def make(**changes) -> Model:
    """A valid three-state, two-strategy model with some fields replaced."""
    spec = dict(
        states=STATES,
        strategies=STRATEGIES,
        transitions=TRANSITIONS,
        start={"Healthy": 1.0},
        horizon=10,
        parameters=PARAMETERS,
        costs={"care": {"Sick": 100.0}},
        utilities={"Healthy": 1.0, "Sick": 0.6},
        dead=("Dead",),
    )
    spec.update(changes)
    return Model(**spec)


def with_transitions(entries: dict, **changes) -> Model:
    """The base model with some transition entries replaced or added."""
    return make(transitions={**TRANSITIONS, **entries}, **changes)


def for_drug(entries: dict, **changes) -> Model:
    """The base model with entries replaced for strategy 'drug' only (so 'usual' is valid)."""
    return make(strategy_transitions={"drug": entries}, **changes)


def message(excinfo) -> str:
    return str(excinfo.value)


def assert_mentions(excinfo, *fragments: str) -> None:
    """The error message contains every fragment (exact substrings)."""
    msg = message(excinfo)
    missing = [f for f in fragments if f not in msg]
    assert not missing, f"message lacks {missing!r}:\n{msg}"


def assert_matches(excinfo, *patterns: str) -> None:
    """The error message matches every regular expression."""
    msg = message(excinfo)
    missing = [p for p in patterns if not re.search(p, msg)]
    assert not missing, f"message does not match {missing!r}:\n{msg}"


def test_base_model_is_valid():
    """The fixtures the error tests perturb are themselves valid (so every error is caused by the perturbation)."""
    res = run_cohort(make(), {"p_sick": np.array([0.1, 0.2, 0.3])})
    assert len(res.outcomes) == 6
    assert np.isfinite(res.outcomes[["cost", "qaly", "ly"]].to_numpy()).all()
    run_cohort(for_drug({("Healthy", "Sick"): 0.05}))


# --------------------------------------------------------------------------- row sums
def test_row_not_summing_to_one_names_strategy_cycle_from_and_sum():
    m = for_drug({("Healthy", "Sick"): 0.1 + 1e-7}, transitions={**TRANSITIONS, ("Healthy", "Healthy"): 0.89})
    with pytest.raises(HtaError) as ei:
        run_cohort(m)
    assert_mentions(ei, "strategy 'drug'", "cycle 0", "from 'Healthy'", "1.0000001", "not 1", "mark one entry C")
    assert "'usual'" not in message(ei)


def test_row_sum_within_tolerance_is_accepted():
    """A row off by 1e-11 (below the 1e-9 tolerance) runs, and its total is unchanged to rounding."""
    exact = with_transitions({("Healthy", "Healthy"): 0.89, ("Healthy", "Sick"): 0.1, ("Healthy", "Dead"): 0.01})
    noisy = with_transitions({("Healthy", "Healthy"): 0.89, ("Healthy", "Sick"): 0.1 + 1e-11,
                              ("Healthy", "Dead"): 0.01})
    a = run_cohort(exact).outcomes
    b = run_cohort(noisy).outcomes
    np.testing.assert_allclose(b["qaly"], a["qaly"], rtol=1e-8)


def test_row_just_beyond_tolerance_is_rejected():
    m = with_transitions({("Healthy", "Healthy"): 0.89, ("Healthy", "Sick"): 0.1 + 5e-9, ("Healthy", "Dead"): 0.01})
    with pytest.raises(HtaError, match=r"from 'Healthy': transition probabilities sum to 1\.000000005"):
        run_cohort(m)


def test_row_wrong_only_in_a_later_cycle_names_that_cycle():
    late = lambda p, t: np.where(t.cycle >= 6, 0.2, 0.1)  # noqa: E731
    m = for_drug({("Healthy", "Healthy"): 0.89, ("Healthy", "Sick"): late})
    with pytest.raises(HtaError) as ei:
        run_cohort(m)
    assert_mentions(ei, "strategy 'drug'", "from 'Healthy'", "sum to 1.1")
    assert_matches(ei, r"\bcycle 6\b")


def test_row_wrong_only_in_one_draw_names_the_draw():
    m = with_transitions({("Healthy", "Healthy"): 0.89})
    with pytest.raises(HtaError) as ei:
        run_cohort(m, {"p_sick": np.array([0.1, 0.1, 0.3, 0.1])})
    assert_mentions(ei, "from 'Healthy'", "sum to 1.2", "cycle 0")
    assert_matches(ei, r"\bdraw 2\b")


def test_row_wrong_in_one_draw_names_the_users_draw_id():
    """With a ``draw`` column, the message uses the caller's draw ids, not positions."""
    m = with_transitions({("Healthy", "Healthy"): 0.89})
    draws = pd.DataFrame({"draw": [100, 101, 102, 103], "p_sick": [0.1, 0.1, 0.3, 0.1]})
    with pytest.raises(HtaError) as ei:
        run_cohort(m, draws)
    assert_matches(ei, r"\bdraw 102\b")


# --------------------------------------------------------------------------- probability range
def test_negative_probability_names_strategy_cycle_from_to_and_value():
    dip = lambda p, t: np.where(t.cycle == 3, -0.05, 0.1)  # noqa: E731
    with pytest.raises(HtaError) as ei:
        run_cohort(for_drug({("Healthy", "Sick"): dip}))
    assert_mentions(ei, "strategy 'drug'", "cycle 3", "from 'Healthy' to 'Sick'", "-0.05", "negative", "[0, 1]")


def test_probability_above_one_names_strategy_cycle_from_to_and_value():
    spike = lambda p, t: np.where(t.cycle == 4, 1.25, 0.1)  # noqa: E731
    with pytest.raises(HtaError) as ei:
        run_cohort(for_drug({("Sick", "Dead"): spike}))
    assert_mentions(ei, "strategy 'drug'", "cycle 4", "from 'Sick' to 'Dead'", "1.25", "above 1", "[0, 1]")


# --------------------------------------------------------------------------- NaN and infinity
@pytest.mark.parametrize("bad, shown", [(math.nan, "nan"), (math.inf, "inf"), (-math.inf, "-inf")])
def test_non_finite_parameter_draw_names_parameter_and_draw(bad, shown):
    with pytest.raises(HtaError) as ei:
        run_cohort(make(), {"p_sick": np.array([0.1, 0.2, bad, 0.3])})
    assert_mentions(ei, "parameter 'p_sick'", shown, "finite")
    assert_matches(ei, r"\bdraw 2\b")


def test_non_finite_scalar_draw_names_the_parameter():
    """Library bug: a single NaN value for a parameter is only caught where it is used, and the
    message ("transition 'Healthy' -> 'Sick', cycle 0: value is NaN") does not name the parameter
    the caller passed, unlike an array of draws ("parameter 'p_sick', draw 2: ...")."""
    with pytest.raises(HtaError) as ei:
        run_cohort(make(), {"p_sick": math.nan})
    assert_mentions(ei, "'p_sick'")


def test_non_finite_base_case_parameter_is_rejected_at_definition():
    with pytest.raises(HtaError) as ei:
        make(parameters={**PARAMETERS, "p_die": math.inf})
    assert_mentions(ei, "parameter 'p_die'", "inf", "finite number")


def test_nan_from_a_callable_names_strategy_transition_and_cycle():
    f = lambda p, t: np.where(t.cycle == 4, np.nan, 0.1)  # noqa: E731
    with pytest.raises(HtaError) as ei:
        run_cohort(for_drug({("Healthy", "Sick"): f}))
    assert_mentions(ei, "strategy 'drug'", "'Healthy' -> 'Sick'", "cycle 4", "NaN")


def test_infinity_from_a_callable_reward_names_strategy_state_and_cycle():
    f = lambda p, t: np.where(t.cycle == 7, np.inf, 50.0)  # noqa: E731
    with pytest.raises(HtaError) as ei:
        run_cohort(make(costs={"care": {"Sick": ByStrategy(usual=0.0, drug=f)}}))
    assert_mentions(ei, "strategy 'drug'", "cost 'care' of state 'Sick'", "cycle 7", "inf")


def test_nan_from_a_parameter_draw_in_an_expression_is_caught():
    """NaN produced by arithmetic on valid draws (0 * inf here via HazardRatio p=1, hr=0)."""
    m = with_transitions({("Healthy", "Sick"): HazardRatio("p_sick", "hr"), ("Healthy", "Dead"): 0.0})
    with pytest.raises(HtaError) as ei:
        run_cohort(m, {"p_sick": np.array([0.5, 1.0]), "hr": np.array([1.0, 0.0])})
    assert_mentions(ei, "'Healthy' -> 'Sick'", "NaN")
    assert_matches(ei, r"\bdraw 1\b")


def test_callable_returning_none_says_so():
    """Poor message: a callable that forgets ``return`` is reported as "value is NaN ... check the
    parameter values", because ``np.asarray(None, dtype=float)`` is NaN.  It should say the
    callable returned None."""
    def forgot_return(p, t):
        p["p_sick"] * 2

    with pytest.raises(HtaError) as ei:
        run_cohort(with_transitions({("Healthy", "Sick"): forgot_return}))
    assert_mentions(ei, "forgot_return", "None")


def test_exception_inside_a_callable_is_wrapped_with_its_place():
    def boom(p, t):
        return {"a": 1}["missing_key"]

    with pytest.raises(HtaError) as ei:
        run_cohort(for_drug({("Healthy", "Sick"): boom}))
    assert_mentions(ei, "strategy 'drug'", "'Healthy' -> 'Sick'", "boom", "KeyError", "missing_key")
    assert isinstance(ei.value.__cause__, KeyError)


# --------------------------------------------------------------------------- complements
def test_negative_complement_names_from_to_and_value():
    with pytest.raises(HtaError) as ei:
        run_cohort(for_drug({("Healthy", "Sick"): 0.6, ("Healthy", "Dead"): 0.45}))
    assert_mentions(ei, "strategy 'drug'", "cycle 0", "from 'Healthy' to 'Healthy'", "complement",
                    "-0.05", "1.05", "lower them")


def test_two_complements_in_one_row():
    with pytest.raises(HtaError) as ei:
        for_drug({("Healthy", "Dead"): C})
    assert_mentions(ei, "strategy 'drug'", "from 'Healthy'", "2 complements", "at most one")


def test_complement_outside_transitions_is_rejected():
    with pytest.raises(HtaError, match=r"utility of state 'Sick'.*C \(complement\) is allowed only as a transition"):
        make(utilities={"Healthy": 1.0, "Sick": C})


# --------------------------------------------------------------------------- unknown states
UNKNOWN_STATE_CASES = {
    "transition to": dict(transitions={**TRANSITIONS, ("Healthy", "Sik"): 0.1}),
    "transition from": dict(transitions={**TRANSITIONS, ("Sik", "Dead"): 0.1}),
    "strategy_transitions": dict(strategy_transitions={"drug": {("Healthy", "Sik"): 0.1}}),
    "start": dict(start={"Sik": 1.0}),
    "start per strategy": dict(start={"usual": {"Healthy": 1.0}, "drug": {"Sik": 1.0}}),
    "costs": dict(costs={"care": {"Sik": 1.0}}),
    "utilities": dict(utilities={"Sik": 0.5}),
    "transition_costs": dict(transition_costs={"event": {("Healthy", "Sik"): 1.0}}),
    "transition_utilities": dict(transition_utilities={("Sik", "Dead"): -0.1}),
    "start_costs": dict(start_costs={"entry": {"Sik": 1.0}}),
    "tunnels": dict(tunnels={"Sik": 3}),
    "dead": dict(dead=("Sik",)),
}


@pytest.mark.parametrize("where", list(UNKNOWN_STATE_CASES))
def test_unknown_state_suggests_closest(where):
    with pytest.raises(HtaError) as ei:
        make(**UNKNOWN_STATE_CASES[where])
    assert_mentions(ei, "unknown state 'Sik'", "did you mean 'Sick'")


def test_unknown_state_lists_the_states_when_nothing_is_close():
    with pytest.raises(HtaError) as ei:
        make(dead=("Zzzzzz",))
    assert_mentions(ei, "dead", "unknown state 'Zzzzzz'", "'Healthy', 'Sick', 'Dead'")


# --------------------------------------------------------------------------- unknown parameters
def test_unknown_parameter_name_in_a_string_value_at_definition():
    with pytest.raises(HtaError) as ei:
        with_transitions({("Healthy", "Sick"): "p_sik"})
    assert_mentions(ei, "'Healthy' -> 'Sick'", "unknown parameter 'p_sik'", "did you mean 'p_sick'",
                    "parameters=")


def test_unknown_parameter_name_nested_in_an_expression():
    with pytest.raises(HtaError) as ei:
        make(costs={"care": {"Sick": RelativeRisk(100.0, "h_r")}})
    assert_mentions(ei, "cost 'care' of state 'Sick'", "unknown parameter 'h_r'", "did you mean 'hr'")


def test_unknown_parameter_in_a_callable_at_run_time():
    m = for_drug({("Healthy", "Sick"): lambda p, t: p["p_sik"]})  # not inspectable at definition
    with pytest.raises(HtaError) as ei:
        run_cohort(m)
    assert_mentions(ei, "strategy 'drug'", "'Healthy' -> 'Sick'", "unknown parameter 'p_sik'",
                    "did you mean 'p_sick'")


def test_unknown_parameter_in_the_draws():
    with pytest.raises(HtaError) as ei:
        run_cohort(make(), {"p_sik": np.array([0.1, 0.2])})
    assert_mentions(ei, "'p_sik'", "did you mean 'p_sick'", "does not declare")


def test_unknown_parameter_in_with_parameters():
    with pytest.raises(HtaError, match=r"unknown parameter 'p_sik' \(did you mean 'p_sick'\?\)"):
        make().with_parameters(p_sik=0.2)


def test_callable_can_test_membership_of_an_unknown_parameter():
    """Library bug: ``Params`` is a Mapping whose ``__getitem__`` raises HtaError (a ValueError),
    not KeyError, so ``"x" in p`` and ``p.get("x", default)`` raise instead of returning
    False / the default.  Optional parameters in callables therefore cannot be written."""
    def optional_effect(p, t):
        hr = p.get("hr_optional", 1.0)
        assert "hr_optional" not in p
        return p["p_sick"] * hr

    res = run_cohort(with_transitions({("Healthy", "Sick"): optional_effect}))
    ref = run_cohort(make())
    np.testing.assert_allclose(res.outcomes["qaly"], ref.outcomes["qaly"])


# --------------------------------------------------------------------------- strategies
def test_unknown_strategy_in_bystrategy():
    with pytest.raises(HtaError) as ei:
        with_transitions({("Healthy", "Sick"): ByStrategy(usual=0.1, drugg=0.05)})
    assert_mentions(ei, "'Healthy' -> 'Sick'", "ByStrategy", "unknown strategy 'drugg'", "did you mean 'drug'")


def test_bystrategy_missing_a_strategy_without_default():
    with pytest.raises(HtaError) as ei:
        with_transitions({("Healthy", "Sick"): ByStrategy(usual=0.1)})
    assert_mentions(ei, "'Healthy' -> 'Sick'", "no value for strategies ['drug']", "default=")


def test_bystrategy_with_default_is_accepted():
    m = with_transitions({("Healthy", "Sick"): ByStrategy(usual=0.1, default=0.05)})
    out = run_cohort(m).outcomes.set_index("strategy")
    assert out.loc["drug", "qaly"] > out.loc["usual", "qaly"]


def test_unknown_strategy_in_strategy_transitions():
    with pytest.raises(HtaError) as ei:
        make(strategy_transitions={"drugs": {("Healthy", "Sick"): 0.05}})
    assert_mentions(ei, "strategy_transitions", "unknown strategy 'drugs'", "did you mean 'drug'")


def test_per_strategy_start_with_a_misspelt_strategy_names_the_strategy():
    """Poor message: a per-strategy start with one misspelt strategy key falls back to reading the
    keys as states and reports "start: unknown state 'usual' ...; states are ...".  It should say
    that 'drugg' is not a strategy (did you mean 'drug'?)."""
    with pytest.raises(HtaError) as ei:
        make(start={"usual": {"Healthy": 1.0}, "drugg": {"Healthy": 1.0}})
    assert_mentions(ei, "'drugg'", "did you mean 'drug'")


def test_per_strategy_start_missing_a_strategy():
    with pytest.raises(HtaError, match=r"start: no start distribution for strategies \['drug'\]"):
        make(start={"usual": {"Healthy": 1.0}})


# --------------------------------------------------------------------------- start distribution
def test_start_not_summing_to_one():
    with pytest.raises(HtaError) as ei:
        run_cohort(make(start={"usual": {"Healthy": 1.0}, "drug": {"Healthy": 0.5, "Sick": 0.4}}))
    assert_mentions(ei, "strategy 'drug'", "start distribution sums to 0.9", "not 1", "sum to 1")


def test_start_with_a_negative_share():
    with pytest.raises(HtaError) as ei:
        run_cohort(make(start={"Healthy": 1.1, "Sick": -0.1}))
    assert_mentions(ei, "start share of 'Sick'", "-0.1", ">= 0")


def test_empty_start():
    with pytest.raises(HtaError) as ei:
        make(start={})
    assert_mentions(ei, "empty start distribution", "{'Healthy': 1.0}")


def test_start_not_summing_to_one_in_one_draw():
    m = make(start={"Healthy": "p_sick", "Sick": 0.9}, parameters={**PARAMETERS})
    with pytest.raises(HtaError) as ei:
        run_cohort(m, {"p_sick": np.array([0.1, 0.1, 0.2])})
    assert_mentions(ei, "start distribution sums to 1.1")
    assert_matches(ei, r"\bdraw 2\b")


# --------------------------------------------------------------------------- shapes
@pytest.mark.parametrize(
    "shape",
    [(5,), (2, 3), (1, 11, 1), (1, 10, 2), (3, 1, 1), (1, 1, 1, 1)],
    ids=lambda s: "x".join(map(str, s)),
)
def test_callable_returning_a_wrong_shape(shape):
    """Base case: expected (draws, cycles, sojourn) = (1, 10, 1) for a 10-cycle transition."""
    f = lambda p, t: np.full(shape, 0.1)  # noqa: E731
    with pytest.raises(HtaError) as ei:
        run_cohort(for_drug({("Healthy", "Sick"): f}))
    assert_mentions(ei, "strategy 'drug'", "'Healthy' -> 'Sick'", f"shape {shape}", "(1, 10, 1)",
                    "(draws, cycles, sojourn)")


def test_callable_returning_draw_axis_of_wrong_length():
    f = lambda p, t: np.full((3, 1, 1), 0.1)  # noqa: E731
    with pytest.raises(HtaError) as ei:
        run_cohort(with_transitions({("Healthy", "Sick"): f}), {"p_die": np.array([0.01, 0.02])})
    assert_mentions(ei, "shape (3, 1, 1)", "(2, 10, 1)")


def test_callable_returning_a_string():
    """E.g. a callable returning a parameter's name instead of ``p[name]``."""
    with pytest.raises(HtaError) as ei:
        run_cohort(with_transitions({("Healthy", "Sick"): lambda p, t: "p_sick"}))
    assert_mentions(ei, "'Healthy' -> 'Sick'", "returned the text", "not a number or array")


def test_params_arrays_of_unequal_lengths():
    with pytest.raises(HtaError) as ei:
        run_cohort(make(), {"p_sick": np.full(3, 0.1), "p_die": np.full(4, 0.01)})
    assert_mentions(ei, "'p_die' has 4 draws", "'p_sick' has 3", "same number of draws")


def test_params_array_2d():
    with pytest.raises(HtaError) as ei:
        run_cohort(make(), {"p_sick": np.full((2, 2), 0.1)})
    assert_mentions(ei, "parameter 'p_sick'", "1-D", "(2, 2)")


def test_params_non_numeric_column():
    with pytest.raises(HtaError, match=r"parameter 'p_sick': draws must be numbers"):
        run_cohort(make(), pd.DataFrame({"p_sick": ["0.1", "0.2"]}))


def test_params_of_an_unsupported_type():
    with pytest.raises(HtaError, match=r"params must be None, a mapping.*got list"):
        run_cohort(make(), [0.1, 0.2])


def test_params_arrays_with_no_draws():
    """Library bug: zero-length draw arrays run silently and return an empty outcomes table.
    An empty PSA sample is almost certainly a mistake upstream; it should raise, naming the
    parameter ("parameter 'p_sick' has 0 draws; give at least one")."""
    with pytest.raises(HtaError) as ei:
        run_cohort(make(), {"p_sick": np.array([], dtype=float)})
    assert_mentions(ei, "'p_sick'", "0 draws")


@pytest.mark.parametrize("chunk_size", [0, -1, 2.5, True])
def test_bad_chunk_size(chunk_size):
    with pytest.raises(HtaError, match=r"chunk_size .* must be a whole number >= 1"):
        run_cohort(make(), chunk_size=chunk_size)


# --------------------------------------------------------------------------- discounting
@pytest.mark.parametrize("setting", ["discount_costs", "discount_outcomes"])
def test_negative_discount_rate_names_the_setting(setting):
    """Poor message: Discount's errors do not say which setting they are about ("discount rate
    -0.01 (from year 0) must be ..."), so with both rates given the user cannot tell which."""
    with pytest.raises(HtaError) as ei:
        make(**{setting: -0.01})
    assert_mentions(ei, "-0.01", ">= 0", setting)


@pytest.mark.parametrize("setting", ["discount_costs", "discount_outcomes"])
def test_negative_discount_rate_is_rejected(setting):
    with pytest.raises(HtaError) as ei:
        make(**{setting: [(0, 0.035), (30, -0.01)]})
    assert_mentions(ei, "-0.01", "from year 30", ">= 0", "0.035 for 3.5 %")


def test_discount_schedule_not_starting_at_zero():
    with pytest.raises(HtaError, match=r"discount schedule \[\(1, 0\.03\)\] must start at year 0"):
        make(discount_outcomes=[(1, 0.03)])


@pytest.mark.parametrize("schedule", [[(0, 0.035), (30, 0.03), (20, 0.025)], [(0, 0.035), (0, 0.03)]])
def test_discount_schedule_breakpoints_must_increase(schedule):
    with pytest.raises(HtaError) as ei:
        make(discount_costs=schedule)
    assert_mentions(ei, "discount schedule", "start years must increase")


def test_discount_rate_not_a_number():
    with pytest.raises(HtaError, match=r"give an annual rate \(0\.035\) or a schedule"):
        make(discount_costs=None)


# --------------------------------------------------------------------------- life tables and the horizon
def _write_table(path, last_age: int, sexes=("female",)) -> None:
    ages = np.arange(0, last_age + 1)
    rows = [pd.DataFrame({"age": ages, "sex": s, "qx": np.linspace(0.001, 0.3, ages.size)}) for s in sexes]
    pd.concat(rows).to_csv(path, index=False)


def _mortality_model(table: LifeTable, start_age: float, horizon: int) -> Model:
    return Model(
        states=("Alive", "Dead"),
        strategies=("none",),
        transitions={("Alive", "Alive"): C, ("Alive", "Dead"): table.mortality("female")},
        start={"Alive": 1.0},
        horizon=horizon,
        start_age=start_age,
        dead=("Dead",),
    )


def test_horizon_past_a_closed_life_table(tmp_path):
    path = tmp_path / "cohort_lt.csv"
    _write_table(path, last_age=90)
    table = LifeTable.from_csv(path)
    assert not table.open_ended
    with pytest.raises(HtaError) as ei:
        run_cohort(_mortality_model(table, start_age=80, horizon=20))
    assert_mentions(ei, "'Alive' -> 'Dead'", "'cohort_lt'", "ends at age 90", "open_ended=True")
    assert_matches(ei, r"\bage 9[1-9]\b")


def test_horizon_exactly_to_the_last_age_is_accepted_and_one_more_is_not(tmp_path):
    """Transitions of cycles 0..T-1 use ages start_age .. start_age + T - 1."""
    path = tmp_path / "lt.csv"
    _write_table(path, last_age=90)
    table = LifeTable.from_csv(path)
    run_cohort(_mortality_model(table, start_age=80, horizon=11))  # ages 80..90
    with pytest.raises(HtaError, match=r"age 91\b"):
        run_cohort(_mortality_model(table, start_age=80, horizon=12))  # age 91


def test_life_table_horizon_message_is_well_formed(tmp_path):
    """Poor message: the fix reads "shorten the horizon, raise nothing silently: extend the table
    or ..." (a garbled phrase); it should read e.g. "shorten the horizon, extend the table, or
    load it with open_ended=True if its last row means '90 and over'"."""
    path = tmp_path / "lt.csv"
    _write_table(path, last_age=90)
    with pytest.raises(HtaError) as ei:
        run_cohort(_mortality_model(LifeTable.from_csv(path), start_age=80, horizon=20))
    assert "raise nothing silently" not in message(ei)


def test_packaged_open_ended_table_runs_past_its_last_age():
    nchs = LifeTable.packaged("us_2017_nchs")
    assert nchs.open_ended and nchs.max_age == 100
    res = run_cohort(_mortality_model(nchs, start_age=90, horizon=20), trace=True)  # ages 90..109
    tr = res.trace
    alive_end = tr[(tr.cycle == 20) & (tr.state == "Alive")]["share"].item()
    assert alive_end == 0.0  # q(100+) = 1: nobody survives past 100
    assert 0 < res.outcomes["ly"].item() < 11


def test_age_used_without_start_age():
    nchs = LifeTable.packaged("us_2017_nchs")
    m = with_transitions({("Healthy", "Dead"): nchs.mortality("male")})
    with pytest.raises(HtaError) as ei:
        run_cohort(m)
    assert_mentions(ei, "'Healthy' -> 'Dead'", "start_age")


def test_start_age_below_the_table():
    path_table = LifeTable.from_frame(pd.DataFrame({"age": np.arange(40, 61), "qx": 0.01}),
                                      name="adults", open_ended=True)
    m = Model(states=("Alive", "Dead"), strategies=("none",),
              transitions={("Alive", "Alive"): C, ("Alive", "Dead"): path_table.mortality("total")},
              start={"Alive": 1.0}, horizon=5, start_age=30)
    with pytest.raises(HtaError) as ei:
        run_cohort(m)
    assert_mentions(ei, "age 30", "first age 40")


# --------------------------------------------------------------------------- settings
SETTINGS_CASES = [
    ("horizon 0", dict(horizon=0), ["horizon 0", ">= 1"]),
    ("horizon negative", dict(horizon=-3), ["horizon -3", ">= 1"]),
    ("horizon and horizon_years", dict(horizon=10, horizon_years=10), ["exactly one of horizon"]),
    ("neither horizon", dict(horizon=None), ["exactly one of horizon"]),
    ("horizon_years fractional", dict(horizon=None, horizon_years=2.5),
     ["horizon_years 2.5", "whole number of cycles"]),
    ("horizon_years vs cycle", dict(horizon=None, horizon_years=1, cycle_length=0.3),
     ["horizon_years 1", "3.33333 cycles", "whole number of cycles"]),
    ("horizon_years zero", dict(horizon=None, horizon_years=0), ["horizon_years 0", "positive"]),
    ("cycle_length 0", dict(cycle_length=0), ["cycle_length 0", "positive"]),
    ("cycle_length negative", dict(cycle_length=-1), ["cycle_length -1", "positive"]),
    ("cycle_length nan", dict(cycle_length=math.nan), ["cycle_length nan", "positive"]),
    ("unknown correction", dict(correction="simson"), ["unknown within-cycle correction 'simson'",
                                                       "did you mean 'simpson'", "half-cycle"]),
    ("simpson odd", dict(correction="simpson", horizon=9), ["Simpson", "even number of cycles", "9",
                                                           "simpson-darth"]),
    ("unknown discount_timing", dict(discount_timing="anual"), ["discount_timing 'anual'",
                                                               "did you mean 'annual'", "exact"]),
    ("start_age negative", dict(start_age=-1), ["start_age -1", ">= 0"]),
    ("tunnel length 1", dict(tunnels={"Sick": 1}), ["tunnels['Sick'] = 1", ">= 2"]),
    ("tunnel length not int", dict(tunnels={"Sick": 2.5}), ["tunnels['Sick'] = 2.5", "whole number"]),
    ("BySojourn on non-tunnel", dict(utilities={"Healthy": BySojourn([1.0, 0.9]), "Sick": 0.6}),
     ["utility of state 'Healthy'", "BySojourn", "not a tunnel state", "tunnels={'Healthy'"]),
    ("BySojourn longer than tunnel", dict(tunnels={"Sick": 2}, utilities={"Sick": BySojourn([0.7, 0.6, 0.5])}),
     ["utility of state 'Sick'", "3 values", "only 2 cycles", "raise tunnels['Sick']"]),
    ("state is a strategy", dict(strategies=("usual", "Sick")), ["'Sick'", "both a state and a strategy"]),
    ("duplicate states", dict(states=("Healthy", "Sick", "Dead", "Sick")), ["duplicate state names", "'Sick'"]),
    ("duplicate strategies", dict(strategies=("usual", "usual")), ["duplicate strategy names", "'usual'"]),
    ("states a string", dict(states="Healthy"), ["states must be a list", "'Healthy'"]),
    ("no strategies", dict(strategies=()), ["at least one strategy"]),
    ("transition key not a pair", dict(transitions={**TRANSITIONS, "Healthy": 0.1}),
     ["transitions", "key 'Healthy'", "(from_state, to_state) pair"]),
    ("transition key a triple", dict(transitions={**TRANSITIONS, ("Healthy", "Sick", "Dead"): 0.1}),
     ["key ('Healthy', 'Sick', 'Dead')", "(from_state, to_state) pair"]),
    ("cost component not an identifier", dict(costs={"drug cost": {"Sick": 1.0}}),
     ["component name 'drug cost'", "identifier"]),
    ("transition cost component", dict(transition_costs={"2nd": {("Healthy", "Sick"): 1.0}}),
     ["transition_costs", "component name '2nd'", "identifier"]),
    ("transitions not a mapping", dict(transitions=[("Healthy", "Sick")]), ["transitions=", "mapping"]),
]


@pytest.mark.parametrize("kwargs, fragments", [c[1:] for c in SETTINGS_CASES], ids=[c[0] for c in SETTINGS_CASES])
def test_bad_setting(kwargs, fragments):
    with pytest.raises(HtaError) as ei:
        make(**kwargs)
    assert_mentions(ei, *fragments)


def test_bycycle_too_short_without_then():
    with pytest.raises(HtaError) as ei:
        run_cohort(with_transitions({("Healthy", "Sick"): ByCycle([0.1, 0.2])}))
    assert_mentions(ei, "'Healthy' -> 'Sick'", "ByCycle has 2 values", "cycle 9", "then=")


# --------------------------------------------------------------------------- rates vs probabilities
def test_rate_given_as_a_probability_suggests_rate():
    with pytest.raises(HtaError) as ei:
        run_cohort(for_drug({("Healthy", "Sick"): 1.5}))
    assert_mentions(ei, "strategy 'drug'", "from 'Healthy' to 'Sick'", "1.5", "above 1", "Rate(")


def test_rate_parameter_given_as_a_probability_in_one_draw():
    with pytest.raises(HtaError) as ei:
        run_cohort(make(), {"p_sick": np.array([0.1, 1.5, 0.2])})
    assert_mentions(ei, "from 'Healthy' to 'Sick'", "1.5", "Rate(")
    assert_matches(ei, r"\bdraw 1\b")


@pytest.mark.parametrize(
    "value",
    [HazardRatio(1.5, "hr"), AnyOf(1.5, 1.2), AnyOf("p_die", 1.5, 1.2)],
    ids=["HazardRatio", "AnyOf", "AnyOf3"],
)
def test_rate_inside_a_probability_expression_is_rejected(value):
    """Library bug: HazardRatio and AnyOf do not check that their inputs are probabilities.
    HazardRatio(1.5, hr) clips p to 1 and silently yields probability 1 (plus a numpy
    divide-by-zero warning); AnyOf(1.5, 1.2) = 1 - (-0.5)(-0.2) = 0.9 passes every check.
    Both should raise like a bare 1.5 does: "... probability 1.5 is above 1; ... if this is a
    rate, wrap it in Rate(...)"."""
    m = for_drug({("Healthy", "Sick"): value, ("Healthy", "Dead"): 0.0})
    with pytest.raises(HtaError) as ei:
        run_cohort(m)
    assert_mentions(ei, "strategy 'drug'", "'Healthy'", "1.5", "Rate(")


def test_negative_rate():
    with pytest.raises(HtaError) as ei:
        run_cohort(for_drug({("Healthy", "Sick"): Rate(-0.2)}))
    assert_mentions(ei, "strategy 'drug'", "'Healthy' -> 'Sick'", "negative rate -0.2", ">= 0")


def test_rate_unit_must_be_year_or_cycle():
    with pytest.raises(HtaError, match=r"Rate\(per='month'\): use per='year' or per='cycle'"):
        Rate(0.1, per="month")


# --------------------------------------------------------------------------- no partial results
@pytest.mark.parametrize("trace", [False, True])
def test_error_in_the_last_chunk_returns_nothing(trace):
    draws = {"p_sick": np.array([0.1, 0.1, 0.1, 0.1, 1.5])}
    with pytest.raises(HtaError) as ei:
        run_cohort(make(), draws, chunk_size=1, trace=trace)
    assert_mentions(ei, "from 'Healthy' to 'Sick'", "1.5", "above 1")
    # the same draws without the bad one run fine: the error came from the last chunk
    run_cohort(make(), {"p_sick": draws["p_sick"][:4]}, chunk_size=1, trace=trace)


@pytest.mark.parametrize("chunk_size", [1, 2, 3, None])
def test_error_names_the_draw_whatever_the_chunk_size(chunk_size):
    """Library bug: ``_draw_label`` prints the draw only when the evaluated array has more than
    one draw, so when the faulty draw sits alone in its chunk (chunk_size=1, or the last chunk
    of 5 draws in chunks of 2) the message omits "in draw 4"."""
    with pytest.raises(HtaError) as ei:
        run_cohort(make(), {"p_sick": np.array([0.1, 0.1, 0.1, 0.1, 1.5])}, chunk_size=chunk_size)
    assert_matches(ei, r"\bdraw 4\b")


# --------------------------------------------------------------------------- parameter tables
def _table(tmp_path, text: str):
    path = tmp_path / "params.csv"
    path.write_text(text)
    return path


def test_parameter_table_missing_column(tmp_path):
    path = _table(tmp_path, "name,value\np_sick,0.1\n")
    with pytest.raises(HtaError) as ei:
        read_parameter_table(path)
    assert_mentions(ei, str(path), "missing column(s) ['source']", "name, value, source")


def test_parameter_table_duplicate_name_names_both_lines(tmp_path):
    path = _table(tmp_path, "name,value,source\np_sick,0.1,a\np_die,0.2,b\np_sick,0.3,c\n")
    with pytest.raises(HtaError) as ei:
        read_parameter_table(path)
    assert_mentions(ei, str(path), "line 4", "duplicate parameter name 'p_sick'", "line 2")


def test_parameter_table_duplicate_after_whitespace(tmp_path):
    path = _table(tmp_path, "name,value,source\np_sick,0.1,a\n p_sick ,0.3,c\n")
    with pytest.raises(HtaError, match=r"line 3: duplicate parameter name 'p_sick' \(first on line 2\)"):
        read_parameter_table(path)


@pytest.mark.parametrize("bad", ["abc", "", "inf", "0.1.2"])
def test_parameter_table_non_numeric_value_names_the_line(tmp_path, bad):
    path = _table(tmp_path, f"name,value,source\np_sick,0.1,a\np_die,{bad},b\n")
    with pytest.raises(HtaError) as ei:
        read_parameter_table(path)
    assert_mentions(ei, str(path), "line 3", "parameter 'p_die'", bad)
    assert_matches(ei, r"not a (finite )?number")


@pytest.mark.parametrize("source", ["", "   "])
def test_parameter_table_missing_source(tmp_path, source):
    path = _table(tmp_path, f"name,value,source\np_sick,0.1,a\np_die,0.2,{source}\n")
    with pytest.raises(HtaError) as ei:
        read_parameter_table(path)
    assert_mentions(ei, "line 3", "parameter 'p_die'", "no source", "cite one")


def test_parameter_table_from_a_dataframe():
    df = pd.DataFrame({"name": ["a", "b"], "value": [1.0, "x"], "source": ["s", "t"]})
    with pytest.raises(HtaError, match=r"parameter table, line 3: parameter 'b' has value 'x'"):
        read_parameter_table(df)


def test_parameter_table_file_not_found(tmp_path):
    with pytest.raises(HtaError, match=r"parameter table .*nope\.csv' not found"):
        read_parameter_table(tmp_path / "nope.csv")


# --------------------------------------------------------------------------- life table files
def test_life_table_missing_age_column(tmp_path):
    path = tmp_path / "noage.csv"
    path.write_text("years,sex,qx\n0,female,0.1\n1,female,0.2\n")
    with pytest.raises(HtaError) as ei:
        LifeTable.from_csv(path)
    assert_mentions(ei, "noage", "no 'age' column", "years, sex, qx")


def test_life_table_non_numeric_qx(tmp_path):
    path = tmp_path / "lt.csv"
    path.write_text("age,sex,qx\n0,female,0.1\n1,female,abc\n2,female,0.3\n")
    with pytest.raises(HtaError) as ei:
        LifeTable.from_csv(path)
    assert_mentions(ei, "qx", "sex 'female'", "age 1", "not a number")


def test_life_table_qx_above_one_names_age_and_sex(tmp_path):
    path = tmp_path / "lt.csv"
    path.write_text("age,sex,qx\n0,female,0.1\n1,female,0.2\n0,male,0.1\n1,male,1.5\n")
    with pytest.raises(HtaError) as ei:
        LifeTable.from_csv(path)
    assert_mentions(ei, "sex 'male'", "age 1", "1.5", "[0, 1]")


def test_life_table_non_integer_age(tmp_path):
    path = tmp_path / "lt.csv"
    path.write_text("age,qx\n0,0.1\n1.5,0.2\n")
    with pytest.raises(HtaError) as ei:
        LifeTable.from_csv(path)
    assert_mentions(ei, "row 3", "1.5", "not a whole number")


def test_life_table_unknown_sex_in_mortality():
    nchs = LifeTable.packaged("us_2017_nchs")
    with pytest.raises(HtaError) as ei:
        nchs.mortality("Female")
    assert_mentions(ei, "'us_2017_nchs'", "no sex 'Female'", "did you mean 'female'", "female, male, total")


def test_unknown_packaged_life_table():
    with pytest.raises(HtaError, match=r"no packaged life table 'us_2017_nhcs' \(did you mean 'us_2017_nchs'\?\)"):
        LifeTable.packaged("us_2017_nhcs")


def test_life_table_file_not_found(tmp_path):
    with pytest.raises(HtaError, match=r"life table file .*missing\.csv' not found"):
        LifeTable.from_csv(tmp_path / "missing.csv")


# --------------------------------------------------------------------------- numbers in messages
def _qx_above_one(tmp_path):
    path = tmp_path / "lt.csv"
    path.write_text("age,qx\n0,0.1\n1,1.5\n")
    LifeTable.from_csv(path)


def _non_integer_age(tmp_path):
    path = tmp_path / "lt.csv"
    path.write_text("age,qx\n0,0.1\n1.5,0.2\n")
    LifeTable.from_csv(path)


def _inf_draw(tmp_path):
    run_cohort(make(), {"p_sick": np.array([0.1, np.inf])})


def _inf_from_callable(tmp_path):
    run_cohort(with_transitions({("Healthy", "Sick"): lambda p, t: np.where(t.cycle == 2, np.inf, 0.1)}))


def _nan_icer_cost(tmp_path):
    icer_table(["A", "B"], [1.0, np.nan], [1.0, 2.0])


@pytest.mark.parametrize("trigger", [_qx_above_one, _non_integer_age, _inf_draw, _inf_from_callable, _nan_icer_cost],
                         ids=["life table qx", "life table age", "draw", "callable", "icer_table"])
def test_messages_show_plain_numbers(tmp_path, trigger):
    """Poor message: with numpy >= 2 some messages show the repr of numpy scalars
    ("qx ... is np.float64(1.5)", "age np.float64(1.5) is not a whole number", "value
    np.float64(inf) is not a finite number", "cost of strategy 'B' is np.float64(nan)"); format the
    value as a plain float (e.g. ``float(v)!r`` or ``{v:g}``)."""
    with pytest.raises(HtaError) as ei:
        trigger(tmp_path)
    assert "np.float64" not in message(ei), message(ei)


# --------------------------------------------------------------------------- command line
def test_cli_unknown_model(capsys):
    assert cli_main(["run", "no_such_model"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("hta-sim: error: ")
    assert "'no_such_model'" in lines[0]
    assert "hiv_chancellor" in lines[0]  # the ready models are listed as the way out


@pytest.mark.parametrize("command", ["run", "info"])
def test_cli_misspelt_model_suggests_the_closest(capsys, command):
    assert cli_main([command, "hiv_chancelor"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert "did you mean 'hiv_chancellor'" in err
