"""``fit(model, data, method=FOCEI())``: maximum-likelihood estimation.

The outer problem (thetas, Omega, residual error) is solved by BFGS in an
unconstrained parameterisation (log-Cholesky Omega, log SDs, logit/log maps for
bounded thetas) with the exact gradient of the OFV; eta modes are warm-started
from the previous evaluation.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

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
) -> FitResult:
    """Fit ``model`` to ``data`` by maximum likelihood.

    Parameters
    ----------
    model
        The population model (its initial values start the search).
    data
        A :class:`~estimation.data.Dataset`, NONMEM-format rows or a CSV path.
    method
        :class:`~estimation.methods.FO`, ``FOCE``, ``FOCEI`` (default), ``Laplace`` or
        ``SAEM`` (:func:`estimation.saem.fit_saem`).
    ode_options
        Solver options for ODE models.
    output_column
        Data column (1-based) choosing the output of each observation (e.g. DVID).
    progress
        Called after every outer iteration with an :class:`Iteration`.

    Returns
    -------
    FitResult
        Estimates, standard errors, diagnostics and convergence status.

    Examples
    --------
    >>> from model_library import get  # doctest: +SKIP
    >>> result = fit(get("oral_1cmt"), "theo_sd.csv", FOCEI())  # doctest: +SKIP
    """
    method = method or FOCEI()
    if isinstance(method, SAEM):
        from estimation.saem import fit_saem

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
    state = {"etas": evaluator.initial_etas(), "best": (np.inf, u0, evaluator.initial_etas()),
             "grad": np.zeros_like(u0)}
    history: list[tuple[int, float]] = []
    n_eval = {"count": 0}

    # scale the objective so that the first quasi-Newton step (along -gradient) has a
    # length of order one in the unconstrained parameters, whatever the size of the data
    value0, grad0, etas0 = evaluator.value_and_grad(u0, state["etas"])
    state["etas"] = etas0
    scale = max(1.0, float(np.max(np.abs(grad0)))) if np.all(np.isfinite(grad0)) else 1.0

    def objective(u: np.ndarray) -> tuple[float, np.ndarray]:
        n_eval["count"] += 1
        value, grad, etas = evaluator.value_and_grad(u, state["etas"])
        if not np.isfinite(value) or not np.all(np.isfinite(grad)):
            return np.inf, np.full_like(u, np.nan)
        state["etas"] = etas
        if value < state["best"][0]:
            state["best"] = (value, u.copy(), etas)
        state["grad"] = grad
        return value / scale, grad / scale

    iteration = {"k": 0}

    def callback(u: np.ndarray) -> None:
        iteration["k"] += 1
        value = state["best"][0]
        history.append((iteration["k"], value))
        if progress is not None:
            progress(Iteration(iteration["k"], value, float(np.max(np.abs(state["grad"]))),
                               time.perf_counter() - start))

    if len(u0):
        opt = scipy.optimize.minimize(
            objective, u0, jac=True, method="BFGS", callback=callback,
            options={"maxiter": method.max_iter, "gtol": method.gtol / scale},
        )
        best_value, u_best, etas = state["best"]
        final_value, final_grad, etas = evaluator.value_and_grad(u_best, etas)
        grad_max = float(np.max(np.abs(final_grad)))
        tolerance = max(method.gtol, 1e-3)
        # estimated distance to the minimum (as MINUIT's EDM): the OFV decrease a quasi-Newton
        # step would still bring, 1/2 g' H^-1 g with BFGS's inverse Hessian (scaled objective)
        g_scaled = final_grad / scale
        edm = float(0.5 * g_scaled @ np.asarray(opt.hess_inv) @ g_scaled * scale)
        converged = bool(np.isfinite(final_value) and (grad_max <= tolerance or 0 <= edm <= method.edm_tol))
        if converged:
            message = (f"largest |dOFV/dparameter| {grad_max:.2g}, estimated distance to the minimum "
                       f"{edm:.2g} OFV units")
        elif opt.nit >= method.max_iter:
            message = (f"maximum number of iterations ({method.max_iter}) reached; "
                       f"largest gradient {grad_max:.3g}")
        else:
            message = (f"optimizer stopped ({opt.message}) with largest gradient "
                       f"{grad_max:.3g} > {tolerance:g}")
        n_iter = int(opt.nit)
    else:
        u_best = u0
        final_value, final_grad, etas = evaluator.value_and_grad(u_best, state["etas"])
        message, converged, n_iter, grad_max = "nothing to estimate", True, 0, 0.0
    return build_result(
        evaluator, u_best, etas, converged=converged, message=message, iterations=n_iter,
        evaluations=n_eval["count"], runtime=time.perf_counter() - start, history=history,
        gradient_max=grad_max,
    )


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
        The objective: :class:`~estimation.methods.FOCEI` (default), ``FOCE``, ``FO`` or ``Laplace``.
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
                         "use FO(), FOCE(), FOCEI() or Laplace(), not SAEM")
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
