"""Per-record diagnostics at the estimates: PRED, IPRED, residuals, WRES, CWRES, IWRES,
EBEs with conditional variances, and shrinkage (NONMEM definitions).

- PRED / IPRED: predictions at eta = 0 / at the conditional mode eta_hat.
- RES = DV - PRED, IRES = DV - IPRED, IWRES = IRES / sd(IPRED).
- WRES: first-order weighted residuals, C0^-1/2 (y - f(0)) with
  C0 = G0 Omega G0' + diag(V(0)); with interaction (FOCE-I, Laplace) the
  variance of the residual-error magnitude is added, diag(dsd Omega dsd'),
  dsd = d sd / d eta at 0, which is what NONMEM's WRES column reports then.
- CWRES (Hooker et al. 2007): C^-1/2 (y - f(eta_hat) + G eta_hat) with
  C = G Omega G' + diag(V) at eta_hat (V at eta_hat with interaction).
- C^-1/2 is the inverse of the symmetric square root of C, as NONMEM.
- Eta shrinkage 1 - SD(eta_hat) / omega (SD-based); epsilon shrinkage 1 - SD(IWRES).
Residuals of log-transformed (exponential error) outputs are on the log scale.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import scipy.linalg

from compartments.stored_programs import StoredJit
from estimation.evaluator import Evaluator
from estimation.methods import Method
from estimation.objectives import FOCE_LIKE, SubjectData, SubjectModel, _local_fn

Array = jnp.ndarray


class SubjectDiagnostics(NamedTuple):
    """Per-observation diagnostics of one subject (padded)."""

    pred: Array
    ipred: Array
    iwres: Array
    eta_var: Array
    wres_cov: Array
    wres_res: Array
    cwres_cov: Array
    cwres_res: Array


def _inv_sqrt_times(C: np.ndarray, r: np.ndarray) -> np.ndarray:
    """C^-1/2 r for a batch, with the symmetric square root (SciPy's LAPACK, on the host:
    batched eigendecompositions inside XLA's CPU thread pool can deadlock on 2 cores; NumPy's
    batched ``eigh`` took 7 s for ACOP's 120 58 x 58 matrices next to XLA's threads, one
    ``scipy.linalg.eigh`` per subject 0.1 s)."""
    out = np.empty_like(r)
    for b, (c, rb) in enumerate(zip(C, r, strict=True)):
        w, v = scipy.linalg.eigh(c, driver="evd")
        out[b] = v @ ((v.T @ rb) / np.sqrt(w))
    return out


@lru_cache(maxsize=32)
def _diagnostics_fn(sm: SubjectModel, method: Method):  # type: ignore[no-untyped-def]
    return StoredJit(jax.vmap(subject_diagnostics(sm, method), in_axes=(None, 0, 0)),
                     name="diagnostics.subjects", key=(sm.model, method, sm.options, sm.layout))


def subject_diagnostics(sm: SubjectModel, method: Method):  # type: ignore[no-untyped-def]
    """``(natural, eta_hat, subject) -> SubjectDiagnostics`` (vmap-able)."""

    def diag(natural: Array, eta_hat: Array, subj: SubjectData) -> SubjectDiagnostics:
        _, omega, _ = sm.split(natural)
        zero = jnp.zeros_like(eta_hat)
        mask = subj.mask
        y = sm.moments(natural, subj.dv, subj).y
        loc0 = _local_fn(sm, FOCE_LIKE, natural, subj, None)(zero)
        C0 = loc0.G @ omega @ loc0.G.T + jnp.diag(loc0.var)
        if method.interaction:
            # the residual SD also varies with eta: Var(sd(eta) eps) = sd0^2 + dsd Omega dsd'
            dsd = loc0.dvar / (2 * jnp.sqrt(loc0.var))[:, None]
            C0 = C0 + jnp.diag(jnp.einsum("ik,kl,il->i", dsd, omega, dsd))
        r0 = jnp.where(mask, y - loc0.f, 0.0)
        var0 = None if method.interaction else loc0.var
        cond_method = method if method.conditional else FOCE_LIKE
        loc = _local_fn(sm, cond_method, natural, subj, var0)(eta_hat)
        C = loc.G @ omega @ loc.G.T + jnp.diag(loc.var)
        r = jnp.where(mask, y - loc.f + loc.G @ eta_hat, 0.0)
        ipred_raw = sm.predict(natural, eta_hat, subj)
        ind = sm.moments(natural, ipred_raw, subj)
        iwres = jnp.where(mask, (y - ind.f) / jnp.sqrt(ind.var), 0.0)
        pred_raw = sm.predict(natural, zero, subj)
        eta_var = jnp.linalg.inv(loc.hess)
        return SubjectDiagnostics(pred_raw, ipred_raw, iwres, eta_var, C0, r0, C, r)

    return diag


def compute_diagnostics(
    evaluator: Evaluator, natural: np.ndarray, etas: np.ndarray
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, float], dict[str, float]]:
    """Per-record table, EBE table, eta shrinkage and epsilon shrinkage (percent)."""
    problem = evaluator.problem
    fn = _diagnostics_fn(evaluator.subject_model, evaluator.objective_method)
    d = fn(np.asarray(natural, dtype=float), np.asarray(etas, dtype=float), evaluator.data)
    mask = problem.obs_mask
    space = problem.model.space
    ids = np.repeat(np.asarray(problem.subject_ids, dtype=object), mask.shape[1]).reshape(mask.shape)
    pred, ipred = np.asarray(d.pred), np.asarray(d.ipred)
    table = pd.DataFrame({
        "ROW": problem.obs_row[mask], "ID": ids[mask], "TIME": problem.obs_time[mask],
        "DV": problem.dv[mask], "PRED": pred[mask], "IPRED": ipred[mask],
        "RES": (problem.dv - pred)[mask], "IRES": (problem.dv - ipred)[mask],
        "WRES": _inv_sqrt_times(np.asarray(d.wres_cov), np.asarray(d.wres_res))[mask],
        "CWRES": _inv_sqrt_times(np.asarray(d.cwres_cov), np.asarray(d.cwres_res))[mask],
        "IWRES": np.asarray(d.iwres)[mask],
    })
    if len(problem.model.structure.output_names) > 1:
        names = np.asarray(problem.model.structure.output_names)
        table.insert(3, "OUTPUT", names[problem.obs_output[mask]])
    eta_var = np.asarray(d.eta_var)
    ebe = pd.DataFrame(etas, columns=list(space.eta_names))
    for k, name in enumerate(space.eta_names):
        ebe[f"var({name})"] = eta_var[:, k, k]
    ebe.insert(0, "ID", list(problem.subject_ids))
    _, omega, _ = space.split(np.asarray(natural, dtype=float))
    omega = np.asarray(omega)
    eta_shrink = {
        name: float(100 * (1 - np.std(etas[:, k], ddof=1) / np.sqrt(omega[k, k])))
        if problem.n_subjects > 1 else float("nan")
        for k, name in enumerate(space.eta_names)
    }
    eps_shrink: dict[str, float] = {}
    for k, name in enumerate(problem.model.structure.output_names):
        sel = mask & (problem.obs_output == k)
        if sel.sum() > 1:
            eps_shrink[name] = float(100 * (1 - np.std(np.asarray(d.iwres)[sel], ddof=1)))
    return table, ebe, eta_shrink, eps_shrink
