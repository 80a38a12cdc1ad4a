"""popkin: population pharmacokinetics in Python.

One import for the main API; the code lives in the layers below
(``compartments``, ``estimation``, ``model_library``).

Examples
--------
>>> import popkin
>>> model = popkin.get("oral_1cmt", error=popkin.Additive(0.7))
>>> model.space.sigma_names
('add_sd',)
>>> result = popkin.fit(model, popkin.read_nonmem(popkin.example_path("theo_sd")))  # doctest: +SKIP
"""

from compartments import Model
from compartments.events import Regimen, bolus, infusion
from compartments.simulate import simulate
from estimation.data import DataError, example_path, read_nonmem
from estimation.error_models import Additive, Combined, Exponential, Proportional
from estimation.fit import fit
from estimation.methods import AGQ, FO, FOCE, FOCEI, SAEM, Laplace
from estimation.population import PopulationModel
from estimation.results import FitResult
from model_library import get, list_models, load_user_model, register, search

__all__ = [
    "AGQ",
    "FO",
    "FOCE",
    "FOCEI",
    "SAEM",
    "Additive",
    "Combined",
    "DataError",
    "Exponential",
    "FitResult",
    "Laplace",
    "Model",
    "PopulationModel",
    "Proportional",
    "Regimen",
    "bolus",
    "example_path",
    "fit",
    "get",
    "infusion",
    "list_models",
    "load_user_model",
    "read_nonmem",
    "register",
    "search",
    "simulate",
]
