"""Visual predictive checks: percentiles against a direct pandas computation on the same simulated
data, prediction correction (Bergstrand et al. 2011) against its formula and an exact identity,
stratification against the VPC of the subset, the LLOQ rules, and coverage under the true model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from simulation_helpers import rich_data, rich_result

from estimation.binning import assign_bins, bin_edges
from estimation.simulation import simulate_replicates
from estimation.vpc import vpc

PCT = (5.0, 50.0, 95.0)


@pytest.fixture(scope="module")
def sims() -> pd.DataFrame:
    return simulate_replicates(rich_result(), 100, seed=1)


def _observed() -> pd.DataFrame:
    data = rich_data()
    obs = data[(data["EVID"] == 0) & (data["MDV"] == 0)].copy()
    obs["ROW"] = obs.index + 1
    return obs


def _direct(obs: pd.DataFrame, sims: pd.DataFrame, edges: np.ndarray, value: str = "DV",
            ci: float = 0.95) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Observed percentiles per bin and the (lo, median, hi) of the simulated ones, by pandas."""
    obs = obs.assign(bin=assign_bins(obs["TIME"].to_numpy(), edges) + 1)
    sims = sims.assign(bin=assign_bins(sims["TIME"].to_numpy(), edges) + 1)
    q = [p / 100 for p in PCT]
    observed = obs.groupby("bin")[value].quantile(q).unstack()
    per_rep = sims.groupby(["bin", "REP"])[value].quantile(q).unstack()
    band = per_rep.groupby(level="bin").quantile([(1 - ci) / 2, 0.5, (1 + ci) / 2])
    return observed, band


def _table(df: pd.DataFrame, column: str) -> np.ndarray:
    return df.pivot(index="bin", columns="percentile", values=column).to_numpy()


@pytest.mark.parametrize("bins", ["time", "quantile", (0.0, 1.0, 2.5, 6.0)])
def test_percentiles_match_direct_computation(sims: pd.DataFrame, bins) -> None:
    check = vpc(rich_result(), simulations=sims, bins=bins, n_bins=5 if isinstance(bins, str) else None)
    obs = _observed()
    edges = np.asarray(check.settings["edges"]["all"])
    np.testing.assert_array_equal(edges, bin_edges(obs["TIME"].to_numpy(), bins, 5 if isinstance(bins, str)
                                                   else None))
    observed, band = _direct(obs, sims, edges)
    np.testing.assert_allclose(_table(check.observed, "value"), observed.to_numpy(), rtol=1e-12)
    for k, column in enumerate(("lo", "median", "hi")):
        np.testing.assert_allclose(_table(check.simulated, column), band.xs(band.index.levels[1][k], level=1),
                                   rtol=1e-12, err_msg=column)
    counts = check.observed.groupby("bin")["n_obs"].first()
    assert counts.sum() == len(obs) and (counts > 0).all()
    mids = check.observed.groupby("bin")["bin_mid"].first()
    np.testing.assert_allclose(mids, check.observations.groupby("bin")["TIME"].mean(), rtol=1e-12)


def test_quantile_bins_hold_equal_counts() -> None:
    times = _observed()["TIME"].to_numpy()
    edges = bin_edges(times, "quantile", 4)
    counts = np.bincount(assign_bins(times, edges))
    assert counts.tolist() == [60, 60, 60, 60]  # 240 distinct times


def test_simulation_is_reproducible_and_reused() -> None:
    a = vpc(rich_result(), n_replicates=50, seed=4, bins="quantile", n_bins=4)
    b = vpc(rich_result(), simulations=simulate_replicates(rich_result(), 50, seed=4), bins="quantile",
            n_bins=4)
    pd.testing.assert_frame_equal(a.simulated, b.simulated)
    assert a.settings["n_replicates"] == 50


def test_prediction_correction_formula(sims: pd.DataFrame) -> None:
    """pcDV = DV * median(PRED in bin) / PRED for observed and simulated values."""
    edges = (0.0, 1.0, 2.5, 6.0)
    check = vpc(rich_result(), simulations=sims, bins=edges, pred_corrected=True)
    obs = _observed().assign(PRED=sims.loc[sims["REP"] == 1, "PRED"].to_numpy())
    edges_ = np.asarray(edges)

    def corrected(df: pd.DataFrame) -> pd.DataFrame:
        b = assign_bins(df["TIME"].to_numpy(), edges_)
        pred_bin = df.groupby(b)["PRED"].transform("median")
        return df.assign(PC=df["DV"] * pred_bin / df["PRED"])

    obs_pc = corrected(obs)
    sims_pc = pd.concat([corrected(g) for _, g in sims.groupby("REP")])
    observed, band = _direct(obs_pc, sims_pc, edges_, value="PC")
    np.testing.assert_allclose(_table(check.observed, "value"), observed.to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(_table(check.simulated, "median"), band.xs(0.5, level=1), rtol=1e-12)
    np.testing.assert_allclose(check.observations["DV"], obs_pc["PC"], rtol=1e-12)


def test_prediction_corrected_typical_predictions_collapse_to_the_bin_prediction() -> None:
    """Exact identity: with DV = PRED (no variability), every pcDV of a bin is PRED_bin, so all
    simulated percentiles and their intervals equal the bin's median PRED (log scale: the same)."""
    result = rich_result()
    typical = simulate_replicates(result, 5, variability="none")
    for log_scale in (False, True):
        check = vpc(result, simulations=typical, bins="quantile", n_bins=4, pred_corrected=True,
                    pc_log_scale=log_scale)
        pred_bin = check.observations.groupby("bin")["PRED"].median()
        for column in ("lo", "median", "hi"):
            got = check.simulated.pivot(index="bin", columns="percentile", values=column)
            np.testing.assert_allclose(got.to_numpy(), np.repeat(pred_bin.to_numpy()[:, None], 3, axis=1),
                                       rtol=1e-12)


def test_prediction_correction_lower_bound_leaves_out_uncorrectable_records(sims: pd.DataFrame) -> None:
    """pcY = lb + (Y - lb)(PRED_bin - lb)/(PRED - lb); records with PRED <= lb are left out."""
    lb = 1.0
    with pytest.warns(UserWarning, match="cannot be corrected"):
        check = vpc(rich_result(), simulations=sims, bins="time", n_bins=3, pred_corrected=True,
                    pc_lower_bound=lb)
    pred = sims.loc[sims["REP"] == 1, "PRED"].to_numpy()
    assert check.settings["n_excluded"] == int((pred <= lb).sum()) > 0
    obs = check.observations
    assert (obs["PRED"] > lb).all()
    raw = _observed().set_index("ROW").loc[obs["ROW"], "DV"].to_numpy()
    pred_bin = obs.groupby("bin")["PRED"].transform("median").to_numpy()
    np.testing.assert_allclose(obs["DV"], lb + (raw - lb) * (pred_bin - lb) / (obs["PRED"] - lb), rtol=1e-12)


def test_stratum_equals_the_vpc_of_the_subset(sims: pd.DataFrame) -> None:
    """Stratifying by GRP gives, per stratum, the VPC of that group's data and simulations alone."""
    result = rich_result()
    check = vpc(result, simulations=sims, stratify="GRP", bins="quantile", n_bins=3, pred_corrected=True)
    assert sorted(check.observed["stratum"].unique()) == [0, 1]
    data = rich_data()
    for grp in (0, 1):
        subset = data[data["GRP"] == grp]
        renumber = dict(zip(subset.index + 1, range(1, len(subset) + 1), strict=True))
        sub_sims = sims[sims["GRP"] == grp]
        sub_sims = sub_sims.assign(ROW=sub_sims["ROW"].map(renumber))
        alone = vpc(result, data=subset.reset_index(drop=True), simulations=sub_sims, bins="quantile",
                    n_bins=3, pred_corrected=True)
        for name in ("simulated", "observed"):
            mine = getattr(check, name).query("stratum == @grp").drop(columns="stratum")
            theirs = getattr(alone, name).drop(columns="stratum")
            pd.testing.assert_frame_equal(mine.reset_index(drop=True), theirs, check_exact=False, rtol=1e-12)


def test_lloq_fractions_and_censored_percentiles(sims: pd.DataFrame) -> None:
    """Fraction below the LLOQ per bin (observed and simulated, direct count); an observed percentile
    is NaN exactly when its rank (n - 1) p / 100 falls among the n_blq lowest-ranked BLQ values."""
    lloq = 1.0
    edges = (0.0, 1.0, 2.5, 4.0, 6.0)
    check = vpc(rich_result(), simulations=sims, bins=edges, lloq=lloq)
    obs = _observed()
    b = assign_bins(obs["TIME"].to_numpy(), np.asarray(edges)) + 1
    blq = (obs["DV"] < lloq).to_numpy()
    np.testing.assert_allclose(check.blq["observed"], pd.Series(blq).groupby(b).mean(), rtol=1e-12)
    sb = assign_bins(sims["TIME"].to_numpy(), np.asarray(edges)) + 1
    frac = (sims["DV"] < lloq).groupby([sb, sims["REP"]]).mean()
    np.testing.assert_allclose(check.blq["median"], frac.groupby(level=0).median(), rtol=1e-12)
    assert check.blq["observed"].iloc[-1] > 0.05  # the late bins are partly censored
    for (bin_, p), row in check.observed.set_index(["bin", "percentile"]).iterrows():
        values = obs["DV"].to_numpy()[b == bin_]
        n, n_blq = values.size, int((values < lloq).sum())
        censored = (n - 1) * p / 100 < n_blq
        assert np.isnan(row["value"]) == censored, (bin_, p)
        if not censored:
            assert row["value"] == pytest.approx(np.percentile(values, p), rel=1e-12)
            assert row["value"] >= lloq


def test_observed_percentiles_fall_in_the_simulated_intervals_under_the_true_model() -> None:
    """The observed data were simulated from the model: most observed percentiles lie in the 90%
    interval of the simulated ones (fixed seeds; 15 bin-percentile pairs, at least 12 inside)."""
    check = vpc(rich_result(), n_replicates=300, seed=8, bins="quantile", n_bins=5, ci=0.9)
    both = check.observed.merge(check.simulated, on=["stratum", "bin", "percentile"])
    inside = (both["value"] >= both["lo"]) & (both["value"] <= both["hi"])
    assert inside.sum() >= 12, both


def test_nominal_times_are_never_split() -> None:
    """Quantile bins of a nominal design (Wang 2007: 10 samples at 0 and 10 at 1): one bin per time,
    the last one [1, 1]; equal-width bins of the same times."""
    times = np.repeat([0.0, 1.0], 10)
    edges = bin_edges(times, "quantile", 2)
    assert edges.tolist() == [0.0, 1.0, 1.0]
    assert np.bincount(assign_bins(times, edges)).tolist() == [10, 10]
    assert bin_edges(times, "time").tolist() == [0.0, 0.5, 1.0]
    # 5 of 8 samples at 1.0 cover ranks 3 to 7: the third bin would start inside the tie, so 2 bins
    assert bin_edges(np.repeat([0.5, 1.0, 2.0], [2, 5, 1]), "quantile", 3).tolist() == [0.5, 1.0, 2.0]


def test_errors_name_the_problem(sims: pd.DataFrame) -> None:
    result = rich_result()
    with pytest.raises(ValueError, match="outside the bin edges"):
        vpc(result, simulations=sims, bins=(0.5, 6.0))
    with pytest.raises(ValueError, match="no column 'SEX'"):
        vpc(result, simulations=sims, stratify="SEX")
    with pytest.raises(ValueError, match="percentiles must be"):
        vpc(result, simulations=sims, percentiles=(5, 150))
    with pytest.raises(ValueError, match="ci must be"):
        vpc(result, simulations=sims, ci=95)
    with pytest.raises(ValueError, match="bins must be one of"):
        vpc(result, simulations=sims, bins="kmeans")
    with pytest.raises(ValueError, match="simulations need columns"):
        vpc(result, simulations=sims.drop(columns="PRED"))
