"""Dask plumbing: worker setup, streaming and persisted replicates, resume, worker loss.

The last test starts a real ``dask scheduler`` and two ``dask worker`` processes on
127.0.0.1, runs a small bootstrap through the scheduler's address, kills one worker
while it is running a replicate, and checks that every replicate is on disk exactly
once, without error, with the subjects its seed prescribes.
"""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from estimation_helpers import WANG_ERRORS, wang_data, wang_model

from estimation.cluster import (
    SINGLE_THREAD_XLA_FLAGS,
    ClusterError,
    ProgressLine,
    dask_client,
    replicate_seed,
    run_replicates,
)
from estimation.replicate_store import ReplicateStore, ReplicateStoreError


# ------------------------------------------------------------- helpers run on workers
def square_or_fail(index: int, fail_on: int) -> dict:
    """A task that raises for one index (the error must be recorded, not dropped)."""
    if index == fail_on:
        raise RuntimeError(f"replicate {index} exploded")
    return {"index": index, "value": index**2}


def worker_settings() -> dict:
    import jax

    return {"xla_flags": os.environ.get("XLA_FLAGS", ""), "x64": bool(jax.config.jax_enable_x64),
            "cache": str(jax.config.jax_compilation_cache_dir)}


@pytest.fixture(scope="module")
def client():
    with dask_client(workers=2) as c:
        yield c


# ------------------------------------------------------------------------- tests
def test_replicate_seed_is_the_spawned_child_state() -> None:
    children = np.random.SeedSequence(2024).spawn(5)
    for i, child in enumerate(children):
        assert replicate_seed(2024, i) == int(child.generate_state(1, np.uint64)[0] >> np.uint64(1))
    assert len({replicate_seed(2024, i) for i in range(1000)}) == 1000


def test_a_used_model_pickles_to_its_definition_and_maps_to_one_instance_per_process() -> None:
    """Tasks receive unpickled copies of the model; compiled functions stay behind and equal
    definitions share one instance (compiled once per worker)."""
    import pickle

    from estimation.cluster import process_model

    model = wang_model(WANG_ERRORS["prop"])
    _ = model.individual_function  # compiled and cached on the instance: not picklable itself
    copy = pickle.loads(pickle.dumps(model))
    assert "individual_function" not in copy.__dict__
    assert copy.space.natural_names == model.space.natural_names
    assert np.array_equal(copy.space.natural_init(), model.space.natural_init())
    assert process_model(copy) is process_model(model) is process_model(pickle.loads(pickle.dumps(model)))
    other = model.with_initial({"theta": 0.7})
    assert process_model(other) is not process_model(model)


def test_local_cluster_workers_are_single_threaded_float64_with_compile_cache(client) -> None:
    from compartments.jax_config import compile_cache_dir

    info = client.scheduler_info()["workers"]
    assert len(info) == 2
    assert all(w["nthreads"] == 1 for w in info.values())
    settings = client.run(worker_settings)
    assert len(settings) == 2
    for s in settings.values():
        assert s["x64"] is True
        assert s["cache"] == str(compile_cache_dir())
        for flag in SINGLE_THREAD_XLA_FLAGS:
            assert flag in s["xla_flags"].split()


def test_failed_task_is_recorded_with_its_error(client, tmp_path: Path) -> None:
    store = ReplicateStore(tmp_path, "test", {"seed": 1})
    stream = io.StringIO()
    counts = run_replicates(client, square_or_fail, range(5), (3,), store, label="t", progress=stream)
    records = store.records()
    assert [r["index"] for r in records] == [0, 1, 2, 3, 4]
    assert [r.get("value") for r in records] == [0, 1, 4, None, 16]
    assert records[3]["failure"] == "cluster" and "replicate 3 exploded" in records[3]["error"]
    assert (counts.requested, counts.finished, counts.failed, counts.skipped) == (5, 5, 1, 0)
    assert "5/5" in stream.getvalue() and "1 failed" in stream.getvalue()
    # a cluster failure is not a property of the replicate: resuming runs it again
    assert store.completed() == {0, 1, 2, 4}
    resumed = ReplicateStore(tmp_path, "test", {"seed": 1}, resume=True)
    counts = run_replicates(client, square_or_fail, range(5), (99,), resumed, label="t")
    assert (counts.skipped, counts.finished, counts.failed) == (4, 1, 0)
    assert resumed.records()[3]["value"] == 9


def test_store_refuses_to_mix_runs(tmp_path: Path) -> None:
    store = ReplicateStore(tmp_path, "bootstrap", {"seed": 1, "data": "abc"})
    store.write({"index": 0, "ofv": 1.5, "se": float("nan")})
    assert json.loads(store.path(0).read_text())["se"] is None  # strict JSON
    with pytest.raises(ReplicateStoreError, match="already holds 1 replicates.*--resume"):
        ReplicateStore(tmp_path, "bootstrap", {"seed": 1, "data": "abc"})
    with pytest.raises(ReplicateStoreError, match="seed: stored 1, now 2"):
        ReplicateStore(tmp_path, "bootstrap", {"seed": 2, "data": "abc"}, resume=True)
    with pytest.raises(ReplicateStoreError, match="needs an 'index'"):
        store.write({"ofv": 1.0})
    assert ReplicateStore(tmp_path, "bootstrap", {"seed": 1, "data": "abc"}, resume=True).completed() == {0}
    assert not list(tmp_path.rglob(".*tmp"))  # no temporary file left behind


def test_client_arguments_are_checked() -> None:
    with pytest.raises(ClusterError, match="not both"), dask_client(client=object(), scheduler="tcp://x:1"):
        pass
    with pytest.raises(ClusterError, match="at least 1"), dask_client(workers=0):
        pass


def test_progress_line_counts() -> None:
    stream = io.StringIO()
    bar = ProgressLine("bootstrap", 10, stream)
    for done in range(11):
        bar.update(done, done // 5)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 11  # one per decile on a non-terminal stream
    assert lines[-1].startswith("bootstrap 10/10 [####################] 2 failed")


# ------------------------------------------------------- a real scheduler and workers
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(args: list[str], log: Path) -> subprocess.Popen:
    dask = Path(sys.executable).with_name("dask")
    return subprocess.Popen([str(dask), *args], stdout=log.open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True, env=os.environ.copy())


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=15)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=15)


@pytest.mark.slow
def test_bootstrap_through_a_scheduler_address_survives_a_killed_worker(tmp_path: Path) -> None:
    from distributed import Client

    from estimation.bootstrap import bootstrap, resample_subjects
    from estimation.data import read_nonmem
    from estimation.fit import fit
    from estimation.methods import FOCEI

    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    procs: dict[str, subprocess.Popen] = {}
    try:
        procs["scheduler"] = _start(["scheduler", "--host", "127.0.0.1", "--port", str(port),
                                     "--no-dashboard"], tmp_path / "scheduler.log")
        for name in ("w1", "w2"):
            procs[name] = _start(["worker", address, "--name", name, "--nthreads", "1", "--nworkers", "1",
                                  "--host", "127.0.0.1", "--no-dashboard", "--death-timeout", "60"],
                                 tmp_path / f"{name}.log")
        watcher = Client(address, timeout="60s")
        watcher.wait_for_workers(2, timeout=120)

        data = read_nonmem(wang_data())
        original = fit(wang_model(WANG_ERRORS["prop"]), data, FOCEI(covariance=None))
        n, out = 6, tmp_path / "boot"
        outcome: dict = {}

        def run() -> None:
            try:
                outcome["result"] = bootstrap(original, n, seed=11, out=out, scheduler=address, progress=None)
            except BaseException as exc:  # reported by the main thread
                outcome["error"] = exc

        thread = threading.Thread(target=run)
        thread.start()
        # kill w2 while it is running a replicate (its first one includes the compilation)
        killed_busy = False
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and thread.is_alive():
            workers = watcher.scheduler_info()["workers"]
            by_name = {w["name"]: addr for addr, w in workers.items()}
            processing = watcher.processing()
            if "w2" in by_name and processing.get(by_name["w2"]):
                time.sleep(1.0)
                killed_busy = bool(watcher.processing().get(by_name["w2"]))
                os.killpg(procs["w2"].pid, signal.SIGKILL)
                break
            time.sleep(0.2)
        thread.join(timeout=600)
        assert not thread.is_alive(), "the bootstrap did not finish after the worker was killed"
        assert "error" not in outcome, outcome.get("error")
        assert killed_busy, "w2 was not running a replicate when it was killed"
        assert procs["w2"].wait(timeout=30) is not None

        files = sorted((out / "replicates").glob("*.json"))
        records = [json.loads(f.read_text()) for f in files]
        assert [f.name for f in files] == [f"{i:06d}.json" for i in range(n)]
        assert [r["index"] for r in records] == list(range(n))
        assert all(r["status"] == "ok" and not r.get("error") for r in records)
        for r in records:  # the subjects each replicate drew depend only on its seed
            _, drawn = resample_subjects(data, np.random.default_rng(replicate_seed(11, r["index"])))
            assert r["subjects"] == drawn
        boot = outcome["result"]
        assert boot.n == n and boot.n_failed == 0
        watcher.close()
    finally:
        for proc in reversed(list(procs.values())):
            _stop(proc)
