"""Diagnostic figures on theo_sd (FOCE-I, additive error; one fit for the module).

Each figure is checked for what it draws: the plotted points are the fit's numbers
(exactly), reference lines are where they must be, and the LOESS smoother reproduces R's
``loess`` (``tests/data/scripts/loess_cars.R``) to 1e-9.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fitted_theo_sd import theo_sd_focei
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from estimation.data import example_path, read_nonmem
from estimation.plots import (
    diagnostic_figures,
    eta_covariate_plot,
    eta_distribution_plot,
    gof_plot,
    individual_plot,
    subject_pages,
    trace_plot,
    vpc_plot,
)
from estimation.plots.style import loess
from estimation.results import FitResult

DATA = Path(__file__).resolve().parents[1] / "data"
NLMIXR2_FOCEI_OFV = 116.8038  # nlmixr2 FOCEi on theo_sd (tests/data/PROVENANCE.md)
THEO_WT_SUBJECT_1 = 79.6  # body weight of subject 1 in R's Theoph


@pytest.fixture(scope="module")
def result() -> FitResult:
    return theo_sd_focei()


def points(ax: object) -> np.ndarray:
    """The (x, y) of the first scatter of an axes."""
    scatter = next(c for c in ax.collections if isinstance(c, PathCollection))  # type: ignore[attr-defined]
    return np.asarray(scatter.get_offsets())


def line(ax: object, label: str) -> Line2D:
    return next(li for li in ax.get_lines() if li.get_label() == label)  # type: ignore[attr-defined]


# ------------------------------------------------------------------ smoother
def test_loess_reproduces_r_loess_on_cars() -> None:
    cars = pd.read_csv(DATA / "cars_R.csv")
    reference = pd.read_csv(DATA / "loess_cars_R.csv")
    grid, fitted = loess(cars["speed"].to_numpy(), cars["dist"].to_numpy(), n_grid=len(reference))
    np.testing.assert_allclose(grid, reference["speed"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(fitted, reference["fitted"], rtol=1e-9)


def test_loess_reproduces_a_straight_line() -> None:
    x = np.random.default_rng(3).uniform(0, 10, 40)
    grid, fitted = loess(x, 0.5 - 3 * x)
    np.testing.assert_allclose(fitted, 0.5 - 3 * grid, atol=1e-10)


# ---------------------------------------------------------------------- GOF
def test_gof_panels_plot_the_table(result: FitResult) -> None:
    fig = gof_plot(result)
    assert isinstance(fig, Figure) and len(fig.axes) == 4
    table = result.table
    expected = [("PRED", "DV"), ("IPRED", "DV"), ("TIME", "CWRES"), ("PRED", "CWRES")]
    for ax, (x, y) in zip(fig.axes, expected, strict=True):
        assert (ax.get_xlabel(), ax.get_ylabel()) == (x, y)
        np.testing.assert_array_equal(points(ax), table[[x, y]].to_numpy())
        assert line(ax, "LOESS").get_xdata().size == 100
    for ax in fig.axes[:2]:  # identity line y = x, and equal axes
        identity = line(ax, "identity")
        np.testing.assert_array_equal(identity.get_xdata(), identity.get_ydata())
        assert ax.get_xlim() == ax.get_ylim()
    for ax in fig.axes[2:]:  # residual reference lines at 0 and +/-2
        levels = sorted(li.get_ydata()[0] for li in ax.get_lines() if li.get_label().startswith("_"))
        assert levels == [-2.0, 0.0, 2.0]
    assert "FOCE-I" in fig._suptitle.get_text()


def test_gof_log_axes_keep_positive_points_only(result: FitResult) -> None:
    fig = gof_plot(result, log=True)
    positive = (result.table["PRED"] > 0) & (result.table["DV"] > 0)
    assert fig.axes[0].get_xscale() == "log"
    assert len(points(fig.axes[0])) == int(positive.sum()) < len(result.table)


# -------------------------------------------------------------- individuals
def test_individual_fits_one_panel_per_subject(result: FitResult) -> None:
    assert subject_pages(result) == [list(range(1, 13))]
    assert [len(p) for p in subject_pages(result, per_page=5)] == [5, 5, 2]
    fig = individual_plot(result)
    assert [ax.get_title() for ax in fig.axes] == [f"ID {i}" for i in range(1, 13)]
    rows = result.table[result.table["ID"] == 7].sort_values("TIME")
    ax = fig.axes[6]
    for label, column in (("observed", "DV"), ("IPRED", "IPRED"), ("PRED", "PRED")):
        np.testing.assert_array_equal(line(ax, label).get_ydata(), rows[column].to_numpy())
    small = individual_plot(result, ids=[3, 1], ncols=4)
    assert [ax.get_title() for ax in small.axes] == ["ID 3", "ID 1"]


def test_individual_plot_rejects_unknown_subjects(result: FitResult) -> None:
    with pytest.raises(ValueError, match=r"no subject\(s\) \[99\]"):
        individual_plot(result, ids=[1, 99])


# --------------------------------------------------------------------- etas
def test_eta_distributions_are_normalised_with_shrinkage_in_titles(result: FitResult) -> None:
    fig = eta_distribution_plot(result)
    assert [ax.get_xlabel() for ax in fig.axes] == ["eta_ka", "eta_cl", "eta_v"]
    for ax, name in zip(fig.axes, ["eta_ka", "eta_cl", "eta_v"], strict=True):
        bars = ax.patches
        area = sum(b.get_height() * b.get_width() for b in bars)
        assert area == pytest.approx(1.0, rel=1e-12)  # a density histogram
        density = line(ax, r"N(0, $\omega^2$)")
        x, y = density.get_xdata(), density.get_ydata()
        sd = np.sqrt(result.omega[name])
        assert y.max() == pytest.approx(1 / (sd * np.sqrt(2 * np.pi)), rel=1e-3)  # N(0, omega) at 0
        assert np.trapezoid(y, x) == pytest.approx(1.0, abs=1e-3)
        assert f"shrinkage {result.eta_shrinkage[name]:.1f}%" in ax.get_title()


def test_eta_against_weight(result: FitResult) -> None:
    fig = eta_covariate_plot(result)
    assert len(fig.axes) == 3 and {ax.get_xlabel() for ax in fig.axes} == {"WT"}
    xy = points(fig.axes[1])  # eta_cl against WT
    assert xy[0, 0] == THEO_WT_SUBJECT_1
    np.testing.assert_array_equal(xy[:, 1], result.etas["eta_cl"].to_numpy())


def test_categorical_covariate_gives_box_plots(result: FitResult) -> None:
    frame = read_nonmem(example_path("theo_sd")).to_dataframe().reset_index(drop=True)
    frame["SEX"] = (frame["ID"] % 2).astype(float)  # a two-level covariate
    with_sex = dataclasses.replace(result, data=read_nonmem(frame))
    fig = eta_covariate_plot(with_sex, ["SEX"])
    medians = [li.get_ydata()[0] for li in fig.axes[0].get_lines() if li.get_color() == "C1"]
    etas = result.etas.set_index("ID")["eta_ka"]
    expected = [etas[etas.index % 2 == level].median() for level in (0, 1)]
    np.testing.assert_allclose(medians, expected, rtol=1e-12)
    with pytest.raises(ValueError, match=r"no covariate\(s\) \['AGE'\]"):
        eta_covariate_plot(result, ["AGE"])


# ------------------------------------------------------------------- traces
def test_trace_plot_shows_the_ofv_history(result: FitResult) -> None:
    fig = trace_plot(result)
    ofv = line(fig.axes[0], "_child0")
    np.testing.assert_array_equal(ofv.get_ydata(), [h[1] for h in result.history])
    assert ofv.get_ydata()[-1] == pytest.approx(NLMIXR2_FOCEI_OFV, abs=0.05)


def test_trace_plot_shows_saem_parameter_traces(result: FitResult) -> None:
    iterations = np.arange(1, 11)
    traces = pd.DataFrame({"iteration": iterations, "phase": ["exploration"] * 6 + ["smoothing"] * 4,
                           "tcl": np.linspace(0.5, 1.0, 10), "omega(eta_cl)": np.linspace(1, 0.07, 10)})
    fig = trace_plot(dataclasses.replace(result, traces=traces))
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == ["FOCE-I objective", "tcl", "omega(eta_cl)"]
    final = [li for li in visible[1].get_lines() if li.get_linestyle() == "--"][0]
    assert final.get_ydata()[0] == result.theta["tcl"]  # the final estimate as reference
    assert [t.get_text().strip() for t in visible[2].texts] == ["exploration", "smoothing"]


# ---------------------------------------------------------------------- VPC
def test_vpc_and_pcvpc_plot_the_check(result: FitResult) -> None:
    from estimation.vpc import vpc

    check = vpc(result, n_replicates=20, seed=1, lloq=1.0)
    fig = vpc_plot(check)
    assert len(fig.axes) == 2  # percentiles, then the fraction below the LLOQ
    ax = fig.axes[0]
    median = check.observed[check.observed["percentile"] == 50].sort_values("bin_mid")
    np.testing.assert_array_equal(line(ax, "observed 50th").get_ydata(), median["value"].to_numpy())
    np.testing.assert_array_equal(points(ax), check.observations[["TIME", "DV"]].to_numpy())
    blq = check.blq.sort_values("bin_mid")
    np.testing.assert_array_equal(line(fig.axes[1], "observed").get_ydata(), blq["observed"].to_numpy())
    with pytest.warns(UserWarning, match="PRED <= 0"):  # the 12 pre-dose samples (PRED = 0)
        pc = vpc_plot(vpc(result, n_replicates=20, seed=1, pred_corrected=True))
    assert pc.axes[0].get_ylabel() == "prediction-corrected DV"
    assert pc._suptitle.get_text().startswith("pcVPC")


def test_diagnostic_figures_names(result: FitResult) -> None:
    figures = diagnostic_figures(result)
    assert list(figures) == ["gof", "individuals_1", "eta_distributions", "eta_covariates", "traces"]
    assert all(isinstance(f, Figure) for f in figures.values())
