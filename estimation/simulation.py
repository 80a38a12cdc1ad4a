"""Population simulation with between-subject variability and residual error.

One simulation path serves every use:

- :func:`simulate_replicates` draws ``n_replicates`` new datasets from a fit at its estimates on the
  design of the data (doses, sampling times, covariates): eta ~ N(0, Omega), then
  y = f + g(f, sigma) eps (log-normal draws for exponential error). It is what visual predictive
  checks (:mod:`estimation.vpc`) and NPDE (:mod:`estimation.npde`) are computed from.
- :func:`simulate_observations` draws one dataset from a model at its initial values (or
  ``values``): how simulation-estimation studies create data with a known truth.

Both run :func:`simulate_arrays`: the individual predictions are one jitted ``vmap`` over
replicates x subjects, in chunks of replicates (compiled once per model, design shape and chunk
size); the typical predictions (PRED, eta = 0) ride along as replicate 0 of the first chunk.
Random numbers come from NumPy's generator in a fixed order (replicate after replicate: its etas,
then its residuals), so a seed gives the same draws whatever the chunking and the number of
replicates (the first 100 of 1000 replicates are the 100 of a run of 100), and replicate 1 of
``simulate_replicates(result, seed=s)`` is ``simulate_observations(result.final_model(), data, seed=s)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import NamedTuple, cast

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from compartments.jax_config import release_compiled_programs
from compartments.propagators import OdeOptions
from compartments.solve import Layout
from compartments.stored_programs import StoredJit
from estimation.data import Dataset, read_nonmem
from estimation.objectives import SubjectData, SubjectModel, subject_data
from estimation.population import PopulationModel
from estimation.problem import Problem, build_problem
from estimation.results import FitResult

Array = jnp.ndarray
#: what a replicate draws: IIV and residual error, IIV only, or nothing (typical predictions)
VARIABILITY = ("full", "iiv", "none")
#: subject solves per compiled call (replicates x subjects); bounds memory, not results
LANES_PER_CALL = 8192


class SimulatedArrays(NamedTuple):
    """Simulated values on the padded (replicate, subject, observation) grid of a problem.

    Attributes
    ----------
    dv
        Simulated observations, shape ``(n_replicates, n_subjects, n_obs_max)``.
    ipred
        Individual predictions f(eta) of the same draws (same shape).
    pred
        Typical predictions f(0), shape ``(n_subjects, n_obs_max)``.
    etas
        The drawn etas, shape ``(n_replicates, n_subjects, n_eta)``.
    problem
        The problem (design) simulated; ``problem.obs_mask`` marks the real observations.
    """

    dv: np.ndarray
    ipred: np.ndarray
    pred: np.ndarray
    etas: np.ndarray
    problem: Problem


@lru_cache(maxsize=32)
def _simulator(model: PopulationModel, layout: Layout, options: OdeOptions):  # type: ignore[no-untyped-def]
    """Jitted ``(natural, etas (C,N,k), eps (C,N,M), data) -> (ipred, dv)`` for one model and layout."""
    sm = SubjectModel(model, layout, options)
    names = model.space.sigma_names
    sigma_index = [np.asarray([names.index(n) for n in em.parameter_names], dtype=int)
                   for em in model.error_models]

    def one(natural: Array, eta: Array, eps: Array, subj: SubjectData) -> tuple[Array, Array]:
        f = sm.predict(natural, eta, subj)
        _, _, sigma = sm.split(natural)
        y = f
        for out, (em, idx) in enumerate(zip(model.error_models, sigma_index, strict=True)):
            sd = em.sd(f, sigma[idx])
            if em.log_transform:
                # Y = F exp(eps), as NONMEM simulates it: 0 where the prediction is 0
                value = jnp.maximum(f, 0.0) * jnp.exp(sd * eps)
            else:
                value = f + sd * eps
            y = jnp.where(subj.obs_output == out, value, y)
        return f, y

    over_subjects = jax.vmap(one, in_axes=(None, 0, 0, 0))
    over_replicates = jax.vmap(over_subjects, in_axes=(None, 0, 0, None))
    return StoredJit(over_replicates, name="simulation.replicates", key=(model, layout, options))


def _chunks(n_slots: int, n_subjects: int) -> list[tuple[int, int]]:
    """Balanced ``(start, stop)`` ranges of replicate slots, each at most LANES_PER_CALL solves."""
    largest = max(1, LANES_PER_CALL // max(n_subjects, 1))
    n_chunks = -(-n_slots // largest)
    size = -(-n_slots // n_chunks)
    return [(s, min(s + size, n_slots)) for s in range(0, n_slots, size)]


def simulate_arrays(
    model: PopulationModel,
    problem: Problem,
    natural: np.ndarray,
    n_replicates: int,
    *,
    seed: int = 0,
    variability: str = "full",
    ode_options: OdeOptions | None = None,
) -> SimulatedArrays:
    """Simulate ``n_replicates`` datasets on the design of ``problem`` at parameters ``natural``.

    Parameters
    ----------
    model
        The population model (structure, parameter expressions, error models); its compiled
        simulator is cached on this object, so pass the same object for repeated calls.
    problem
        The design, bound to ``model`` (:func:`~estimation.problem.build_problem`).
    natural
        Natural parameter vector (``model.space.natural_names`` order) to simulate at.
    n_replicates
        Number of simulated datasets.
    seed
        Seed of NumPy's random generator; replicate after replicate, its etas
        (``multivariate_normal``) then its residuals (``standard_normal``).
    variability
        ``"full"`` (IIV and residual error), ``"iiv"`` (IIV only: DV = IPRED) or ``"none"``
        (DV = PRED).
    ode_options
        Solver options for ODE models.

    Returns
    -------
    SimulatedArrays
        DV, IPRED and PRED on the padded (replicate, subject, observation) grid.

    Examples
    --------
    >>> sims = simulate_arrays(model, build_problem(model, data), natural, 100)  # doctest: +SKIP
    >>> sims.dv[:, problem.obs_mask].shape  # (replicates, observations)  # doctest: +SKIP
    """
    if variability not in VARIABILITY:
        raise ValueError(f"variability must be one of {VARIABILITY}, got {variability!r}")
    if int(n_replicates) < 1:
        raise ValueError(f"n_replicates must be at least 1, got {n_replicates}")
    n_replicates = int(n_replicates)
    space = model.space
    natural = np.asarray(natural, dtype=float)
    _, omega, _ = space.split(natural)
    n_subj, n_obs = problem.obs_mask.shape
    k = len(space.eta_names)
    rng = np.random.default_rng(seed)
    # replicate after replicate: its etas, then its residuals (drawn whatever the variability, so
    # that replicate r has the same etas in every mode and the same draws whatever n_replicates)
    etas = np.zeros((n_replicates, n_subj, k))
    eps = np.zeros((n_replicates, n_subj, n_obs))
    for r in range(n_replicates):
        if k:
            etas[r] = rng.multivariate_normal(np.zeros(k), omega, size=n_subj)
        eps[r] = rng.standard_normal((n_subj, n_obs))
    if variability == "none":
        etas[:] = 0.0
    if variability != "full":
        eps[:] = 0.0
    release_compiled_programs()
    fn = _simulator(model, problem.layout, ode_options or OdeOptions())
    data = subject_data(problem)
    natural_jax = jnp.asarray(natural)
    # slot 0 is the typical subject (eta = 0, eps = 0): it gives PRED
    n_slots = n_replicates + 1
    ipred = np.empty((n_replicates, n_subj, n_obs))
    dv = np.empty((n_replicates, n_subj, n_obs))
    pred = np.empty((n_subj, n_obs))
    chunks = _chunks(n_slots, n_subj)
    size = chunks[0][1] - chunks[0][0]
    for start, stop in chunks:
        eta_chunk = np.zeros((size, n_subj, k))
        eps_chunk = np.zeros((size, n_subj, n_obs))
        first = max(start, 1)  # first real replicate slot in this chunk
        eta_chunk[first - start: stop - start] = etas[first - 1: stop - 1]
        eps_chunk[first - start: stop - start] = eps[first - 1: stop - 1]
        f, y = fn(natural_jax, jnp.asarray(eta_chunk), jnp.asarray(eps_chunk), data)
        f, y = np.asarray(f), np.asarray(y)
        if start == 0:
            pred[:] = f[0]
        ipred[first - 1: stop - 1] = f[first - start: stop - start]
        dv[first - 1: stop - 1] = y[first - start: stop - start]
    if variability == "none":
        dv[:] = pred
    mask = problem.obs_mask
    for array in (ipred, dv):
        array[:, ~mask] = np.nan
    pred[~mask] = np.nan
    return SimulatedArrays(dv=dv, ipred=ipred, pred=pred, etas=etas, problem=problem)


def simulate_replicates(
    result: FitResult,
    n_replicates: int = 100,
    *,
    seed: int = 0,
    variability: str = "full",
    data: Dataset | pd.DataFrame | None = None,
    ode_options: OdeOptions | None = None,
    output_column: str | None = None,
) -> pd.DataFrame:
    """Simulate ``n_replicates`` datasets from a fit at its estimates.

    Parameters
    ----------
    result
        A fit (it must carry its model: not a result loaded from JSON).
    n_replicates
        Number of simulated datasets.
    seed
        Seed of the random draws (the same seed gives the same data).
    variability
        ``"full"`` (IIV and residual error), ``"iiv"`` (IIV only) or ``"none"`` (typical
        predictions).
    data
        The design (doses, sampling times, covariates; its DV are not used); default the
        fitted data.
    ode_options
        Solver options for ODE models.
    output_column
        Data column choosing the output of each observation (e.g. ``"DVID"``); default the
        fit's own (:attr:`FitResult.output_column`).

    Returns
    -------
    pandas.DataFrame
        Observation records only, replicate after replicate: ``REP`` (1..n), ``ID``, ``TIME``,
        ``DV`` (simulated), ``PRED`` (typical prediction), ``IPRED`` (individual prediction of the
        simulated subject), ``ROW`` (input row of the design), ``OUTPUT`` (with several outputs),
        then the covariate columns of the design (their values on that row).

    Examples
    --------
    >>> sims = simulate_replicates(result, 200, seed=1)  # doctest: +SKIP
    >>> sims.groupby("REP")["DV"].median()  # doctest: +SKIP
    """
    model, natural = fitted_model(result)
    dataset = design_of(result, data)
    problem = build_problem(model, dataset, output_column=output_column or result.output_column,
                            design=True)
    sims = simulate_arrays(model, problem, natural, n_replicates, seed=seed, variability=variability,
                           ode_options=ode_options)
    return replicates_frame(sims, dataset)


def fitted_model(result: FitResult) -> tuple[PopulationModel, np.ndarray]:
    """The fitted model object (stable, so compiled code is reused) and its estimates.

    Examples
    --------
    >>> model, natural = fitted_model(result)  # doctest: +SKIP
    """
    final = result.final_model()  # raises for a result without its model
    return cast(PopulationModel, result.model), np.asarray(final.space.natural_init(), dtype=float)


def design_of(result: FitResult, data: Dataset | pd.DataFrame | None) -> Dataset:
    """``data`` as a :class:`Dataset`, default the fitted data.

    Examples
    --------
    >>> design_of(result, None) is result.data  # doctest: +SKIP
    True
    """
    if data is None:
        if result.data is None:
            raise ValueError("this result carries no data (loaded from JSON?); pass data=...")
        return result.data
    return data if isinstance(data, Dataset) else read_nonmem(data)


def replicates_frame(sims: SimulatedArrays, dataset: Dataset) -> pd.DataFrame:
    """The long table of :func:`simulate_replicates` from simulated arrays.

    Examples
    --------
    >>> replicates_frame(simulate_arrays(model, problem, natural, 10), dataset)  # doctest: +SKIP
    """
    problem = sims.problem
    mask = problem.obs_mask
    n_rep = sims.dv.shape[0]
    n = int(mask.sum())
    ids = np.repeat(np.asarray(problem.subject_ids, dtype=object), mask.shape[1]).reshape(mask.shape)[mask]
    rows = problem.obs_row[mask]
    out = pd.DataFrame({
        "REP": np.repeat(np.arange(1, n_rep + 1), n),
        "ID": np.tile(ids, n_rep),
        "TIME": np.tile(problem.obs_time[mask], n_rep),
        "DV": sims.dv[:, mask].reshape(-1),
        "PRED": np.tile(sims.pred[mask], n_rep),
        "IPRED": sims.ipred[:, mask].reshape(-1),
        "ROW": np.tile(rows, n_rep),
    })
    outputs = problem.model.structure.output_names
    if len(outputs) > 1:
        out["OUTPUT"] = np.tile(np.asarray(outputs, dtype=object)[problem.obs_output[mask]], n_rep)
    frame = dataset.to_dataframe()
    # the design's other columns follow (a column named like one of the table's own, such as
    # the REP or PRED of a file written by `popkin simulate`, is not copied over it)
    for name in dataset.covariates:
        if name not in out.columns:
            out[name] = np.tile(frame.loc[rows, name].to_numpy(), n_rep)
    return out


def simulate_observations(
    model: PopulationModel,
    data: Dataset | pd.DataFrame,
    *,
    values: Mapping[str, float] | None = None,
    seed: int = 0,
    ode_options: OdeOptions | None = None,
    output_column: str | None = None,
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
    ode_options
        Solver options for ODE models.
    output_column
        Data column (1-based) choosing the output of each observation (e.g. DVID).

    Returns
    -------
    The design with simulated DV (and the true etas as ``ETA_<name>`` columns).

    Examples
    --------
    >>> sim = simulate_observations(model, design, seed=1)  # doctest: +SKIP
    """
    # the values enter as numbers: the compiled simulator of ``model`` serves every ``values``
    natural = (model.with_initial(values) if values else model).space.natural_init()
    dataset = data if isinstance(data, Dataset) else read_nonmem(data)
    problem = build_problem(model, dataset, output_column=output_column, design=True)
    sims = simulate_arrays(model, problem, natural, 1, seed=seed, ode_options=ode_options)
    out = dataset.to_dataframe()
    out["DV"] = out["DV"].fillna(0.0)
    mask = problem.obs_mask
    out.loc[problem.obs_row[mask], "DV"] = sims.dv[0][mask]
    out = out.reset_index(drop=True)
    for j, name in enumerate(model.space.eta_names):
        out[f"ETA_{name}"] = out["ID"].map(dict(zip(problem.subject_ids, sims.etas[0, :, j], strict=True)))
    return out
