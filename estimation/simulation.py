"""Population simulation with between-subject variability and residual error.

``simulate_observations(model, data, seed=...)`` replaces the DV of every
observation record of ``data`` (the design: doses, sampling times, covariates)
by a draw from the model at its current parameter values (or ``values``):
eta ~ N(0, Omega), y = f + g(f, sigma) eps (log-normal draws for exponential error).
It is how simulation-estimation studies create data with a known truth.
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from compartments.propagators import OdeOptions
from compartments.solve import make_solver
from estimation.data import Dataset, read_nonmem
from estimation.population import PopulationModel
from estimation.problem import build_problem


def simulate_observations(
    model: PopulationModel,
    data: Dataset | pd.DataFrame,
    *,
    values: Mapping[str, float] | None = None,
    seed: int = 0,
    ode_options: OdeOptions | None = None,
) -> pd.DataFrame:
    """Simulate DV for every observation record of ``data``.

    Parameters
    ----------
    model
        Population model; its initial values are the truth unless ``values``.
    data
        The design (NONMEM form); DV values are ignored and replaced.
    values
        ``name -> value`` overriding thetas, eta variances and residual SDs.
    seed
        Seed of numpy's random generator (etas, then residuals).

    Returns
    -------
    The design with simulated DV (and the true etas as ``ETA_<name>`` columns).

    Examples
    --------
    >>> sim = simulate_observations(model, design, seed=1)  # doctest: +SKIP
    """
    if values:
        model = model.with_initial(values)
    dataset = data if isinstance(data, Dataset) else read_nonmem(data)
    frame = dataset.to_dataframe()
    if frame["DV"].isna().any():
        frame = frame.assign(DV=frame["DV"].fillna(0.0))
    problem = build_problem(model, read_nonmem(frame.reset_index(drop=True)))
    space = model.space
    natural = jnp.asarray(space.natural_init())
    theta, omega, sigma = space.split(natural)
    rng = np.random.default_rng(seed)
    k = len(space.eta_names)
    etas = rng.multivariate_normal(np.zeros(k), np.asarray(omega), size=problem.n_subjects) if k else \
        np.zeros((problem.n_subjects, 0))
    solve = make_solver(model.compiled, problem.layout, ode_options or OdeOptions())

    def predict(eta, records, cov, obs_index, obs_output):  # type: ignore[no-untyped-def]
        p = model.individual_function(theta, eta, cov)
        return solve(p, records).outputs[obs_index, obs_output]

    f = np.asarray(jax.jit(jax.vmap(predict))(
        jnp.asarray(etas), problem.records, jnp.asarray(problem.covariates),
        jnp.asarray(problem.obs_index), jnp.asarray(problem.obs_output)))
    eps = rng.standard_normal(f.shape)
    names = space.sigma_names
    y = np.empty_like(f)
    for out, em in enumerate(model.error_models):
        s = jnp.asarray([sigma[names.index(n)] for n in em.parameter_names])
        sd = np.asarray(em.sd(jnp.asarray(f), s))
        if em.log_transform:
            value = np.exp(np.log(np.maximum(f, 1e-300)) + sd * eps)
        else:
            value = f + sd * eps
        y = np.where(problem.obs_output == out, value, y)
    out = frame.reset_index(drop=True)
    mask = problem.obs_mask
    # the problem was built from the positional frame: its rows are positions + 1
    out.iloc[problem.obs_row[mask] - 1, out.columns.get_loc("DV")] = y[mask]
    for j, name in enumerate(space.eta_names):
        out[f"ETA_{name}"] = out["ID"].map(dict(zip(problem.subject_ids, etas[:, j], strict=True)))
    return out
