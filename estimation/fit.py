"""``fit(model, data, method=FOCEI())``: maximum-likelihood estimation.

The outer problem (thetas, Omega, residual error) is solved by BFGS in an
unconstrained parameterisation (log-Cholesky Omega, log SDs, logit/log maps for
bounded thetas) with the exact gradient of the OFV; eta modes are searched from the
best point's modes and from zero (``Method.zero_eta_start``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd
import scipy.optimize

from compartments.propagators import OdeOptions
from estimation.data import Dataset
from estimation.evaluator import Evaluator
from estimation.methods import FOCEI, SAEM, Method
from estimation.population import PopulationModel
from estimation.problem import build_problem
from estimation.results import FitResult, build_result
from estimation.start_check import raise_for_non_finite_start

#: searches restarted after lower eta modes were found at the end, and the OFV decrease
#: (OFV units) that triggers a restart
_MAX_RESTARTS = 3
_RESTART_OFV = 1e-3
#: Newton iterations of the exploratory mode searches from eta = 0 (the modes kept are then
#: polished by the warm-started searches of the next evaluation)
_ZERO_START_NEWTON = 30
#: the stopping test's largest |gradient| is max(Method.gtol, GTOL_FLOOR) (see ``fit``, Notes)
GTOL_FLOOR = 1e-3


class _Best(NamedTuple):
    value: float
    u: np.ndarray
    etas: np.ndarray
    ofv_i: np.ndarray
    grad: np.ndarray


@dataclass
class Iteration:
    """Progress report of one outer iteration (passed to a ``progress`` callback)."""

    iteration: int
    ofv: float
    gradient_norm: float
    elapsed: float
    #: SAEM: "exploration" or "smoothing" (None for the gradient-based methods)
    phase: str | None = None


def fit(
    model: PopulationModel,
    data: Dataset | pd.DataFrame | str,
    method: Method | None = None,
    *,
    ode_options: OdeOptions | None = None,
    output_column: str | None = None,
    progress: Callable[[Iteration], None] | None = None,
    initial_etas: np.ndarray | None = None,
) -> FitResult:
    """Fit ``model`` to ``data`` by maximum likelihood.

    Parameters
    ----------
    model
        The population model (its initial values start the search).
    data
        A :class:`~estimation.data.Dataset`, NONMEM-format rows or a CSV path.
    method
        :class:`~estimation.methods.FO`, ``FOCE``, ``FOCEI`` (default), ``Laplace``, ``AGQ``
        or ``SAEM`` (:func:`estimation.saem.fit_saem`).
    ode_options
        Solver options for ODE models.
    output_column
        Data column (1-based) choosing the output of each observation (e.g. DVID).
    progress
        Called after every outer iteration with an :class:`Iteration`.
    initial_etas
        Starting points of the first mode searches, subjects x etas (in the order of the
        data's subjects and ``model.space.eta_names``), as NONMEM's ``$ETAS``; default zero.
        E.g. ``previous.etas`` columns of an earlier fit, to resume from its modes.

    Returns
    -------
    FitResult
        Estimates, standard errors, diagnostics and convergence status.

    Notes
    -----
    The search stops, converged, when the largest |dOFV/du| is at most
    ``max(method.gtol, GTOL_FLOOR)`` (1e-3), or when the estimated distance to the minimum
    is at most ``method.edm_tol``. The floor is there because searching further only spends
    evaluations: below it BFGS's line searches lower the OFV by less than 1e-8 and move the
    estimates by about 1e-5 of their standard errors. On theo_sd (FOCE-I) the fit without
    the floor ends at the same OFV (116.80341) after 33 objective evaluations instead of 17,
    on Wang 2007 (proportional error) after 19-28 instead of 11.

    Examples
    --------
    >>> from model_library import get  # doctest: +SKIP
    >>> result = fit(get("oral_1cmt"), "theo_sd.csv", FOCEI())  # doctest: +SKIP
    """
    method = method or FOCEI()
    if isinstance(method, SAEM):
        from estimation.saem import fit_saem

        if initial_etas is not None:
            raise ValueError("initial_etas starts the mode searches of FO, FOCE, FOCE-I, Laplace and AGQ; "
                             "SAEM draws its own chains")

        return fit_saem(model, data, method, ode_options=ode_options, output_column=output_column,
                        progress=progress)
    start = time.perf_counter()
    if isinstance(data, str):
        from estimation.data import read_nonmem

        data = read_nonmem(data)
    problem = build_problem(model, data, output_column=output_column)
    evaluator = Evaluator(problem, method, ode_options or OdeOptions())
    space = model.space
    u0 = space.to_unconstrained(space.natural_init())
    zeros = evaluator.initial_etas()
    history: list[tuple[int, float]] = []
    n_eval = {"count": 0}

    # scale the objective so that the first quasi-Newton step (along -gradient) has a
    # length of order one in the unconstrained parameters, whatever the size of the data
    start_etas = zeros if initial_etas is None else _checked_etas(initial_etas, zeros.shape, space.eta_names)
    value0, grad0, etas0, ofv0 = evaluator.value_grad_subjects(u0, start_etas)
    if not np.isfinite(value0):
        raise_for_non_finite_start(evaluator, space.natural_init(), start_etas)
    # the best point so far: OFV, parameters, eta modes, per-subject OFVs
    state = {"best": _Best(value0, u0.copy(), etas0, ofv0, grad0), "grad": grad0, "lowered": 0.0}
    tolerance = max(method.gtol, GTOL_FLOOR)
    scale = max(1.0, float(np.max(np.abs(grad0)))) if np.all(np.isfinite(grad0)) else 1.0

    def objective(u: np.ndarray) -> tuple[float, np.ndarray]:
        n_eval["count"] += 1
        # modes are warm-started from the best point so far (not from a rejected trial point)
        value, grad, etas, ofv_i = evaluator.value_grad_subjects(u, state["best"].etas)
        if not np.isfinite(value) or not np.all(np.isfinite(grad)):
            return np.inf, np.full_like(u, np.nan)
        if value < state["best"].value:
            state["best"] = _Best(value, u.copy(), etas, ofv_i, grad)
        state["grad"] = grad
        return value / scale, grad / scale

    def modes_from_zero() -> float:
        """Give each subject the mode searched from eta = 0 where that mode is lower; return
        the OFV decrease."""
        best = state["best"]
        if not method.zero_eta_start or not np.isfinite(best.value):
            return 0.0
        cold = evaluator.per_subject(evaluator.natural(best.u), zeros, max_iter=_ZERO_START_NEWTON)
        cold_ofv = np.asarray(cold.ofv)
        lower = np.isfinite(cold_ofv) & (cold_ofv < best.ofv_i - 1e-8 * np.maximum(1.0, np.abs(best.ofv_i)))
        if not lower.any():
            return 0.0
        ofv_i = np.where(lower, cold_ofv, best.ofv_i)
        etas = np.where(lower[:, None], np.asarray(cold.eta), best.etas)
        # the gradient at the best point is no longer known (its modes changed)
        state["best"] = _Best(float(ofv_i.sum()), best.u, etas, ofv_i, np.full_like(best.grad, np.inf))
        state["lowered"] += best.value - state["best"].value
        return best.value - state["best"].value

    iteration = {"k": 0}

    def callback(u: np.ndarray) -> None:
        iteration["k"] += 1
        value = state["best"].value
        history.append((iteration["k"], value))
        if progress is not None:
            progress(Iteration(iteration["k"], value, float(np.max(np.abs(state["grad"]))),
                               time.perf_counter() - start))
        if np.max(np.abs(state["best"].grad)) <= tolerance:
            raise StopIteration  # converged: the line searches beyond cannot improve the OFV

    if len(u0):
        n_iter, u_start, restarts = 0, u0, 0
        for round_ in range(_MAX_RESTARTS + 1):
            restarts = round_
            state["lowered"] = 0.0
            opt = scipy.optimize.minimize(
                objective, u_start, jac=True, method="BFGS", callback=callback,
                options={"maxiter": max(0, method.max_iter - n_iter), "gtol": method.gtol / scale},
            )
            n_iter += int(opt.nit)
            # lower modes found from eta = 0 where the search stopped: that point was not the
            # optimum of its own modes; search again from there with a fresh quasi-Newton matrix
            modes_from_zero()
            if state["lowered"] <= _RESTART_OFV or n_iter >= method.max_iter:
                break
            u_start = state["best"].u
        best = state["best"]
        u_best = best.u
        final_value, final_grad, etas = evaluator.value_and_grad(u_best, best.etas)
        grad_max = float(np.max(np.abs(final_grad)))
        # estimated distance to the minimum (as MINUIT's EDM): the OFV decrease a quasi-Newton
        # step would still bring, 1/2 g' H^-1 g with BFGS's inverse Hessian (scaled objective)
        g_scaled = final_grad / scale
        edm = float(0.5 * g_scaled @ np.asarray(opt.hess_inv) @ g_scaled * scale)
        converged = bool(np.isfinite(final_value) and (grad_max <= tolerance or 0 <= edm <= method.edm_tol))
        if converged:
            message = (f"largest |dOFV/dparameter| {grad_max:.2g}, estimated distance to the minimum "
                       f"{edm:.2g} OFV units")
        elif n_iter >= method.max_iter:
            message = (f"maximum number of iterations ({method.max_iter}) reached; "
                       f"largest gradient {grad_max:.3g}")
        else:
            message = (f"optimizer stopped ({opt.message}) with largest gradient "
                       f"{grad_max:.3g} > {tolerance:g}")
        if restarts:
            message += (f"; restarted {restarts} time(s) after lower eta modes were found by "
                        "searches from eta = 0")
    else:
        u_best = u0
        final_value, final_grad, etas = evaluator.value_and_grad(u_best, zeros)
        message, converged, n_iter, grad_max = "nothing to estimate", True, 0, 0.0
    return build_result(
        evaluator, u_best, etas, converged=converged, message=message, iterations=n_iter,
        evaluations=n_eval["count"], runtime=time.perf_counter() - start, history=history,
        gradient_max=grad_max,
    )


def _checked_etas(etas: np.ndarray, shape: tuple[int, ...], names: tuple[str, ...]) -> np.ndarray:
    values = np.asarray(etas, dtype=float)
    if values.shape != shape:
        raise ValueError(f"initial_etas: expected {shape[0]} subjects x {shape[1]} etas "
                         f"({', '.join(names)}), got shape {values.shape}")
    if not np.all(np.isfinite(values)):
        raise ValueError("initial_etas: every value must be a finite number")
    return values


def evaluate(
    model: PopulationModel,
    data: Dataset | pd.DataFrame | str,
    method: Method | None = None,
    *,
    ode_options: OdeOptions | None = None,
    output_column: str | None = None,
) -> FitResult:
    """The result at the model's initial values, without estimation (NONMEM's ``MAXEVAL=0``).

    The eta modes, OFV, covariance step and diagnostics are computed at the given parameters;
    use it to evaluate a published model on data, or for diagnostics at fixed values.

    Parameters
    ----------
    model
        The population model; its initial values are the parameters evaluated.
    data
        A :class:`~estimation.data.Dataset`, NONMEM-format rows or a CSV path.
    method
        The objective: :class:`~estimation.methods.FOCEI` (default), ``FOCE``, ``FO``, ``Laplace``
        or ``AGQ``.
    ode_options
        Solver options for ODE models.
    output_column
        Data column (1-based) choosing the output of each observation (e.g. DVID).

    Returns
    -------
    FitResult
        With ``iterations == 0`` and the message saying nothing was estimated.

    Examples
    --------
    >>> result = evaluate(get("oral_1cmt"), "theo_sd.csv")  # doctest: +SKIP
    >>> result.ofv  # doctest: +SKIP
    """
    method = method or FOCEI()
    if isinstance(method, SAEM):
        raise ValueError("evaluate() computes a linearised or Laplacian likelihood: "
                         "use FO(), FOCE(), FOCEI(), Laplace() or AGQ(), not SAEM")
    start = time.perf_counter()
    if isinstance(data, str):
        from estimation.data import read_nonmem

        data = read_nonmem(data)
    problem = build_problem(model, data, output_column=output_column)
    evaluator = Evaluator(problem, method, ode_options or OdeOptions())
    space = model.space
    u0 = space.to_unconstrained(space.natural_init())
    value, grad, etas = evaluator.value_and_grad(u0, evaluator.initial_etas())
    return build_result(
        evaluator, u0, etas, converged=True, message="evaluated at the initial values (no estimation)",
        iterations=0, evaluations=1, runtime=time.perf_counter() - start, history=[(0, value)],
        gradient_max=float(np.max(np.abs(grad))) if len(grad) else 0.0,
    )
