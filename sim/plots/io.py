"""Writing figures to files."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sim.errors import HtaError

__all__ = ["save"]


def save(fig_or_ax, path: str | os.PathLike, formats: Sequence[str] | str = ("png", "svg"),
         **savefig_kw: Any) -> list[Path]:
    """Write a figure in one or more formats.

    Parameters
    ----------
    fig_or_ax : Figure, Axes or array of Axes
        What a function of this module returned, or its Figure.
    path : str or path-like
        File name without extension (an extension that is a matplotlib format, such
        as ``.png``, is replaced); missing parent folders are created.
    formats : str or sequence of str
        Formats, one file each, e.g. ``("png", "svg")`` or ``"pdf"``.
    **savefig_kw
        Passed to ``Figure.savefig`` (default ``bbox_inches="tight"``, ``dpi=150``).

    Returns
    -------
    list of Path
        The files written, in the order of ``formats``.
    """
    from matplotlib.figure import Figure

    fig = fig_or_ax
    if isinstance(fig, np.ndarray) and fig.size:
        fig = fig.ravel()[0]
    for _ in range(3):  # Axes -> (SubFigure ->) Figure
        if isinstance(fig, Figure) or getattr(fig, "figure", None) is None:
            break
        fig = fig.figure
    if not isinstance(fig, Figure):
        raise HtaError(f"plots.save: expected a matplotlib Figure, Axes or array of Axes, got "
                       f"{type(fig_or_ax).__name__}")
    fmts = [formats] if isinstance(formats, str) else list(formats)
    supported = fig.canvas.get_supported_filetypes()
    if not fmts:
        raise HtaError("plots.save: no formats given; e.g. formats=('png', 'svg')")
    for f in fmts:
        if str(f).lower().lstrip(".") not in supported:
            raise HtaError(f"plots.save: unknown format {f!r}; supported: {', '.join(sorted(supported))}")
    p = Path(path)
    if p.suffix.lower().lstrip(".") in supported:
        p = p.with_suffix("")
    p.parent.mkdir(parents=True, exist_ok=True)
    kw = {"bbox_inches": "tight", "dpi": 150, **savefig_kw}
    out = []
    for f in fmts:
        f = str(f).lower().lstrip(".")
        target = p.with_name(f"{p.name}.{f}")
        fig.savefig(target, format=f, **kw)
        out.append(target)
    return out
