"""Markdown tables for ``docs/omt_vs_cabg.md``, built from the code (the tests compare them with the page)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = ["doc_table"]


def doc_table(columns: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A GitHub Markdown table: a header of ``columns``, a ``---`` rule, one line per row of formatted cells."""
    lines = ["| " + " | ".join(columns) + " |", "| " + " | ".join("---" for _ in columns) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)
