"""SAEM estimation (Kuhn & Lavielle 2005; Monolix): ``fit(model, data, method=SAEM())``.

1. K1 exploration iterations (step size 1, simulated annealing on Omega and the residual
   error during the first ``n_anneal``) and K2 smoothing iterations (step 1/(k - K1)) of
   MCMC E-step + stochastic approximation + M-step (:mod:`estimation.saem_steps`), every
   chain of every subject in lockstep; random numbers from ``jax.random`` keys derived
   from the seed only, so the same seed gives the same result bit for bit.
2. ``n_conditional`` further sweeps at the estimates: conditional means and covariances
   of eta, and the Fisher information by stochastic approximation (Louis' principle).
3. The OFV by importance sampling (:mod:`estimation.importance_sampling`), with its Monte
   Carlo SE; the linearised (FOCE-I) OFV at the estimates; conditional modes of eta (the
   FOCE-I mode search started from the conditional means); the same diagnostics, tables
   and result object as the other methods.
4. A drift check on the parameter traces: a clear warning (and ``converged=False``) when a
   parameter is still moving at the end of exploration or of smoothing.

Examples
--------
>>> from estimation.methods import SAEM
>>> result = fit(model, data, SAEM(seed=1))  # doctest: +SKIP
>>> result.ofv, result.ofv_mc_se, result.traces.tail()  # doctest: +SKIP
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from compartments.jax_config import release_compiled_programs
from compartments.propagators import OdeOptions
from compartments.solve import Layout
from compartments.stored_programs import StoredJit
from estimation.complete_data import CompleteData
from estimation.covariance import Covariance
from estimation.data import Dataset, read_nonmem
from estimation.evaluator import Evaluator
from estimation.fisher_information import linearised_covariance, louis_covariance, louis_terms
from estimation.importance_sampling import chunking, make_importance_sampler, summarise
from estimation.methods import FOCEI, SAEM
from estimation.objectives import subject_data
from estimation.population import PopulationModel
from estimation.problem import build_problem
from estimation.results import FitResult, parameter_table
from estimation.saem_steps import SaemState, SaemSteps

if TYPE_CHECKING:
    from estimation.fit import Iteration

Array = jnp.ndarray
#: subjects x chains SAEM aims at when choosing the number of chains (Monolix: 50)
TARGET_CHAIN_SUBJECTS = 50


class SaemDriftWarning(UserWarning):
    """SAEM parameters were still drifting at the end of a phase."""


class _Programs(NamedTuple):
    model: PopulationModel
    cd: CompleteData
    steps: SaemSteps
    init: Callable
    iteration: Callable
    accumulate: Callable


def _structure_key(model: PopulationModel) -> tuple:
    """What the compiled SAEM programs depend on (not the initial values)."""
    space = model.space
    errors = tuple((type(em).__name__, em.parameter_names, em.log_transform, getattr(em, "form", None))
                   for em in model.error_models)
    return (model.structure, tuple(sorted(model.parameters.items())), space.theta_names,
            tuple((t.lower, t.upper, t.fixed) for t in space.thetas),
            tuple((b.names, b.fixed) for b in space.blocks), errors, space.sigma_fixed)


_MODELS: dict[tuple, PopulationModel] = {}


def _canonical(model: PopulationModel) -> PopulationModel:
    """One model object per structure, so refits with other initial values reuse compiled code."""
    return _MODELS.setdefault(_structure_key(model), model)


@lru_cache(maxsize=16)
def _programs(model: PopulationModel, layout: Layout, options: OdeOptions, n_chains: int,
              kernels: tuple[int, int, int, int], n_newton: int, anneal_factor: float,
              louis: bool) -> _Programs:
    cd = CompleteData(model, layout, options)
    steps = SaemSteps(cd, kernels=kernels, n_chains=n_chains, n_newton=n_newton, anneal_factor=anneal_factor)
    space = model.space
    est_index = np.flatnonzero(space.estimated)
    terms = louis_terms(cd, est_index, steps.depends_on_x)  # type: ignore[attr-defined]

    def accumulate(acc: dict, natural: Array, state: SaemState, data) -> dict:  # type: ignore[no-untyped-def]
        z = state.chains.z
        eta = z - jax.vmap(cd.mean, in_axes=(None, 0))(natural, data.covariates)
        out = {"count": acc["count"] + z.shape[0], "eta": acc["eta"] + eta.sum(0),
               "eta2": acc["eta2"] + jnp.einsum("cni,cnj->nij", eta, eta)}
        if louis:
            g, h = terms(natural, z, state.chains.f, data)
            out.update(g=acc["g"] + g.sum(0), gg=acc["gg"] + jnp.einsum("cni,cnj->nij", g, g),
                       h=acc["h"] + h)
        return out

    key = (model, layout, options, n_chains, kernels, n_newton, anneal_factor, louis)
    return _Programs(model, cd, steps, StoredJit(steps.initial_state, name="saem.initial_state", key=key),
                     StoredJit(steps.iteration, name="saem.iteration", key=key),
                     StoredJit(accumulate, name="saem.accumulate", key=key))


@lru_cache(maxsize=16)
def _sampler(cd: CompleteData, chunk: int, n_chunks: int) -> Callable:
    return StoredJit(make_importance_sampler(cd, chunk, n_chunks), name="saem.importance_sampler",
                     key=(cd.model, cd.layout, cd.options, chunk, n_chunks))


def fit_saem(
    model: PopulationModel,
    data: Dataset | pd.DataFrame | str,
    method: SAEM,
    *,
    ode_options: OdeOptions | None = None,
    output_column: str | None = None,
    progress: Callable[[Iteration], None] | None = None,
) -> FitResult:
    """Fit ``model`` by SAEM (called by :func:`estimation.fit.fit` for ``method=SAEM(...)``).

    Parameters
    ----------
    model, data, ode_options, output_column, progress
        As for :func:`estimation.fit.fit`; ``progress`` is called once per SAEM iteration
        with the phase (``"exploration"`` or ``"smoothing"``) and -2 x the complete-data
        log-likelihood of the current samples as ``ofv``.
    method
        The :class:`~estimation.methods.SAEM` options.

    Returns
    -------
    FitResult
        ``ofv`` by importance sampling (``ofv_mc_se`` its Monte Carlo SE),
        ``ofv_linearised`` the FOCE-I OFV at the estimates, ``traces`` the parameters
        after every iteration.

    Examples
    --------
    >>> result = fit_saem(model, data, SAEM(n_burn=200, n_smooth=100, seed=3))  # doctest: +SKIP
    """
    from estimation.diagnostics import compute_diagnostics
    from estimation.fit import Iteration

    start = time.perf_counter()
    if isinstance(data, str):
        data = read_nonmem(data)
    space = model.space
    if not space.eta_names:
        raise ValueError("SAEM needs at least one random effect (an eta with an Omega entry)")
    release_compiled_programs()
    canonical = _canonical(model)
    problem = build_problem(canonical, data, output_column=output_column)
    if getattr(problem, "time_varying", False):
        raise ValueError("SAEM does not support covariates that change within a subject yet "
                         f"(model covariates {list(model.covariate_names)}); use FOCEI()")
    n_subjects = problem.n_subjects
    n_chains = method.n_chains or max(1, math.ceil(TARGET_CHAIN_SUBJECTS / n_subjects))
    options = ode_options or OdeOptions()
    programs = _programs(canonical, problem.layout, options, n_chains, tuple(method.kernels),
                         method.n_newton, method.anneal_factor, method.covariance == "stochastic")
    steps = programs.steps
    batch = subject_data(problem)
    design = jnp.asarray(programs.cd.mu.design(problem.covariates))  # type: ignore[attr-defined]
    key = jax.random.PRNGKey(method.seed)
    key_saem, key_final, key_is = jax.random.split(key, 3)

    # ---------------------------------------------------------------- SAEM
    natural0 = jnp.asarray(exploration_start(model, method.omega_start))
    state = programs.init(natural0, jnp.asarray(steps.initial_x(space.natural_init())), batch)
    if not np.all(np.isfinite(np.asarray(state.chains.ll))):
        from estimation.start_check import raise_for_non_finite_start

        raise_for_non_finite_start(Evaluator(problem, FOCEI(covariance=None), options), np.asarray(natural0),
                                   np.zeros((n_subjects, len(space.eta_names))))
    n_anneal = method.n_burn // 2 if method.n_anneal is None else method.n_anneal
    total = method.n_burn + method.n_smooth
    traces = np.empty((total, len(space.natural_names)))
    history: list[tuple[int, float]] = []
    yes, no = jnp.asarray(True), jnp.asarray(False)
    for k in range(1, total + 1):
        exploring = k <= method.n_burn
        gamma = 1.0 if exploring else 1.0 / (k - method.n_burn)
        state, value = programs.iteration(state, jax.random.fold_in(key_saem, k), jnp.asarray(gamma),
                                          yes if k <= n_anneal else no, yes, batch, design)
        traces[k - 1] = np.asarray(state.natural)
        history.append((k, float(value)))
        if progress is not None:
            progress(Iteration(k, float(value), float("nan"), time.perf_counter() - start,
                               phase="exploration" if exploring else "smoothing"))
    natural = np.asarray(state.natural)
    if not np.all(np.isfinite(natural)):
        raise FloatingPointError(f"SAEM produced non-finite parameters: "
                                 f"{dict(zip(space.natural_names, natural.tolist(), strict=True))}")

    # ------------------------------------------- conditional distribution at the estimates
    k_eta, n_par = len(space.eta_names), int(space.estimated.sum())
    acc = {"count": jnp.asarray(0), "eta": jnp.zeros((n_subjects, k_eta)),
           "eta2": jnp.zeros((n_subjects, k_eta, k_eta))}
    if method.covariance == "stochastic":
        acc.update(g=jnp.zeros((n_subjects, n_par)), gg=jnp.zeros((n_subjects, n_par, n_par)),
                   h=jnp.zeros((n_par, n_par)))
    for j in range(method.n_conditional):
        state, _ = programs.iteration(state, jax.random.fold_in(key_final, j), jnp.asarray(0.0), no, no,
                                      batch, design)
        acc = programs.accumulate(acc, state.natural, state, batch)
    count = max(int(acc["count"]), 1)
    cond_mean = np.asarray(acc["eta"]) / count
    cond_cov = np.asarray(acc["eta2"]) / count - np.einsum("ni,nj->nij", cond_mean, cond_mean)
    _, omega, _ = space.split(np.asarray(natural, dtype=float))
    jitter = 1e-6 * np.diag(np.asarray(omega))
    cond_cov = (cond_cov + np.swapaxes(cond_cov, 1, 2)) / 2 + np.diag(jitter)[None]

    # --------------------------------------------------------- likelihood and modes
    chunk, n_chunks = chunking(n_subjects, method.n_samples)
    log_w = _sampler(programs.cd, chunk, n_chunks)(
        jnp.asarray(natural), jnp.asarray(cond_mean), jnp.asarray(cond_cov), batch, key_is)
    imp = summarise(np.asarray(log_w))
    evaluator = Evaluator(problem, FOCEI(inner_max_iter=method.inner_max_iter, inner_tol=method.inner_tol,
                                         covariance=None), options)
    linear = evaluator.per_subject(natural, cond_mean)
    modes = np.asarray(linear.eta)
    ofv_linearised = float(np.sum(linear.ofv))

    # ------------------------------------------------------------------ covariance
    names = tuple(space.natural_names[i] for i in np.flatnonzero(space.estimated))
    if method.covariance == "stochastic":
        cov = louis_covariance(names, np.asarray(acc["g"]) / count, np.asarray(acc["gg"]) / count,
                               np.asarray(acc["h"]) / count)
    elif method.covariance == "linearised":
        cov = linearised_covariance(evaluator, natural, modes)
    else:
        cov = Covariance(None, names, None, "not requested", float("nan"))

    # ------------------------------------------------------------ convergence check
    drifting = drifting_parameters(traces, space.natural_names, space.estimated, method.n_burn)
    converged = bool(np.isfinite(imp.ofv)) and not drifting
    message = (f"{method.n_burn} exploration + {method.n_smooth} smoothing iterations, {n_chains} "
               f"chain(s); OFV by importance sampling ({imp.n_samples} samples, Monte Carlo SE "
               f"{imp.mc_se:.3g}); linearised OFV {ofv_linearised:.4f}")
    if drifting:
        message = f"parameters still drifting ({', '.join(drifting)}): increase n_burn/n_smooth; " + message
        warnings.warn(f"SAEM: parameters still drifting at the end of the run: {', '.join(drifting)}; "
                      "increase n_burn (exploration) or n_smooth, or check the model", SaemDriftWarning,
                      stacklevel=3)
    if not np.isfinite(imp.ofv):
        message = "importance sampling gave a non-finite OFV; " + message

    # -------------------------------------------------------------- the result
    table, ebe, eta_shrink, eps_shrink = compute_diagnostics(evaluator, natural, modes)
    for j, name in enumerate(space.eta_names):
        ebe[f"cond_mean({name})"] = cond_mean[:, j]
        ebe[f"cond_var({name})"] = cond_cov[:, j, j]
    values = dict(zip(space.natural_names, natural.tolist(), strict=True))
    se = cov.standard_errors()
    trace_frame = pd.DataFrame(traces, columns=list(space.natural_names))
    trace_frame.insert(0, "phase", ["exploration"] * method.n_burn + ["smoothing"] * method.n_smooth)
    trace_frame.insert(0, "iteration", np.arange(1, total + 1))
    return FitResult(
        model_name=model.title, method=method.name, ofv=imp.ofv, converged=converged, message=message,
        iterations=total, evaluations=(total + method.n_conditional) * steps.n_moves,  # type: ignore[attr-defined]
        runtime_s=time.perf_counter() - start, n_obs=problem.n_observations, n_subjects=n_subjects,
        n_estimated=n_par, theta={n: values[n] for n in space.theta_names},
        omega={n: values[f"omega({n})"] for n in space.omega_element_names},
        sigma={n: values[n] for n in space.sigma_names},
        se={n.removeprefix("omega(").removesuffix(")"): v for n, v in se.items()},
        parameters=parameter_table(model, natural, se, eta_shrink), etas=ebe, table=table,
        eta_shrinkage=eta_shrink, eps_shrinkage=eps_shrink, covariance_status=cov.status,
        covariance_kind=cov.kind, covariance_matrix=cov.matrix, covariance_names=cov.names,
        condition_number=cov.condition_number, gradient_max=float("nan"), history=history,
        model=model, data=problem.dataset, output_column=problem.output_column, traces=trace_frame,
        ofv_linearised=ofv_linearised,
        ofv_mc_se=imp.mc_se,
    )


def exploration_start(model: PopulationModel, omega_start: float | None) -> np.ndarray:
    """The model's initial natural vector with every estimated Omega block rescaled so that
    its variances are at least ``omega_start`` (correlations kept).

    Examples
    --------
    >>> exploration_start(model, 1.0)  # doctest: +SKIP
    """
    natural = model.space.natural_init()
    if omega_start is None:
        return natural
    from estimation.complete_data import omega_positions

    pos, rows, cols = omega_positions(model)
    _, omega, _ = model.space.split(natural)
    omega = np.asarray(omega)
    scale = np.sqrt(np.maximum(np.diag(omega), omega_start) / np.diag(omega))
    fixed = np.repeat([b.fixed for b in model.space.blocks], [b.size for b in model.space.blocks])
    scale = np.where(fixed, 1.0, scale)
    natural[pos] = (omega * np.outer(scale, scale))[rows, cols]
    return natural


def drifting_parameters(traces: np.ndarray, names: tuple[str, ...], estimated: np.ndarray,
                        n_burn: int) -> list[str]:
    """Names of estimated parameters still moving at the end of exploration or of smoothing.

    Exploration (step size 1) should end stationary: the means of its last two windows
    of ``w = max(10, n_burn // 5)`` iterations may differ by at most twice the larger
    within-window SD (and 0.5% of the value). Smoothing averages: over its last 10% of
    iterations the estimate may move by at most 0.5% of its value (or of its exploration
    fluctuation, whichever is larger).

    Examples
    --------
    >>> t = np.column_stack([np.linspace(1, 2, 400), np.ones(400)])
    >>> drifting_parameters(t, ("a", "b"), np.array([True, True]), 300)
    ['a']
    """
    out = []
    w = max(10, n_burn // 5)
    n_smooth = len(traces) - n_burn
    for j, name in enumerate(names):
        if not estimated[j]:
            continue
        x = traces[:, j]
        scale = max(abs(float(np.mean(x[-w:]))), 1e-8)
        moving = False
        if n_burn >= 2 * w:
            a, b = x[n_burn - 2 * w:n_burn - w], x[n_burn - w:n_burn]
            spread = max(float(np.std(a)), float(np.std(b)))
            moving |= abs(float(np.mean(b) - np.mean(a))) > max(2 * spread, 0.005 * scale)
        if n_smooth >= 10:
            tail = x[-max(2, n_smooth // 10):]
            spread = float(np.std(x[max(0, n_burn - w):n_burn])) if n_burn >= w else 0.0
            moving |= abs(float(tail[-1] - tail[0])) > max(0.005 * scale, spread)
        if moving:
            out.append(name)
    return out

