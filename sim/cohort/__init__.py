"""Markov cohort engine (Numba-compiled)."""

from .engine import run_cohort

__all__ = ["run_cohort"]
