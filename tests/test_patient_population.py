"""Populations: generated from distributions on the counter stream, read from CSV, checked."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.special import expit

from sim import HtaError
from sim.patient.population import check_population, generate_population, read_population, truncated_normal

SPEC = {"age": truncated_normal(65.0, 9.0, 40.0, 90.0), "male": stats.bernoulli(0.7),
        "diabetes": lambda a: stats.bernoulli(expit(-6.0 + 0.08 * a["age"]))}


def test_distributions_and_dependence():
    n = 20_000
    pop = generate_population(SPEC, n, seed=1)
    assert list(pop.columns) == ["age", "male", "diabetes"] and len(pop) == n
    assert pop.age.between(40, 90).all()
    assert abs(pop.age.mean() - SPEC["age"].mean()) < 3 * SPEC["age"].std() / np.sqrt(n)
    assert abs(pop.male.mean() - 0.7) < 3 * np.sqrt(0.21 / n)
    assert set(pop.male.unique()) == {0.0, 1.0}
    # diabetes more common in the old, as specified
    assert pop.diabetes[pop.age > 75].mean() > pop.diabetes[pop.age < 55].mean() + 0.2


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**31), st.integers(0, 50), st.integers(1, 40))
def test_a_patient_depends_only_on_seed_and_index(seed, first, n):
    whole = generate_population(SPEC, first + n, seed=seed)
    part = generate_population(SPEC, n, seed=seed, first=first)
    pd.testing.assert_frame_equal(whole.iloc[first:], part, check_exact=True)
    other = generate_population(SPEC, first + n, seed=seed, draw=1)
    assert not np.array_equal(whole.age.to_numpy(), other.age.to_numpy())


def test_bad_generation():
    with pytest.raises(HtaError, match="attribute 'age': float is not a distribution"):
        generate_population({"age": 65.0}, 10, seed=1)
    with pytest.raises(HtaError, match="uses 'bmi', which is not among the attributes generated before it"):
        generate_population({"dm": lambda a: stats.bernoulli(a["bmi"] / 100)}, 10, seed=1)
    with pytest.raises(HtaError, match="attribute 'x': its distribution gave nan"):
        generate_population({"x": stats.norm(0.0, -1.0)}, 10, seed=1)
    with pytest.raises(HtaError, match="n 0"):
        generate_population(SPEC, 0, seed=1)
    with pytest.raises(HtaError, match="sd -1"):
        truncated_normal(60.0, -1.0)
    with pytest.raises(HtaError, match="lower 90"):
        truncated_normal(60.0, 5.0, 90.0, 40.0)


def test_read_population(tmp_path):
    f = tmp_path / "people.csv"
    f.write_text("age,male,sex\n61,1,male\n70,0,female\n")
    pop = read_population(f, text=["sex"])
    assert pop.age.tolist() == [61, 70] and pop.sex.tolist() == ["male", "female"]
    with pytest.raises(HtaError, match=r"people.csv, line 2: column 'sex' holds 'male', which is not a number"):
        read_population(f)
    f.write_text("age,male\n61,1\n,0\n")
    with pytest.raises(HtaError, match=r"people.csv, line 3: column 'age' is missing"):
        read_population(f)
    f.write_text("age,male\n")
    with pytest.raises(HtaError, match="has no patients"):
        read_population(f)
    with pytest.raises(HtaError, match="does not exist"):
        read_population(tmp_path / "nobody.csv")
    f.write_text("age,male\n61,1\n")
    with pytest.raises(HtaError, match="no column 'sx' \\(did you mean 'age'\\?\\)|no column 'sx'"):
        read_population(f, text=["sx"])


def test_check_population():
    df = pd.DataFrame({"age": [60.0, 70.0]})
    check_population(df, ["age"])
    with pytest.raises(HtaError, match="population lacks column 'agee'"):
        check_population(df, ["agee"])
    with pytest.raises(HtaError, match="must be a DataFrame"):
        check_population([1, 2], ["age"])
