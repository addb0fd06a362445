"""Figures (sim.plots): each function renders a non-blank PNG, uses the Axes it is
given, leaves global style alone, plots the right numbers where that is cheap to
check, and names the missing column (and the function that makes the table) in
its error.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # no display in tests; the library itself never picks a backend

import matplotlib.image as mpimg
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

import cohorts
import sim
from sim import HtaError, decision, plots, voi
from sim.params.sampling import Draws

WTP = np.linspace(0, 60_000, 31)
NAMES = ["usual", "drug_a", "drug_b"]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# ---------------------------------------------------------------------------- inputs
@pytest.fixture(scope="module")
def psa():
    """Costs and effects of 400 draws of three strategies, shape (400, 3)."""
    rng = np.random.default_rng(20240501)
    n = 400
    e = np.column_stack([rng.normal(5.0, 0.4, n), rng.normal(5.3, 0.5, n), rng.normal(5.45, 0.6, n)])
    c = np.column_stack([rng.normal(20_000, 2_000, n), rng.normal(26_000, 2_500, n),
                         rng.normal(33_000, 4_000, n)])
    return c, e


@pytest.fixture(scope="module")
def hiv():
    spec = cohorts.load("hiv_chancellor")
    model = spec.build()
    base = sim.run_cohort(model, trace=True)
    rr = np.array([0.4, 0.509, 0.6])  # three draws varying the relative risk of combination therapy
    frame = pd.DataFrame({k: np.full(len(rr), v) for k, v in model.parameters.items()}).assign(rr=rr)
    many = sim.run_cohort(model, Draws.from_frame(frame), trace=True)
    return model, base.trace, many.trace


def evppi_table():
    rows = []
    for w, scale in ((20_000, 1.0), (30_000, 1.6)):
        for p, v, se in (("p_sick", 120.0, 8.0), ("hr_new", 310.0, 15.0), ("c_drug, c_sick", 45.0, np.nan),
                         ("u_healthy", 0.0, 0.5)):
            rows.append({"parameters": p, "wtp": w, "evppi": v * scale, "se": se})
    return pd.DataFrame(rows)


def tornado_table():
    t = pd.DataFrame({
        "parameter": ["p_sick", "hr_new", "c_drug", "u_sick", "p_die_sick"],
        "low": [0.03, 0.5, 900.0, 0.55, 0.05],
        "high": [0.08, 0.9, 1500.0, 0.75, 0.15],
        "outcome_low": [18_000.0, 9_000.0, 12_000.0, 16_500.0, 14_000.0],
        "outcome_high": [11_000.0, 25_000.0, 17_000.0, 13_800.0, 14_600.0],
    })
    t["base"] = 15_000.0
    t.attrs["outcome"] = "ICER (GBP per QALY)"
    return t


def two_way_grid():
    x, y = np.meshgrid(np.linspace(0.01, 0.1, 25), np.linspace(0.4, 1.0, 20))
    out = 40_000 * (1 - y) - 150_000 * (x - 0.05)
    opt = np.where(out > 15_000, "new_drug", np.where(out < 0, "watchful", "standard"))
    g = pd.DataFrame({"x": x.ravel(), "y": y.ravel(), "outcome": out.ravel(), "optimal": opt.ravel()})
    g.attrs.update(x_name="p_sick (per year)", y_name="hazard ratio", outcome="INMB (GBP)")
    return g


# ---------------------------------------------------------------------------- rendering checks
def render(obj, tmp_path, name="figure"):
    """Save to PNG, reload, and assert the image is not blank."""
    fig = obj.ravel()[0].figure if isinstance(obj, np.ndarray) else obj.figure
    path = tmp_path / f"{name}.png"
    fig.savefig(path, dpi=60)
    img = mpimg.imread(path)
    rgb = np.round(img[..., :3] * 255).astype(np.uint8).reshape(-1, 3)
    background = rgb[0]  # top-left corner: the figure's face colour
    differ = np.any(rgb != background, axis=1).mean()
    colours = len(np.unique(rgb, axis=0))
    assert differ > 0.01, f"{name}: only {differ:.2%} of pixels differ from the background"
    assert colours >= 5, f"{name}: only {colours} distinct colours"
    return img


def test_ce_plane(psa, tmp_path):
    c, e = psa
    plane = decision.ce_plane(c, e, NAMES)
    ax = plots.ce_plane(plane, wtp=[20_000, 30_000])
    render(ax, tmp_path, "ce_plane")
    assert "usual" in ax.get_title()  # the reference strategy
    assert ax.get_xlabel() and ax.get_ylabel()
    # mean points are the centres of the draws
    means = [coll.get_offsets() for coll in ax.collections if len(coll.get_offsets()) == 1]
    assert len(means) == 2
    np.testing.assert_allclose(means[0][0], [(e[:, 1] - e[:, 0]).mean(), (c[:, 1] - c[:, 0]).mean()])
    # a WTP line through the origin with slope wtp
    x, y = ax.lines[-2].get_data()
    np.testing.assert_allclose(np.asarray(y), 20_000 * np.asarray(x))


def test_ce_plane_units_from_attrs(psa):
    c, e = psa
    plane = decision.ce_plane(c, e, NAMES)
    plane.attrs.update(effect="qaly", currency="GBP")
    ax = plots.ce_plane(plane, wtp=20_000)
    assert ax.get_xlabel() == "Incremental QALYs"
    assert ax.get_ylabel() == "Incremental cost (GBP)"


def test_ceac_with_frontier(psa, tmp_path):
    c, e = psa
    curves = decision.ceac(c, e, WTP, NAMES)
    frontier = decision.ceaf(c, e, WTP, NAMES)
    ax = plots.ceac(curves, frontier=frontier)
    render(ax, tmp_path, "ceac")
    labels = [ln.get_label() for ln in ax.lines]
    assert set(NAMES) <= set(labels) and "frontier (CEAF)" in labels
    assert "Willingness to pay" in ax.get_xlabel()
    ax2 = plots.ceac(curves)  # without frontier
    render(ax2, tmp_path, "ceac_plain")


def test_expected_loss_envelope_is_evpi(psa, tmp_path):
    c, e = psa
    loss = decision.expected_loss(c, e, WTP, NAMES)
    ax = plots.expected_loss(loss)
    render(ax, tmp_path, "expected_loss")
    envelope = [ln for ln in ax.lines if ln.get_linestyle() == "--"]
    assert len(envelope) == 1
    np.testing.assert_allclose(envelope[0].get_ydata(), voi.evpi(c, e, WTP)["evpi"], rtol=1e-9, atol=1e-6)


def test_evpi(psa, tmp_path):
    c, e = psa
    ax = plots.evpi(voi.evpi(c, e, WTP))
    render(ax, tmp_path, "evpi")
    pop = voi.population_evpi(c, e, WTP, incidence=1000, years=10, discount=0.035)
    ax2 = plots.evpi(pop, population=True)
    render(ax2, tmp_path, "population_evpi")
    np.testing.assert_allclose(ax2.lines[0].get_ydata(), pop["population_evpi"])
    assert "Population" in ax2.get_ylabel()
    with pytest.raises(HtaError, match="population_evpi.*sim.voi.population_evpi"):
        plots.evpi(voi.evpi(c, e, WTP), population=True)


def test_evppi(tmp_path):
    table = evppi_table()
    ax = plots.evppi(table)
    render(ax, tmp_path, "evppi")
    assert "first of 2" in ax.get_title()
    ticks = [t.get_text() for t in ax.get_yticklabels()]
    assert ticks[-1] == "hr_new" and ticks[0] == "u_healthy"  # largest on top
    ax2 = plots.evppi(table, wtp=30_000)
    assert "at 30k per unit of effect" in ax2.get_title() and "first" not in ax2.get_title()
    widths = sorted(p.get_width() for p in ax2.patches)
    np.testing.assert_allclose(widths, sorted(table.loc[table.wtp == 30_000, "evppi"]))
    with pytest.raises(HtaError, match="25000.*not in the table"):
        plots.evppi(table, wtp=25_000)


def test_tornado(tmp_path):
    table = tornado_table()
    ax = plots.tornado(table)
    render(ax, tmp_path, "tornado")
    ticks = [t.get_text() for t in ax.get_yticklabels()]
    assert ticks[-1] == "hr_new" and ticks[0] == "p_die_sick"  # largest range on top
    assert ax.get_xlabel() == "ICER (GBP per QALY)"
    texts = {t.get_text() for t in ax.texts}
    assert {"0.03", "0.08", "900", "1,500"} <= texts  # input values labelled
    assert {"low input", "high input"} <= {t.get_text() for t in ax.get_legend().get_texts()}


def test_two_way(tmp_path):
    grid = two_way_grid()
    ax = plots.two_way(grid)
    render(ax, tmp_path, "two_way")
    assert ax.get_xlabel() == "p_sick (per year)" and ax.get_ylabel() == "hazard ratio"
    assert len(ax.figure.axes) == 2  # the colour bar
    assert {t.get_text() for t in ax.texts} == {"new_drug", "standard", "watchful"}
    # without `optimal`, and with a missing grid point
    plain = grid.drop(columns="optimal").iloc[1:]
    ax2 = plots.two_way(plain)
    render(ax2, tmp_path, "two_way_plain")
    with pytest.raises(HtaError, match="appears more than once"):
        plots.two_way(pd.concat([grid, grid.iloc[:1]]))


def test_trace_per_strategy(hiv, tmp_path):
    model, base, _ = hiv
    axes = plots.trace(base)
    assert isinstance(axes, np.ndarray) and len(axes) == len(model.strategies)
    render(axes, tmp_path, "trace")
    assert [a.get_title() for a in axes] == list(model.strategies)
    # the lines are the trace itself
    line = axes[0].lines[0]
    want = base[(base.strategy == model.strategies[0]) & (base.state == model.states[0])].sort_values("cycle")
    np.testing.assert_allclose(line.get_ydata(), want["share"])


def test_trace_one_strategy_and_draws(hiv, tmp_path):
    _, _, many = hiv
    ax = plots.trace(many, strategy="comb")
    render(ax, tmp_path, "trace_comb")
    assert "mean of 3 draws" in ax.get_title()
    mean = many[(many.strategy == "comb") & (many.state == "A")].groupby("cycle")["share"].mean()
    np.testing.assert_allclose(ax.lines[0].get_ydata(), mean)
    ax2 = plots.trace(many, strategy="comb", draw=2)
    one = many[(many.strategy == "comb") & (many.state == "A") & (many.draw == 2)].sort_values("cycle")
    np.testing.assert_allclose(ax2.lines[0].get_ydata(), one["share"])
    with pytest.raises(HtaError, match="draw 7 is not in the trace"):
        plots.trace(many, draw=7)
    with pytest.raises(HtaError, match="strategy 'nope'.*mono, comb"):
        plots.trace(many, strategy="nope")
    _, axs = plt.subplots(1, 2)
    assert list(plots.trace(many, ax=axs)) == list(axs)
    with pytest.raises(HtaError, match="1 Axes for 2 strategies"):
        plots.trace(many, ax=axs[0])


def test_survival(hiv, tmp_path):
    model, base, many = hiv
    ax = plots.survival(base, dead_states=model.dead, cycle_length=base.attrs["settings"]["cycle_length"])
    render(ax, tmp_path, "survival")
    assert ax.get_xlabel() == "Years"
    dead = base[(base.strategy == "mono") & (base.state == "D")].sort_values("cycle")
    np.testing.assert_allclose(ax.lines[0].get_ydata(), 1 - dead["share"].to_numpy())
    ax2 = plots.survival(many, dead_states="D")
    assert ax2.get_xlabel() == "Cycle" and "mean of 3 draws" in ax2.get_title()
    # combination therapy keeps more people alive
    assert ax2.lines[1].get_ydata()[-1] > ax2.lines[0].get_ydata()[-1]
    with pytest.raises(HtaError, match="dead state 'Dead' is not in the trace"):
        plots.survival(base, dead_states=["Dead"])


def test_given_axes_are_used_and_returned(psa, hiv):
    c, e = psa
    _, base, _ = hiv
    _, axs = plt.subplots(3, 3)
    calls = [
        lambda ax: plots.ce_plane(decision.ce_plane(c, e, NAMES), ax=ax),
        lambda ax: plots.ceac(decision.ceac(c, e, WTP, NAMES), ax=ax),
        lambda ax: plots.expected_loss(decision.expected_loss(c, e, WTP, NAMES), ax=ax),
        lambda ax: plots.evpi(voi.evpi(c, e, WTP), ax=ax),
        lambda ax: plots.evppi(evppi_table(), ax=ax),
        lambda ax: plots.tornado(tornado_table(), ax=ax),
        lambda ax: plots.two_way(two_way_grid(), ax=ax),
        lambda ax: plots.trace(base, strategy="mono", ax=ax),
        lambda ax: plots.survival(base, dead_states="D", ax=ax),
    ]
    for call, ax in zip(calls, axs.ravel(), strict=True):
        assert call(ax) is ax
    assert len(plt.get_fignums()) == 1  # no extra figures


def test_no_global_style_changes(psa):
    c, e = psa
    before = dict(matplotlib.rcParams)
    plots.ce_plane(decision.ce_plane(c, e, NAMES), wtp=20_000)
    plots.tornado(tornado_table())
    plots.two_way(two_way_grid())
    assert dict(matplotlib.rcParams) == before


def test_save(psa, tmp_path):
    c, e = psa
    ax = plots.ceac(decision.ceac(c, e, WTP, NAMES))
    paths = plots.save(ax, tmp_path / "figs" / "ceac.png")
    assert paths == [tmp_path / "figs" / "ceac.png", tmp_path / "figs" / "ceac.svg"]
    assert all(p.stat().st_size > 0 for p in paths)
    assert "<svg" in paths[1].read_text()
    assert mpimg.imread(paths[0]).shape[0] > 100
    assert plots.save(ax.figure, tmp_path / "again", formats="pdf") == [tmp_path / "again.pdf"]
    with pytest.raises(HtaError, match="unknown format 'bmpx'"):
        plots.save(ax, tmp_path / "x", formats=("bmpx",))
    with pytest.raises(HtaError, match="expected a matplotlib Figure"):
        plots.save("not a figure", tmp_path / "x")


def test_tornado_undefined_outcome(tmp_path):
    table = tornado_table()
    table.loc[1, "outcome_high"] = np.inf  # e.g. an ICER with no difference in effect
    table.loc[4, "outcome_low"] = np.nan
    ax = plots.tornado(table)
    render(ax, tmp_path, "tornado_nan")
    ticks = [t.get_text() for t in ax.get_yticklabels()]
    assert ticks[:2] == ["hr_new", "p_die_sick"]  # undefined swings at the bottom, input order
    assert {"0.9: inf", "0.05: nan"} <= {t.get_text() for t in ax.texts}
    assert all(np.isfinite(p.get_width()) for p in ax.patches)


# ------------------------------------------------------------------------ tables of sim.dsa and sim.voi.evppi
def test_dsa_tables(tmp_path):
    from sim.cohort import CohortRun
    from sim.decision import dsa
    run = CohortRun(cohorts.load("hiv_chancellor").build())
    ow = dsa.one_way(run, {"rr": (0.4, 0.6), "p_AB": (0.15, 0.25), "c_lamivudine": (1500, 2500)},
                     outcome="icer", effect="ly")
    ax = plots.tornado(ow)
    render(ax, tmp_path, "dsa_one_way")
    assert ax.get_xlabel() == ow.attrs["outcome"]
    tw = dsa.two_way(run, ("rr", np.linspace(0.3, 1.2, 12)), ("c_lamivudine", np.linspace(500, 6000, 10)),
                     wtp=8000, effect="ly")
    ax2 = plots.two_way(tw)
    render(ax2, tmp_path, "dsa_two_way")
    assert (ax2.get_xlabel(), ax2.get_ylabel()) == ("rr", "c_lamivudine")
    assert {t.get_text() for t in ax2.texts} == set(tw["optimal"])


def test_voi_evppi_table(tmp_path):
    if not hasattr(voi, "evppi"):
        pytest.skip("sim.voi.evppi not available")
    rng = np.random.default_rng(3)
    n = 150
    x = rng.normal(size=(n, 2))
    c = np.column_stack([np.full(n, 1000.0), 1500 + 300 * x[:, 0]])
    e = np.column_stack([np.full(n, 1.0), 1.02 + 0.02 * x[:, 1]])
    table = voi.evppi(c, e, [20_000, 30_000], pd.DataFrame(x, columns=["a", "b"]), ["a", "b"], n_sim=20)
    ax = plots.evppi(table, wtp=30_000)
    render(ax, tmp_path, "voi_evppi")
    assert sorted(t.get_text() for t in ax.get_yticklabels()) == ["a", "b"]


# ---------------------------------------------------------------------------- bad input
def _missing_cases():
    rng = np.random.default_rng(1)
    c = rng.normal(1000, 100, (50, 2))
    e = rng.normal(1, 0.1, (50, 2))
    plane = decision.ce_plane(c, e)
    curves = decision.ceac(c, e, WTP)
    frontier = decision.ceaf(c, e, WTP)
    loss = decision.expected_loss(c, e, WTP)
    ev = voi.evpi(c, e, WTP)
    trace_df = pd.DataFrame({"draw": 0, "strategy": "a", "cycle": [0, 1], "state": "H", "share": 1.0})
    return [
        ("ce_plane", lambda t: plots.ce_plane(t), plane, "inc_cost", "sim.decision.ce_plane"),
        ("ceac", lambda t: plots.ceac(t), curves, "probability", "sim.decision.ceac"),
        ("ceaf", lambda t: plots.ceac(curves, frontier=t), frontier, "strategy", "sim.decision.ceaf"),
        ("expected_loss", lambda t: plots.expected_loss(t), loss, "expected_loss",
         "sim.decision.expected_loss"),
        ("evpi", lambda t: plots.evpi(t), ev, "evpi", "sim.voi.evpi"),
        ("evppi", lambda t: plots.evppi(t), evppi_table(), "se", "sim.voi.evppi"),
        ("tornado", lambda t: plots.tornado(t), tornado_table(), "outcome_high", "sim.dsa.one_way"),
        ("two_way", lambda t: plots.two_way(t), two_way_grid(), "outcome", "sim.dsa.two_way"),
        ("trace", lambda t: plots.trace(t), trace_df, "share", "trace=True"),
        ("survival", lambda t: plots.survival(t, dead_states="H"), trace_df, "cycle", "trace=True"),
    ]


@pytest.mark.parametrize("case", _missing_cases(), ids=lambda case: case[0])
def test_missing_column_names_it_and_the_producer(case):
    _, call, table, column, producer = case
    with pytest.raises(HtaError) as err:
        call(table.drop(columns=column))
    msg = str(err.value)
    assert f"no column {column!r}" in msg
    assert producer in msg


def test_other_bad_input(psa):
    c, e = psa
    with pytest.raises(HtaError, match="expected a DataFrame"):
        plots.ceac(np.zeros((3, 3)))
    with pytest.raises(HtaError, match="empty"):
        plots.ce_plane(decision.ce_plane(c[:, :1], e[:, :1]))
    bad = decision.ceac(c, e, WTP, NAMES).assign(probability="high")
    with pytest.raises(HtaError, match="'probability' must be numeric"):
        plots.ceac(bad)
    nan = decision.expected_loss(c, e, WTP, NAMES)
    nan.loc[3, "expected_loss"] = np.nan
    with pytest.raises(HtaError, match="'expected_loss' has the non-finite value nan in row 3"):
        plots.expected_loss(nan)
    with pytest.raises(HtaError, match="willingness to pay"):
        plots.ce_plane(decision.ce_plane(c, e, NAMES), wtp=-1)


# ---------------------------------------------------------------------------- readability (issue 13)
def _tick_texts(axis) -> list[str]:
    """The texts of the tick labels shown (inside the axis' view)."""
    axis.figure.canvas.draw()
    lo, hi = sorted(axis.get_view_interval())
    return [t.get_text() for t, loc in zip(axis.get_ticklabels(), axis.get_ticklocs(), strict=True)
            if t.get_visible() and t.get_text() and lo <= loc <= hi]


def _overlaps(ax) -> list[tuple[str, str]]:
    """Pairs of visible tick labels (x axis, y axis) whose rendered boxes overlap."""
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    found = []
    for axis in (ax.xaxis, ax.yaxis):
        lo, hi = axis.get_view_interval()
        labels = [t for t, loc in zip(axis.get_ticklabels(), axis.get_ticklocs(), strict=True)
                  if t.get_visible() and t.get_text() and min(lo, hi) <= loc <= max(lo, hi)]
        boxes = [t.get_window_extent(renderer) for t in labels]
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                if boxes[i].overlaps(boxes[j]):
                    found.append((labels[i].get_text(), labels[j].get_text()))
    return found


def test_compact_numbers():
    from sim.plots._common import compact

    assert [compact(x) for x in (0, 250, 2500, 100_000, 125_000, 1_500_000, 2e9, -50_000)] == \
        ["0", "250", "2.5k", "100k", "125k", "1.5M", "2B", "-50k"]


def test_willingness_to_pay_ticks_are_compact_and_apart(psa):
    c, e = psa
    wide = np.linspace(0, 200_000, 101)
    curves = decision.ceac(c, e, wide, NAMES)
    curves.attrs.update(currency="USD 2023", effect_unit="QALYs")
    ax = plots.ceac(curves, frontier=decision.ceaf(c, e, wide, NAMES), wtp=100_000)
    ticks = _tick_texts(ax.xaxis)
    assert ticks == ["0", "50k", "100k", "150k", "200k"], ticks
    assert len(ticks) <= 7 and not _overlaps(ax)
    assert ax.get_xlabel() == "Willingness to pay per QALY (USD 2023)"


def test_ceac_and_evpi_mark_the_threshold(psa):
    c, e = psa
    curves = decision.ceac(c, e, WTP, NAMES)
    curves.attrs.update(currency="GBP", effect="qaly")
    ax = plots.ceac(curves, wtp=20_000)
    marks = [ln for ln in ax.lines if ln.get_gid() == "threshold"]
    assert len(marks) == 1 and list(marks[0].get_xdata()) == [20_000, 20_000]
    assert "threshold GBP 20k per QALY" in [t.get_text() for t in ax.get_legend().get_texts()]
    ev = voi.evpi(c, e, WTP)
    ev.attrs.update(currency="GBP", effect="qaly")
    ax2 = plots.evpi(ev, wtp=[20_000, 30_000])
    assert [ln.get_xdata()[0] for ln in ax2.lines if ln.get_gid() == "threshold"] == [20_000, 30_000]
    assert ax2.get_ylabel() == "EVPI per person (GBP)" and ax2.get_xlabel() == "Willingness to pay per QALY (GBP)"
    assert not plots.ceac(curves).get_lines()[-1].get_gid()  # no threshold unless asked for


@pytest.mark.parametrize("scale", [1.0, 20.0, 1e3])
def test_no_overlapping_tick_labels(psa, scale):
    c, e = psa
    c = c * scale
    wtp = np.linspace(0, 60_000 * scale, 61)
    plane = decision.ce_plane(c, e, NAMES)
    for ax in (plots.ce_plane(plane, wtp=30_000 * scale), plots.ceac(decision.ceac(c, e, wtp, NAMES), wtp=[wtp[20]]),
               plots.evpi(voi.evpi(c, e, wtp), wtp=wtp[30])):
        assert not _overlaps(ax), (ax.get_title(), _overlaps(ax))
        for axis in (ax.xaxis, ax.yaxis):
            assert all(len(t) <= 6 for t in _tick_texts(axis)), _tick_texts(axis)


def test_tornado_labels_from_descriptions():
    table = tornado_table()
    labels = {"p_sick": "Annual probability of falling sick\np_sick = 0.05 (0.03 to 0.08)"}
    ax = plots.tornado(table, labels=labels)
    ticks = [t.get_text() for t in ax.get_yticklabels()]
    assert labels["p_sick"] in ticks and "hr_new" in ticks  # a parameter without a label keeps its name


def test_palette_is_okabe_ito(psa):
    from sim.plots._common import PALETTE

    c, e = psa
    ax = plots.ceac(decision.ceac(c, e, WTP, NAMES))
    colours = [matplotlib.colors.to_hex(ln.get_color()).upper() for ln in ax.lines[:3]]
    assert colours == [p.upper() for p in PALETTE[:3]]


def test_two_way_colour_bar_label_is_inside_the_figure(tmp_path):
    grid = two_way_grid()
    grid.attrs["outcome"] = "Incremental net monetary benefit of CABG vs OMT at USD 100,000 per QALY (USD 2023)"
    ax = plots.two_way(grid)
    fig = ax.figure
    fig.savefig(tmp_path / "tw.png", dpi=80)  # no bbox_inches: the label must fit the figure as laid out
    renderer = fig.canvas.get_renderer()
    bar = fig.axes[1]
    box = bar.yaxis.label.get_window_extent(renderer)
    width, height = fig.bbox.width, fig.bbox.height
    assert box.x0 >= 0 and box.x1 <= width and box.y0 >= 0 and box.y1 <= height, (box, width, height)
    assert "\n" in bar.get_ylabel()  # wrapped
