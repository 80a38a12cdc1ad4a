"""Chunked population simulation: identities with ``simulate_observations``, the streaming
summaries against numpy on the full sample, a 2-worker LocalCluster run with a partial last
chunk, and resume.

Model: oral_1cmt from the library (log-normal IIV on KA, CL, V; combined error), one
template subject: 100 mg orally at 0, samples at 0.5-24 h.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from estimation.cluster import dask_client, replicate_seed
from estimation.data import DataError
from estimation.population_chunks import (
    GRID_WIDTH,
    PopulationAccumulator,
    chunk_values,
    simulate_population,
)
from estimation.simulation import simulate_observations
from model_library import get

TIMES = (0.5, 1.0, 2.0, 4.0, 8.0, 12.0, 24.0)


def design(n_subjects: int = 1) -> pd.DataFrame:
    rows = []
    for i in range(1, n_subjects + 1):
        rows.append({"ID": i, "TIME": 0.0, "DV": 0.0, "AMT": 100.0, "EVID": 1, "MDV": 1, "CMT": 1})
        rows += [{"ID": i, "TIME": t, "DV": 0.0, "AMT": 0.0, "EVID": 0, "MDV": 0, "CMT": 2} for t in TIMES]
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def model():
    return get("oral_1cmt")


@pytest.fixture(scope="module")
def client():
    with dask_client(workers=2) as c:
        yield c


def test_a_chunk_is_simulate_observations_of_the_repeated_design(model) -> None:
    """Same seed, same draws: a chunk of 200 subjects on the template equals popkin's
    population simulation of 200 copies of the template (etas, then residuals)."""
    chunk = chunk_values(model, design(1), 200, seed=7, residual=True)
    sim = simulate_observations(model, design(200), seed=7)
    expected = sim.loc[sim["EVID"] == 0, "DV"].to_numpy().reshape(200, len(TIMES))
    np.testing.assert_allclose(chunk, expected, rtol=1e-10, atol=1e-12)
    ipred = chunk_values(model, design(1), 200, seed=7, residual=False)
    assert np.all(ipred > 0) and not np.allclose(ipred, chunk)


def test_streamed_summaries_match_numpy_on_the_whole_sample() -> None:
    rng = np.random.default_rng(1)
    values = np.exp(rng.normal(0.0, 1.5, size=(5000, 3))) * np.array([1e-3, 1.0, 1e3])
    values[:, 0] -= 5e-4  # negative values too (additive residual error)
    acc = PopulationAccumulator(3)
    for index, part in reversed(list(enumerate(np.array_split(values, 7)))):  # any arrival order
        acc.add(index, part)
    np.testing.assert_array_equal(acc.count(), [5000, 5000, 5000])
    np.testing.assert_allclose(acc.mean(), values.mean(0), rtol=1e-12)
    np.testing.assert_allclose(acc.sd(), values.std(0, ddof=1), rtol=1e-9)
    np.testing.assert_array_equal(acc.minimum(), values.min(0))
    np.testing.assert_array_equal(acc.maximum(), values.max(0))
    for q in (0, 2.5, 5, 25, 50, 75, 95, 97.5, 100):
        exact = np.percentile(values, q, axis=0)
        # within one bin: 0.1% relative (for values far above the grid scale, 1e-9)
        np.testing.assert_allclose(acc.percentile(q), exact, rtol=1.01 * np.expm1(GRID_WIDTH), atol=0)
    with pytest.raises(ValueError, match="chunk 3 was added twice"):
        acc.add(3, values[:2])


def test_population_on_two_workers_with_a_partial_last_chunk(model, client, tmp_path) -> None:
    n, size = 2500, 1000
    summary = simulate_population(model, design(1), n, chunk_size=size, seed=3, out=tmp_path, client=client,
                                  progress=None)
    assert summary.n_subjects == n and summary.failed_chunks == ()
    files = sorted((tmp_path / "chunks").glob("*.npz"))
    assert [f.name for f in files] == ["000000.npz", "000001.npz", "000002.npz"]
    chunks = [np.load(f)["values"] for f in files]
    assert [c.shape for c in chunks] == [(1000, 7), (1000, 7), (500, 7)]
    for index, values in enumerate(chunks):  # as simulated here, without workers
        local = chunk_values(model, design(1), size, replicate_seed(3, index), residual=False)
        np.testing.assert_allclose(values, local[: len(values)], rtol=1e-12)
    everything = np.concatenate(chunks)
    table = summary.table([5, 50, 95])
    np.testing.assert_allclose(table["time"], TIMES)
    np.testing.assert_allclose(table["mean"], everything.mean(0), rtol=1e-12)
    np.testing.assert_allclose(table["p50"], np.percentile(everything, 50, axis=0),
                               rtol=1.01 * np.expm1(GRID_WIDTH))
    # resume: nothing simulated again, the same summary from the files on disk
    stamps = [f.stat().st_mtime_ns for f in files]
    again = simulate_population(model, design(1), n, chunk_size=size, seed=3, out=tmp_path, client=client,
                                progress=None, resume=True)
    assert [f.stat().st_mtime_ns for f in files] == stamps
    pd.testing.assert_frame_equal(again.table([5, 50, 95]), table)


def test_design_must_be_one_subject(model) -> None:
    with pytest.raises(DataError, match="ONE template subject; it has 2 IDs"):
        simulate_population(model, design(2), 10, progress=None)
