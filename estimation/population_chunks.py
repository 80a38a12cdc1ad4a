"""Large population simulation in fixed-size chunks on Dask, reduced to summaries.

``simulate_population(model, design, n_subjects, chunk_size=...)`` simulates ``n_subjects``
virtual subjects who all follow one template design (doses, sampling times, covariates),
each with its own etas drawn from Omega (and residual error if asked). Each chunk of
``chunk_size`` subjects is one Dask task with one compiled shape (the last chunk is
simulated at full size and cut); its seed is :func:`~estimation.cluster.replicate_seed`
of the chunk number, so the population does not depend on the number of workers.

Chunks stream back as they complete and are reduced at once into per-time summaries
whose memory does not grow with ``n_subjects``: count, mean, SD, minimum, maximum and a
histogram on a fine grid in ``asinh(value / 1e-9)`` (bins 0.001 wide: 0.1% relative
resolution for values above 1e-8, negative values allowed) from which any percentile is
read to within one bin. With ``out``, every chunk's individual values are also written to
``out/chunks/NNNNNN.npz`` and an interrupted run resumes with ``resume=True``.

Examples
--------
>>> summary = simulate_population(get("oral_2cmt"), design, 1_000_000, chunk_size=20_000)  # doctest: +SKIP
>>> summary.table([5, 50, 95])  # doctest: +SKIP
"""

from __future__ import annotations

import io
import socket
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, TextIO

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from compartments.propagators import OdeOptions
from compartments.solve import make_solver
from compartments.stored_programs import StoredJit
from estimation.cluster import dask_client, process_model, replicate_seed, run_replicates
from estimation.data import DataError, Dataset, read_nonmem
from estimation.population import PopulationModel
from estimation.problem import Problem, build_problem
from estimation.replicate_store import ReplicateStore, data_fingerprint, model_settings

#: Values are binned on asinh(value / GRID_SCALE): logarithmic above GRID_SCALE, linear near 0.
GRID_SCALE = 1e-9
#: Bin width on that scale (relative resolution 0.1% for values much larger than GRID_SCALE).
GRID_WIDTH = 1e-3
#: Half-range on that scale: |value| up to GRID_SCALE * sinh(GRID_LIMIT) (about 1e9).
GRID_LIMIT = 41.5
N_BINS = int(round(2 * GRID_LIMIT / GRID_WIDTH))


# ================================================================ one chunk
def simulate_chunk(index: int, model: PopulationModel, design: pd.DataFrame, chunk_size: int,
                   n_subjects: int, seed: int, residual: bool) -> dict[str, Any]:
    """Simulate chunk ``index`` (subjects ``index * chunk_size`` on) on a worker.

    Returns its record with ``values`` (subjects x observation times); errors are
    returned in the record (``status="failed"``), never raised.
    """
    begin = time.perf_counter()
    rep_seed = replicate_seed(seed, index)
    size = min(chunk_size, n_subjects - index * chunk_size)
    record: dict[str, Any] = {"index": index, "seed": seed, "replicate_seed": rep_seed, "n": size,
                              "worker": f"{socket.gethostname()}:{_pid()}"}
    try:
        values = chunk_values(process_model(model), design, chunk_size, rep_seed, residual)[:size]
        record.update(status="ok", values=values)
    except Exception as exc:
        record.update(status="failed", failure="fit",
                      error="".join(traceback.format_exception_only(type(exc), exc)).strip())
    record["runtime_s"] = time.perf_counter() - begin
    return record


def _pid() -> int:
    import os

    return os.getpid()


def chunk_values(model: PopulationModel, design: pd.DataFrame, size: int, seed: int,
                 residual: bool) -> np.ndarray:
    """``size`` subjects on the template ``design``: predictions (or observations) per time.

    Etas are ``N(0, Omega)`` draws, then (with ``residual``) y = f + g(f, sigma) eps
    (log-normal for exponential error), all from ``numpy.random.default_rng(seed)``.

    Examples
    --------
    >>> chunk_values(model, design, 1000, seed=1, residual=False).shape  # doctest: +SKIP
    (1000, 12)
    """
    problem = _template_problem(model, data_fingerprint(design), design)
    space = model.space
    theta, omega, sigma = space.split(space.natural_init())
    rng = np.random.default_rng(seed)
    k = len(space.eta_names)
    etas = rng.multivariate_normal(np.zeros(k), omega, size=size) if k else np.zeros((size, 0))
    program = _chunk_program(model, problem.layout)
    rec = jax.tree.map(lambda a: jnp.asarray(a[0]), problem.records)
    mask = problem.obs_mask[0]
    f = np.asarray(program(jnp.asarray(theta), jnp.asarray(etas), rec, jnp.asarray(problem.covariates[0]),
                           jnp.asarray(problem.obs_index[0]), jnp.asarray(problem.obs_output[0])))[:, mask]
    if not residual:
        return f
    eps = rng.standard_normal(f.shape)
    outputs = problem.obs_output[0][mask]
    y = np.empty_like(f)
    names = space.sigma_names
    for out, em in enumerate(model.error_models):
        s = jnp.asarray([sigma[names.index(n)] for n in em.parameter_names])
        sd = np.asarray(em.sd(jnp.asarray(f), s))
        value = np.exp(np.log(np.maximum(f, 1e-300)) + sd * eps) if em.log_transform else f + sd * eps
        y = np.where(outputs == out, value, y)
    return y


_TEMPLATES: dict[tuple[int, str], Problem] = {}


def _template_problem(model: PopulationModel, key: str, design: pd.DataFrame) -> Problem:
    """The design's one subject bound to the model (cached per process)."""
    cache_key = (id(model), key)
    if cache_key not in _TEMPLATES:
        _TEMPLATES.clear()
        _TEMPLATES[cache_key] = build_problem(model, read_nonmem(design), design=True)
    return _TEMPLATES[cache_key]


@lru_cache(maxsize=8)
def _chunk_program(model: PopulationModel, layout: Any) -> Callable[..., jax.Array]:
    """Jitted ``(theta, etas, records, cov, obs_index, obs_output) -> f`` over the etas."""
    solve = make_solver(model.compiled, layout, OdeOptions())

    def one(theta, eta, rec, cov, obs_index, obs_output):  # type: ignore[no-untyped-def]
        p = model.individual_function(theta, eta, cov)
        return solve(p, rec).outputs[obs_index, obs_output]

    return StoredJit(jax.vmap(one, in_axes=(None, 0, None, None, None, None)),
                     name="population.chunk", key=(model, layout))


# ============================================================ reduction
class PopulationAccumulator:
    """Running per-time summaries of simulated values; memory independent of the count.

    Chunks may arrive in any order: histograms are integer counts, and the sums are
    added in chunk order at the end, so the result does not depend on the arrival order.

    Examples
    --------
    >>> acc = PopulationAccumulator(2)
    >>> acc.add(0, np.array([[1.0, 2.0], [3.0, 4.0]]))
    >>> acc.mean()
    array([2., 3.])
    """

    def __init__(self, n_times: int) -> None:
        self.n_times = n_times
        self.histogram = np.zeros((n_times, N_BINS), dtype=np.int64)
        self._sums: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}

    def add(self, index: int, values: np.ndarray) -> None:
        """Add chunk ``index`` (subjects x times)."""
        values = np.asarray(values, dtype=float)
        if values.ndim != 2 or values.shape[1] != self.n_times:
            raise ValueError(f"chunk {index}: expected (subjects, {self.n_times}) values, got {values.shape}")
        if index in self._sums:
            raise ValueError(f"chunk {index} was added twice")
        finite = np.isfinite(values)
        clean = np.where(finite, values, 0.0)
        lowest, highest = np.where(finite, values, np.inf).min(0), np.where(finite, values, -np.inf).max(0)
        self._sums[index] = (finite.sum(0), clean.sum(0), (clean**2).sum(0), lowest, highest)
        bins = np.clip(np.floor((np.arcsinh(clean / GRID_SCALE) + GRID_LIMIT) / GRID_WIDTH), 0, N_BINS - 1)
        flat = (np.arange(self.n_times)[None, :] * N_BINS + bins.astype(np.int64))[finite]
        self.histogram += np.bincount(flat, minlength=self.n_times * N_BINS).reshape(self.n_times, N_BINS)

    def _total(self, k: int) -> np.ndarray:
        parts = [self._sums[i][k] for i in sorted(self._sums)]
        return np.sum(parts, axis=0) if parts else np.zeros(self.n_times)

    def count(self) -> np.ndarray:
        """Number of finite values per time."""
        return self._total(0).astype(np.int64)

    def mean(self) -> np.ndarray:
        """Mean per time."""
        return self._total(1) / self.count()

    def sd(self) -> np.ndarray:
        """Standard deviation per time (n - 1 denominator)."""
        n = self.count()
        return np.sqrt(np.maximum(self._total(2) - n * self.mean() ** 2, 0.0) / (n - 1))

    def minimum(self) -> np.ndarray:
        """Smallest value per time."""
        return np.min([self._sums[i][3] for i in sorted(self._sums)], axis=0)

    def maximum(self) -> np.ndarray:
        """Largest value per time."""
        return np.max([self._sums[i][4] for i in sorted(self._sums)], axis=0)

    def percentile(self, q: float) -> np.ndarray:
        """The ``q``-th percentile per time, to within one bin (0.1% relative above 1e-8).

        numpy's default definition: the order statistics at ranks ``floor(r)`` and
        ``floor(r) + 1``, ``r = q/100 (n - 1)``, linearly interpolated; an order statistic is
        placed within its bin as if the bin's values were evenly spread; the extremes are exact.
        """
        if not 0 <= q <= 100:
            raise ValueError(f"percentile must be in [0, 100], got {q}")
        out = np.empty(self.n_times)
        cum = np.cumsum(self.histogram, axis=1)
        lo, hi = self.minimum(), self.maximum()
        for t in range(self.n_times):
            n = int(cum[t, -1])
            rank = q / 100 * (n - 1)
            j = int(np.floor(rank))
            a = self._order_statistic(cum[t], t, j, lo[t], hi[t])
            b = self._order_statistic(cum[t], t, min(j + 1, n - 1), lo[t], hi[t])
            out[t] = a + (rank - j) * (b - a)
        return out

    def _order_statistic(self, cum: np.ndarray, t: int, j: int, lo: float, hi: float) -> float:
        """Approximate ``j``-th smallest value (0-based) at time ``t``."""
        b = int(np.searchsorted(cum, j, side="right"))
        before = cum[b - 1] if b else 0
        u = (j - before + 0.5) / self.histogram[t, b]
        value = GRID_SCALE * np.sinh(-GRID_LIMIT + (b + u) * GRID_WIDTH)
        return float(min(max(value, lo), hi))


# ================================================================== result
@dataclass(frozen=True)
class PopulationSummary:
    """Per-time summaries of a chunked population simulation.

    Attributes
    ----------
    time
        Observation times of the template design.
    n_requested
        Subjects asked for.
    n_subjects
        Subjects simulated (less than ``n_requested`` only if chunks failed).
    failed_chunks
        ``(chunk index, error)`` of every chunk that failed.
    accumulator
        The per-time summaries (histograms included).
    seconds
        Wall time of the run.
    folder
        Where ``run.json``, the chunk records (and chunk values) were written.
    """

    time: np.ndarray
    n_requested: int
    n_subjects: int
    failed_chunks: tuple[tuple[int, str], ...]
    accumulator: PopulationAccumulator
    seconds: float
    folder: Path

    def table(self, percentiles: Sequence[float] = (5, 50, 95)) -> pd.DataFrame:
        """One row per time: n, mean, sd, min, the percentiles ``p<q>``, max.

        Examples
        --------
        >>> summary.table([2.5, 50, 97.5]).columns[-4:].tolist()  # doctest: +SKIP
        ['p2.5', 'p50', 'p97.5', 'max']
        """
        acc = self.accumulator
        frame = pd.DataFrame({"time": self.time, "n": acc.count(), "mean": acc.mean(), "sd": acc.sd(),
                              "min": acc.minimum()})
        for q in percentiles:
            frame[f"p{q:g}"] = acc.percentile(q)
        frame["max"] = acc.maximum()
        return frame

    @property
    def subjects_per_second(self) -> float:
        """Throughput of the run (simulated subjects / wall time)."""
        return self.n_subjects / self.seconds


# ================================================================== driver
def simulate_population(
    model: PopulationModel,
    design: Dataset | pd.DataFrame | str,
    n_subjects: int,
    *,
    chunk_size: int = 10_000,
    seed: int = 0,
    residual: bool = False,
    out: str | Path | None = None,
    resume: bool = False,
    client: Any = None,
    scheduler: str | None = None,
    workers: int | None = None,
    progress: TextIO | None = sys.stderr,
) -> PopulationSummary:
    """Simulate ``n_subjects`` virtual subjects on a one-subject template design, in chunks.

    Parameters
    ----------
    model
        Population model at its initial values (thetas, Omega, sigma).
    design
        NONMEM-format records of ONE subject: doses, observation records (their times are
        the output times; DV is ignored) and covariates (shared by every virtual subject).
    n_subjects
        Number of virtual subjects.
    chunk_size
        Subjects per Dask task (one compiled shape).
    seed
        Seed of the run; chunk ``c`` uses :func:`~estimation.cluster.replicate_seed`.
    residual
        Add residual error (default: individual predictions, no residual error).
    out
        Folder for ``run.json``, chunk records and ``chunks/NNNNNN.npz`` with each chunk's
        values (default: a temporary folder, values not kept).
    resume
        Continue the run stored in ``out``: chunks on disk are read, not simulated again.
    client, scheduler, workers, progress
        As for :func:`~estimation.bootstrap.bootstrap`.

    Returns
    -------
    PopulationSummary

    Raises
    ------
    DataError
        The design does not hold exactly one subject.

    Examples
    --------
    >>> s = simulate_population(model, design, 100_000, chunk_size=10_000, workers=2)  # doctest: +SKIP
    >>> s.table()  # doctest: +SKIP
    """
    begin = time.perf_counter()
    if n_subjects < 1 or chunk_size < 1:
        raise ValueError(f"n_subjects and chunk_size must be positive, got {n_subjects} and {chunk_size}")
    dataset = design if isinstance(design, Dataset) else read_nonmem(design)
    if dataset.n_subjects != 1:
        raise DataError(f"the design of a population simulation is ONE template subject; it has "
                        f"{dataset.n_subjects} IDs ({list(dataset.ids)[:5]}...)")
    frame = dataset.to_dataframe().reset_index(drop=True)
    frame = frame.assign(DV=frame["DV"].fillna(0.0))
    template = build_problem(model, read_nonmem(frame), design=True)
    times = template.obs_time[0][template.obs_mask[0]]
    n_chunks = -(-n_subjects // chunk_size)
    keep = out is not None
    folder = Path(out) if keep else Path(tempfile.mkdtemp(prefix="popkin-population-"))
    settings = {"seed": seed, "n_subjects": n_subjects, "chunk_size": chunk_size, "residual": residual,
                **model_settings(model), "design": data_fingerprint(frame)}
    store = ReplicateStore(folder, "population", settings, resume=resume)
    chunk_folder = folder / "chunks"
    chunk_folder.mkdir(exist_ok=True)
    acc = PopulationAccumulator(len(times))
    for record in store.records():
        if record.get("status") == "ok":
            acc.add(record["index"], np.load(chunk_folder / f"{record['index']:06d}.npz")["values"])

    def reduce(record: dict[str, Any]) -> dict[str, Any]:
        values = record.pop("values", None)
        if values is not None:
            acc.add(record["index"], values)
            if keep:
                _save_npz(chunk_folder / f"{record['index']:06d}.npz", values)
        return record

    with dask_client(client, scheduler, workers) as dask:
        run_replicates(dask, simulate_chunk, range(n_chunks),
                       (model, frame, chunk_size, n_subjects, seed, residual), store,
                       label="population", progress=progress, on_result=reduce)
    records = store.records()
    failed = tuple((r["index"], r.get("error", "")) for r in records if r.get("status") != "ok")
    done = sum(r["n"] for r in records if r.get("status") == "ok")
    return PopulationSummary(time=times, n_requested=n_subjects, n_subjects=int(done), failed_chunks=failed,
                             accumulator=acc, seconds=time.perf_counter() - begin, folder=folder)


def _save_npz(path: Path, values: np.ndarray) -> None:
    """Write ``values`` to ``path`` atomically."""
    buffer = io.BytesIO()
    np.savez(buffer, values=values)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(buffer.getvalue())
    tmp.replace(path)
