"""Markov cohort engine (Numba-compiled)."""

from sim.cohort.engine import run_cohort

__all__ = ["run_cohort"]
