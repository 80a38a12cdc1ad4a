"""The model registry, user model files, and the conventions every library model follows."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from compartments.simulate import simulate
from estimation.data import read_nonmem
from estimation.error_models import Additive, Proportional
from estimation.population import PopulationModel
from model_library import (
    ModelInfo,
    ModelLibraryError,
    documentation,
    get,
    list_models,
    load_user_model,
    register,
    search,
    unregister,
)
from model_library.naming import check_model

BUILTIN = ("infusion_1cmt", "iv_1cmt", "iv_2cmt", "iv_3cmt", "oral_1cmt", "oral_2cmt", "oral_3cmt")
ALL_MODELS = [m.name for m in list_models()]  # collected before any test registers more
#: the issue's catalogue: every kind of model it asks for, by registry name
REQUIRED = {
    "iv_1cmt", "infusion_1cmt", "oral_1cmt", "iv_2cmt", "oral_2cmt", "iv_3cmt", "oral_3cmt",
    "oral_1cmt_lag", "oral_2cmt_lag", "zero_order_1cmt", "zero_order_2cmt", "transit_1cmt",
    "transit_analytic_1cmt", "parallel_1cmt", "iv_1cmt_mm", "oral_1cmt_mm", "iv_1cmt_mixed",
    "iv_1cmt_tmdd", "iv_1cmt_tmdd_qss", "iv_1cmt_emax", "iv_1cmt_sigmoid_emax",
    "iv_1cmt_linear_effect", "iv_1cmt_effect_cmt_emax", "iv_1cmt_idr1", "iv_1cmt_idr2",
    "iv_1cmt_idr3", "iv_1cmt_idr4", "iv_1cmt_friberg",
}


@pytest.fixture
def scratch_names() -> Iterator[list[str]]:
    """Names registered by a test; removed afterwards so tests stay independent."""
    names: list[str] = []
    yield names
    for name in names:
        unregister(name)


def write(tmp_path: Path, text: str, name: str = "my_models.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


# ---------------------------------------------------------------- the registry
def test_builtin_models_are_listed_with_tags_and_descriptions() -> None:
    infos = list_models()
    assert [m.name for m in infos] == sorted(m.name for m in infos)
    assert set(BUILTIN) <= {m.name for m in infos}
    for info in infos:
        assert isinstance(info, ModelInfo)
        assert info.description, f"{info.name} has no description"
        assert "pk" in info.tags


def test_the_library_has_every_model_the_issue_lists() -> None:
    assert REQUIRED <= set(ALL_MODELS), sorted(REQUIRED - set(ALL_MODELS))


def test_search_by_tags() -> None:
    assert [m.name for m in search("oral", "first-order-absorption", "linear", "1cmt")] == [
        "oral_1cmt", "oral_1cmt_lag", "parallel_1cmt"]
    assert [m.name for m in search("IV", "2cmt")] == ["iv_2cmt"]
    assert {m.name for m in search("infusion")} >= {"iv_1cmt", "infusion_1cmt", "iv_2cmt", "iv_3cmt"}
    assert [m.name for m in search("tmdd")] == ["iv_1cmt_tmdd", "iv_1cmt_tmdd_qss"]
    assert len(search("pkpd")) == 9 and all("pd" in m.tags for m in search("pkpd"))
    assert search("no-such-tag") == []


def test_get_unknown_name_lists_what_exists() -> None:
    with pytest.raises(ModelLibraryError, match=r"no model named 'oral_1cpt'.*available: infusion_1cmt"):
        get("oral_1cpt")
    with pytest.raises(ModelLibraryError, match="did you mean oral_1cmt"):
        get("oral")


def test_get_passes_options_to_the_factory() -> None:
    model = get("oral_1cmt", error=Proportional(0.2))
    assert model.space.sigma_names == ("prop_sd",)
    assert model.space.sigma_init == (0.2,)


def test_register_as_call_and_as_decorator(scratch_names: list[str]) -> None:
    def base(error: Additive | None = None) -> PopulationModel:
        """My one-compartment model."""
        return get("iv_1cmt", error=error)

    assert register("t_call", base, tags=("Mine",)) is base
    scratch_names.append("t_call")

    @register("t_decorated", tags=("mine", "oral"), description="decorated")
    def decorated() -> PopulationModel:
        return get("oral_1cmt").with_initial({"tcl": 1.2})

    scratch_names.append("t_decorated")
    assert decorated().thetas["tcl"].init == 1.2  # the decorator returns the function
    assert get("t_call").title == "iv_1cmt"
    assert {m.name: m.description for m in search("mine")} == {
        "t_call": "My one-compartment model.", "t_decorated": "decorated"}


def test_register_refuses_duplicates_and_bad_names(scratch_names: list[str]) -> None:
    with pytest.raises(ValueError, match="already registered"):
        register("oral_1cmt", lambda: get("iv_1cmt"))
    with pytest.raises(ValueError, match="invalid model name"):
        register("2cmt model", lambda: get("iv_1cmt"))
    with pytest.raises(TypeError, match="callable"):
        register("t_not_callable", 42)  # type: ignore[call-overload]
    register("t_replaced", lambda: get("iv_1cmt"))
    scratch_names.append("t_replaced")
    register("t_replaced", lambda: get("iv_2cmt"), replace=True)
    assert get("t_replaced").title == "iv_2cmt"


def test_factory_returning_something_else_is_reported(scratch_names: list[str]) -> None:
    register("t_wrong", lambda: "not a model")
    scratch_names.append("t_wrong")
    with pytest.raises(ModelLibraryError, match="returned str, expected a PopulationModel"):
        get("t_wrong")


# ----------------------------------------------------------------- user files
USER_FILE = """
    from estimation.error_models import Proportional
    from model_library import get, register

    ready = get("iv_2cmt", error=Proportional(0.3))

    def factory(error=None):
        '''A user factory.'''
        return get("oral_1cmt", error=error).with_initial({"tv": 3.0})

    @register("t_user_registered", tags=("user",))
    def _hidden(error=None):
        return get("iv_1cmt", error=error)

    not_a_model = 42
    a_class = dict

    def returns_number():
        return 1.5
"""


def test_load_user_model_object_factory_and_registered_name(
    tmp_path: Path, scratch_names: list[str]
) -> None:
    path = write(tmp_path, USER_FILE)
    scratch_names.append("t_user_registered")
    ready = load_user_model(f"{path}:ready")
    assert ready.title == "iv_2cmt" and ready.space.sigma_names == ("prop_sd",)
    built = load_user_model(f"{path}:factory", error=Additive(0.5))
    assert built.thetas["tv"].init == 3.0 and built.space.sigma_names == ("add_sd",)
    # loading the same file again re-registers the same definition without complaint
    assert load_user_model(f"{path}:t_user_registered").title == "iv_1cmt"
    assert get("t_user_registered").title == "iv_1cmt"


def test_load_user_model_errors(tmp_path: Path, scratch_names: list[str]) -> None:
    path = write(tmp_path, USER_FILE)
    scratch_names.append("t_user_registered")
    with pytest.raises(ModelLibraryError, match="no file"):
        load_user_model(f"{tmp_path / 'absent.py'}:model")
    with pytest.raises(ModelLibraryError, match="path/to/file.py:NAME"):
        load_user_model(str(path))
    with pytest.raises(ModelLibraryError, match=r"defines no 'missing'.*factory, ready, returns_number"):
        load_user_model(f"{path}:missing")
    with pytest.raises(ModelLibraryError, match="is a int; expected a PopulationModel"):
        load_user_model(f"{path}:not_a_model")
    with pytest.raises(ModelLibraryError, match="is a type"):
        load_user_model(f"{path}:a_class")
    with pytest.raises(ModelLibraryError, match="returned float, expected a PopulationModel"):
        load_user_model(f"{path}:returns_number")
    with pytest.raises(ModelLibraryError, match="takes no options"):
        load_user_model(f"{path}:ready", error=Additive())
    broken = write(tmp_path, "import no_such_module_xyz\n", name="broken.py")
    with pytest.raises(ModelLibraryError, match=r"importing .*broken.py.* failed: ModuleNotFoundError"):
        load_user_model(f"{broken}:model")


# ------------------------------------------------ conventions of every library model
@pytest.mark.parametrize("name", ALL_MODELS)
def test_every_model_follows_the_naming_conventions(name: str) -> None:
    """model_library.naming's rules (DESIGN.md names made precise), on every library model."""
    model = get(name)
    assert isinstance(model, PopulationModel)
    model.structure.validate()
    assert check_model(name, model, documentation(name)) == []
    # the factory's default error is one of the DESIGN.md error models, with positive SDs
    assert all(v > 0 for v in model.space.sigma_init)
    assert all(b.matrix[0][0] > 0 for b in model.space.blocks)
    # typical values on log scale give sensible positive natural values
    for theta in model.space.theta_names:
        assert 1e-3 < math.exp(model.thetas[theta]) < 1e4, theta


def test_naming_check_reports_each_violation() -> None:
    model = get("oral_1cmt")
    bad = PopulationModel(
        model.structure.renamed("OralModel"), parameters={"KA": "exp(ka_log)", "CL": "exp(tcl + eta_cl)",
                                                          "V": "tv_v * exp(eta_vol)"},
        thetas={"ka_log": 0.4, "tcl": 1.0, "tv_v": 30.0}, omega={"eta_cl": 0.1, "eta_vol": 0.1},
        error=Additive(1.0, name="sigma"), name="OralModel")
    problems = check_model("OralModel", bad, "One line only.")
    expected = ["registry name 'OralModel'", "KA = exp(ka_log)", "V = tv_v*exp(eta_vol)",
                "theta 'ka_log'", "theta 'tv_v'",
                "residual-error parameter 'sigma'", "no 'Equations' section", "no 'References' section"]
    for text in expected:
        assert any(text in p for p in problems), (text, problems)


@pytest.mark.parametrize("name", BUILTIN)
def test_compartments_follow_nonmem_advan_numbering(name: str) -> None:
    structure = get(name).structure
    names = structure.compartment_names
    peripherals = {"1cmt": (), "2cmt": ("peripheral1",), "3cmt": ("peripheral1", "peripheral2")}[name[-4:]]
    if name.startswith("oral"):
        assert names == ("depot", "central") + peripherals
        assert structure.get_dosing("depot") is not None
    else:
        assert names == ("central",) + peripherals
    assert structure.get_dosing("central") is not None


def _nonmem_rows(dose_cmt: int, rate: float, obs_cmt: int) -> pd.DataFrame:
    return pd.DataFrame({
        "ID": [1, 1, 1, 1], "TIME": [0.0, 0.5, 2.0, 8.0], "DV": [".", 1.0, 2.0, 1.0],
        "AMT": [100, ".", ".", "."], "RATE": [rate, 0, 0, 0], "EVID": [1, 0, 0, 0],
        "MDV": [1, 0, 0, 0], "CMT": [dose_cmt, obs_cmt, obs_cmt, obs_cmt],
    })


@pytest.mark.parametrize("name", BUILTIN)
def test_nonmem_records_run_unchanged(name: str) -> None:
    structure = get(name).structure
    oral = name.startswith("oral")
    central = 2 if oral else 1
    cases = [(1, 0.0)] + ([(2, 0.0), (2, 50.0)] if oral else [(1, 50.0)])
    for dose_cmt, rate in cases:  # oral: depot and central doses; IV: bolus and infusion
        read_nonmem(_nonmem_rows(dose_cmt, rate, central)).check_model(structure)


def test_iv_models_simulate_bolus_and_infusion_as_analytic_one_compartment() -> None:
    model = get("infusion_1cmt")
    cl, v = math.exp(model.thetas["tcl"]), math.exp(model.thetas["tv"])
    k = cl / v
    rows = pd.concat([_nonmem_rows(1, 0.0, 1).assign(ID=1), _nonmem_rows(1, 50.0, 1).assign(ID=2)])
    sim = simulate(model.structure, {"CL": cl, "V": v}, rows.replace(".", np.nan))
    obs = sim[sim["EVID"] == 0]
    t = obs["TIME"].to_numpy()
    bolus = 100 / v * np.exp(-k * t)
    duration = 100 / 50.0
    infused = np.where(
        t <= duration, 50 / cl * (1 - np.exp(-k * t)),
        50 / cl * (1 - np.exp(-k * duration)) * np.exp(-k * (t - duration)),
    )
    expected = np.where(obs["ID"].to_numpy() == 1, bolus, infused)
    np.testing.assert_allclose(obs["Cc"].to_numpy(), expected, rtol=1e-8)
