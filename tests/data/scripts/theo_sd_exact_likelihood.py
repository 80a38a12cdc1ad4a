"""Exact marginal likelihood of theo_sd by tensor-grid quadrature (numpy only, no popkin).

Model (the nlmixr2 reference): one compartment, first-order absorption, ka = exp(tka + eta_ka),
cl = exp(tcl + eta_cl), v = exp(tv + eta_v), diagonal Omega, additive error. For each subject
the integral over eta of p(y | eta) N(eta; 0, Omega) is computed on an 81^3 grid spanning
+-8 posterior SDs around the posterior mean (found by two coarser passes); the OFV is
-2 log L without the N_obs log(2 pi) constant (NONMEM convention).

Run from the repository root: ``python tests/data/scripts/theo_sd_exact_likelihood.py``;
it writes ``tests/data/theo_sd_exact_ofv.csv`` for the parameters below (nlmixr2 2.x AGQ
estimates of ``theo_sd_nlmixr2qual_fits.csv``: the exact-likelihood maximum, nlmixr2 reports
OFV 118.48 there with its adaptive Gauss-Hermite approximation; and the FOCE-I estimates).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parents[1]
PARAMETERS = {
    "nlmixr2_agq": (0.457676, 1.011656, 3.453295, 0.398208, 0.070607, 0.018198, 0.695935),
    "nlmixr2_focei": (0.464451, 1.012047, 3.459973, 0.404625, 0.068796, 0.019222, 0.693839),
}


def subject_ofv(t: np.ndarray, y: np.ndarray, dose: float, params: tuple[float, ...]) -> float:
    tka, tcl, tv, oka, ocl, ov, sd = params

    def log_post(e1: np.ndarray, e2: np.ndarray, e3: np.ndarray) -> np.ndarray:
        ka, cl, v = (np.exp(tka + e1)[..., None], np.exp(tcl + e2)[..., None], np.exp(tv + e3)[..., None])
        k = cl / v
        f = dose * ka / (v * (ka - k)) * (np.exp(-k * t) - np.exp(-ka * t))
        ll = -0.5 * np.sum(np.log(sd**2) + (y - f) ** 2 / sd**2, axis=-1)
        prior = -0.5 * (e1**2 / oka + e2**2 / ocl + e3**2 / ov) - 0.5 * np.log(oka * ocl * ov)
        return ll + prior - 1.5 * np.log(2 * np.pi)

    grids = [np.linspace(-6 * np.sqrt(o), 6 * np.sqrt(o), 41) for o in (oka, ocl, ov)]
    for n in (41, 41, 81):
        e = np.meshgrid(*grids, indexing="ij")
        a = log_post(*e)
        w = np.exp(a - a.max())
        w /= w.sum()
        mean = [np.sum(w * x) for x in e]
        sds = [np.sqrt(np.sum(w * (x - m) ** 2)) for x, m in zip(e, mean, strict=True)]
        grids = [np.linspace(m - 8 * s, m + 8 * s, n) for m, s in zip(mean, sds, strict=True)]
    e = np.meshgrid(*grids, indexing="ij")
    a = log_post(*e)
    volume = np.prod([g[1] - g[0] for g in grids])
    return float(-2 * (np.log(np.sum(np.exp(a - a.max())) * volume) + a.max()))


def main() -> None:
    d = pd.read_csv(HERE / "theo_sd.csv")
    rows = []
    for label, params in PARAMETERS.items():
        for sid in sorted(d.ID.unique()):
            s = d[d.ID == sid]
            obs = s[s.EVID == 0]
            dose = float(s[s.EVID == 1].AMT.iloc[0])
            ofv = subject_ofv(obs.TIME.to_numpy(), obs.DV.to_numpy(), dose, params)
            rows.append({"parameters": label, "ID": int(sid), "ofv": ofv})
    out = pd.DataFrame(rows)
    names = ("tka", "tcl", "tv", "eta_ka", "eta_cl", "eta_v", "add_sd")
    for j, name in enumerate(names):
        out[name] = out["parameters"].map({k: v[j] for k, v in PARAMETERS.items()})
    out.to_csv(HERE / "theo_sd_exact_ofv.csv", index=False, float_format="%.8g")
    print(out.groupby("parameters")["ofv"].sum())


if __name__ == "__main__":
    main()
