"""A fixed residual SD survives a results folder: ``load_fit`` rebuilds the model from the
run record (``run.json``) with the SD still fixed, and ``results.json`` keeps it marked."""

from __future__ import annotations

from pathlib import Path

from estimation.data import example_path, read_nonmem
from estimation.fit import evaluate
from estimation.methods import FOCEI
from popkin.commands.inputs import model_with_error
from popkin.commands.run_record import RunRecord, file_sha256, load_fit

MODEL_FILE = '''
from estimation.error_models import Additive
from model_library import get


def fixed_sd():
    return get("oral_1cmt", error=Additive(0.7, fixed=True))
'''


def test_fixed_sd_survives_the_run_record(tmp_path: Path) -> None:
    file = tmp_path / "models.py"
    file.write_text(MODEL_FILE)
    spec = f"{file}:fixed_sd"
    data = example_path("theo_sd")
    result = evaluate(model_with_error(spec), read_nonmem(data), FOCEI(covariance=None))
    folder = tmp_path / "out"
    folder.mkdir()
    result.save(folder / "results.json")
    record = RunRecord(data=str(data), data_sha256=file_sha256(data), model=spec, error=None, method="focei")
    record.save(folder)
    loaded = load_fit(folder)
    assert loaded.n_estimated == result.n_estimated == 6
    final = loaded.final_model()
    assert final.space.sigma_fixed == (True,)
    assert final.space.natural_init()[-1] == 0.7
    assert loaded.parameters.set_index("parameter")["fixed"].to_dict()["add_sd"]
