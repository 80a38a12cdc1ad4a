"""Realistic small study designs for simulate-then-estimate tests of every library model.

:func:`design` gives, for a library model, a NONMEM-format design (doses, sampling
times, a DVID column for joint PK/PD data, a DOSE covariate where the model needs one)
chosen from the model's structure and tags: the dose route and form follow the
model's dosing compartments, the sampling times its time scale, and nonlinear models
get several dose levels (saturation, target binding). PK/PD models are observed in both
outputs and TMDD models in all three (free drug, total target, total drug), told apart by DVID.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from estimation.population import PopulationModel
from model_library import get, list_models

PK_TIMES = [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 12.0, 24.0, 48.0]
TIMES = {
    "1cmt": PK_TIMES,
    # 2-cmt (library defaults: alpha half-life ~4 h, beta ~25 h): dense over the distribution
    # phase (1-16 h), which alone informs Q, and the terminal phase to ~5 beta half-lives
    "2cmt": [0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 10.0, 12.0, 16.0, 24.0, 36.0, 48.0, 72.0, 96.0,
             120.0],
    "3cmt": [0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 12.0, 24.0, 48.0, 96.0, 168.0, 240.0, 336.0],
    # transit: every 15-30 min over the delayed rise (its shape is all that tells KA from MTT),
    # then elimination over 4 half-lives (t1/2 12 h). transit_analytic_1cmt also estimates NTR:
    # with KA = 1/h next to KTR = 2/h no realistic design separates KA from MTT (expected SE of
    # log KA with 100 subjects 0.12; 0.11 with 19 samples, 0.08 with 200 subjects), hence its
    # default KA = 0.3/h (SE 0.037, MTT 0.024, NTR 0.032 with 100 subjects on these times)
    "transit": [0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 12.0, 24.0, 36.0, 48.0],
    # TMDD (KON * R0 0.5/h, KINT 0.02/h, KDEG 0.05/h, linear half-life 42 h): every 0.5-4 h over
    # the binding phase (KON apart from KSS), then over the target-mediated decline and the
    # accumulation and return of total target (peak 24-96 h, baseline again by 336 h)
    "tmdd": [0.5, 1.0, 2.0, 4.0, 8.0, 12.0, 24.0, 48.0, 72.0, 96.0, 168.0, 240.0, 336.0],
    # Michaelis-Menten (KM 2 mg/L, VM / V 0.29 mg/L/h): every subject goes from saturation
    # (C0 14-29 mg/L, a near-linear decline whose slope is VM / V) through C ~ KM (36-96 h) to the
    # linear tail (C << KM, rate VM / KM / V): each profile informs KM, not only the dose contrast
    "michaelis-menten": [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 12.0, 24.0, 36.0, 48.0, 60.0, 72.0, 84.0, 96.0,
                         120.0, 144.0],
    # mixed elimination: the same idea, every 12 h over the passage through KM of the low dose
    # (36-60 h) and of the high dose (120-168 h); the linear pathway (CL 1 L/h, a tenth of VM / KM)
    # shows only at C >> KM
    "mixed-elimination": [0.25, 1.0, 4.0, 12.0, 24.0, 36.0, 48.0, 60.0, 72.0, 84.0, 96.0, 108.0, 120.0,
                          144.0, 168.0],
}
PD_TIMES = {
    "direct": [0.25, 1.0, 2.0, 4.0, 8.0, 12.0, 24.0],
    # turnover (KOUT 0.2/h, response half-life 3.5 h; drug half-life 12 h): baseline, the onset
    # every 1-4 h, the maximum response (12-40 h at the three doses) and the return to baseline
    # (about 96 h after the highest dose, whose concentration reaches IC50 / EC50 at ~66 h)
    "idr": [0.0, 1.0, 2.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0, 32.0, 40.0, 48.0, 60.0, 72.0, 96.0],
    # myelosuppression (MTTPD 90 h): baseline, every 2 days over the fall to the nadir (day 7-8)
    # and the rebound above baseline (day 12-18), then the return to baseline by day 28
    "friberg": [0.0, 48.0, 96.0, 144.0, 192.0, 240.0, 288.0, 336.0, 408.0, 504.0, 672.0],
}
PKPD_PK_TIMES = [0.25, 1.0, 4.0, 12.0, 24.0]


@dataclass(frozen=True)
class Design:
    """A design and how to fit it."""

    data: pd.DataFrame
    output_column: str | None


def _dose_levels(model: PopulationModel, tags: tuple[str, ...]) -> list[float]:
    if "tmdd" in tags:
        # nmol (V 3 L): C0 3.3, 33 and 333 nM, from below the target (R0 10 nM), where binding
        # takes most of the drug, to 33-fold R0 (saturated); free drug, total target and total
        # drug measured in every sample (DVID 1-3). Expected SE of the log typical values with
        # 50 subjects (FO Fisher information, Omega and sigmas estimated too): full model CL 0.030,
        # V 0.025, KON 0.027, KOFF 0.036, KINT 0.006, KDEG 0.017, R0 0.027; QSS model CL 0.030,
        # V 0.025, KSS 0.016, KINT 0.007, KDEG 0.018, R0 0.027. Free drug alone: up to 0.09 (KDEG,
        # full) and 0.11 (R0, QSS); free drug and total target: KOFF 0.051, KON 0.044 (full);
        # 30, 100, 300 and 1000 nmol (none below R0): KOFF 0.051, KON 0.047.
        return [10.0, 100.0, 1000.0]
    if "mixed-elimination" in tags:
        # mg: C0 = 7 and 70 KM; only concentrations far above KM, where the saturable part is
        # capped at VM, tell the linear CL from VM / KM (expected SE of log KM with 100 subjects
        # 0.046, of log VM and log CL 0.03; with 1000 and 3000 mg, 0.065 for KM and 0.05 for CL)
        return [1000.0, 10000.0]
    if "michaelis-menten" in tags:
        # mg: C0 = 7 and 14 KM, down to C << KM within the sampling (see TIMES); lower doses
        # (C0 < KM) add little, their profile sinks under the additive error within a day
        # (expected SE of log KM with 100 subjects 0.032; with 100, 300 and 1000 mg to 48 h, 0.085)
        return [1000.0, 2000.0]
    if "friberg" in tags:
        # mg: C0 2.9 and 5.7 mg/L (drug effect SLOPE * C up to 0.9 and 1.7): nadirs of 40% and
        # 64% below baseline (ANC 3.0 and 1.8); the two depths inform the feedback GAMMA
        return [200.0, 400.0]
    if any(t.startswith("idr") for t in tags):
        # mg: C0 0.4, 4.3 and 43 mg/L, from below to far above IC50 / EC50 (1 mg/L): the
        # response from a fraction of its maximum to its plateau (IMAX / EMAX apart from IC50)
        return [30.0, 300.0, 3000.0]
    if "pkpd" in tags:
        return [100.0]
    if "3cmt" in tags:
        return [1000.0]   # the deep compartment's terminal phase well above the additive error
    # concentrations well above the additive error (the ACOP-based defaults have add_sd = 1 mg/L)
    add_sd = dict(zip(model.space.sigma_names, model.space.sigma_init, strict=True)).get("add_sd", 0.0)
    if add_sd >= 0.5:
        return [10000.0]
    if "2cmt" in tags or "transit" in tags:
        # 100 mg leaves the 2-cmt terminal phase (72-120 h) and the early transit rise within a
        # few add_sd (0.05 mg/L) of zero: these phases carry V2, Q and KA vs MTT
        return [1000.0]
    return [100.0]


def _times(tags: tuple[str, ...]) -> list[float]:
    keys = ("tmdd", "mixed-elimination", "michaelis-menten", "transit", "3cmt", "2cmt")
    times = next((TIMES[key] for key in keys if key in tags), TIMES["1cmt"])
    if "parallel" in tags:
        # the fast first-order part (KA 2/h) is absorbed within ~1.5 h: sample it every 15-30 min;
        # bracket the end of the zero-order part (D2 = 6 h) without sampling at it (see below)
        times = [0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 7.0, 8.0, 12.0, 24.0, 36.0, 48.0]
    elif "zero-order-absorption" in tags:
        # bracket the end of the zero-order input (D1 = 2 h, Cmax) but not at it: there the
        # prediction has a kink in D1, so the objective is not smooth (as ALAG1 below)
        times = sorted({t for t in times if t != 2.0} | {1.5, 2.5, 3.0})
    if "iv" in tags and "2cmt" in tags:
        times = [5 / 60, *times]   # 5 min after the bolus: C0, i.e. V1, apart from distribution
    if "lag" in tags:
        # samples after the lag time only: the objective is not smooth in ALAG1 at a sample time
        times = [0.75] + [t for t in times if t > 0.75]
    return times


def design(name: str, n_subjects: int = 40) -> Design:
    """The simulate-then-estimate design of library model ``name``.

    Examples
    --------
    >>> design("oral_1cmt").data.query("EVID == 1").CMT.unique().tolist()
    [1]
    """
    model = get(name)
    tags = next(i.tags for i in list_models() if i.name == name)
    structure = model.structure
    cmt = {c: i + 1 for i, c in enumerate(structure.compartment_names)}
    levels = _dose_levels(model, tags)
    pkpd = "pkpd" in tags
    tmdd = "tmdd" in tags   # free drug, total target and total drug, DVID 1-3, in every sample
    by_dvid = pkpd or tmdd
    rows: list[dict[str, float]] = []
    for i in range(1, n_subjects + 1):
        amt = levels[(i - 1) % len(levels)]
        base = {"ID": i, "DV": 0.0, "MDV": 1, "EVID": 1, "TIME": 0.0, "RATE": 0.0, "AMT": amt}
        extra = {"DOSE": amt} if "DOSE" in model.covariate_names else {}
        if by_dvid:
            extra["DVID"] = 1
        dosed = [d.compartment for d in structure.dosing]
        if "parallel" in tags:
            rows.append({**base, **extra, "CMT": cmt["depot"]})
            rows.append({**base, **extra, "CMT": cmt["central"], "RATE": -2.0})
        elif "zero-order-absorption" in tags:
            rows.append({**base, **extra, "CMT": cmt["central"], "RATE": -2.0})
        else:
            first = dosed[0]
            rate = amt / 1.0 if name in ("infusion_1cmt", "iv_3cmt") else 0.0
            rows.append({**base, **extra, "CMT": cmt[first], "RATE": rate})
        obs = {"ID": i, "DV": 0.0, "MDV": 0, "EVID": 0, "AMT": 0.0, "RATE": 0.0, "CMT": cmt["central"],
               **extra}
        if pkpd:
            kind = "friberg" if "friberg" in tags else "idr" if any(t.startswith("idr") for t in tags) \
                else "direct"
            samples = [(t, 1) for t in PKPD_PK_TIMES] + [(t, 2) for t in PD_TIMES[kind]]
            for t, dvid in sorted(samples):
                rows.append({**obs, "TIME": t, "DVID": dvid})
        elif tmdd:
            dvids = range(1, len(structure.output_names) + 1)
            rows.extend({**obs, "TIME": t, "DVID": dvid} for t in _times(tags) for dvid in dvids)
        else:
            rows.extend({**obs, "TIME": t} for t in _times(tags))
    data = pd.DataFrame(rows)
    return Design(data, "DVID" if by_dvid else None)


def typical_values(model: PopulationModel, thetas: dict[str, float]) -> dict[str, float]:
    """Natural-scale typical value of every theta: exp, or expit for logit-scale fractions."""
    out = {}
    for name, value in thetas.items():
        fraction = any(expr.startswith("expit(") and re.search(rf"\b{name}\b", expr)
                       for expr in model.parameters.values())
        out[name] = float(1 / (1 + np.exp(-value))) if fraction else float(np.exp(value))
    return out
