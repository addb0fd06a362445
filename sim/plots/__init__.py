"""Figures of decision analysis and model traces (matplotlib).

Every function takes a plain table with documented columns (the tables of
:mod:`sim.decision`, :mod:`sim.voi` and :attr:`sim.CohortResult.trace`), checks the
columns it needs, draws on the Axes given as ``ax`` (or on a new figure) and
returns the Axes.  Nothing here knows an engine, calls ``plt.show``, forces a
backend or changes global style settings; matplotlib is imported only when a
figure is drawn.

Units in axis labels come from the table's ``attrs`` when present:
``attrs["effect_unit"]`` (e.g. ``"QALYs"``) or ``attrs["effect"]`` (e.g. ``"qaly"``,
``"ly"``) and ``attrs["currency"]`` (e.g. ``"GBP"`` or, with the price year,
``"USD 2023"``); otherwise the labels say "per unit of effect" and leave the
currency out.

Style (one for every figure, in ``_common.py``): strategies take the colours of the
colour-blind-safe Okabe-Ito palette (``sim.plots._common.PALETTE``) in the order they
appear in the table (categories order for a categorical column); money axes have
compact tick labels ("100k", "1.5M") and at most six ticks; a light grid sits behind
the data; willingness-to-pay thresholds are dotted vertical lines (``wtp=`` of
:func:`ceac` and :func:`evpi`); :func:`style_figure` gives every text of a finished
figure the type size of its role (``FONT_SIZES``: titles, axis labels, ticks, legends,
annotations), as the experiment reports do for every figure they write.

Modules: ``ce.py`` (:func:`ce_plane`, :func:`ceac`, :func:`expected_loss`),
``voi.py`` (:func:`evpi`, :func:`evppi`), ``dsa.py`` (:func:`tornado`,
:func:`two_way`), ``traces.py`` (:func:`trace`, :func:`survival`), ``survfits.py`` (:func:`survival_fits`), ``io.py``
(:func:`save`); ``_common.py`` holds the input checks, colours, number formats and
units they share.
"""

from __future__ import annotations

from sim._lazy import attach

_P = "sim.plots"
__getattr__, __dir__, _names = attach(__name__, {
    "ce_plane": f"{_P}.ce:ce_plane", "ceac": f"{_P}.ce:ceac", "expected_loss": f"{_P}.ce:expected_loss",
    "evpi": f"{_P}.voi:evpi", "evppi": f"{_P}.voi:evppi",
    "tornado": f"{_P}.dsa:tornado", "two_way": f"{_P}.dsa:two_way",
    "trace": f"{_P}.traces:trace", "survival": f"{_P}.traces:survival",
    "survival_fits": f"{_P}.survfits:survival_fits",
    "save": f"{_P}.io:save",
    "style_figure": f"{_P}._common:style_figure", "text_role": f"{_P}._common:text_role",
    "PALETTE": f"{_P}._common:PALETTE", "FONT_SIZES": f"{_P}._common:FONT_SIZES",
    "compact_formatter": f"{_P}._common:compact_formatter",
    "PRODUCERS": f"{_P}._common:PRODUCERS",
})
__all__ = [n for n in _names if n != "PRODUCERS"]
