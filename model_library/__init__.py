"""Ready population models and the registry that holds them.

- :mod:`model_library.pk`: linear 1-, 2- and 3-compartment models, intravenous and oral;
- :mod:`model_library.absorption`: lag time, zero-order, transit (Savic 2007, chain and
  analytic), parallel first/zero-order absorption;
- :mod:`model_library.elimination`: Michaelis-Menten and mixed elimination;
- :mod:`model_library.tmdd`: target-mediated drug disposition (full and QSS);
- :mod:`model_library.pd` and :mod:`model_library.pkpd`: PD models (Emax, sigmoid Emax,
  linear, effect compartment, indirect response I-IV, Friberg) and :func:`link`, which
  joins any PK model to any PD model;
- :mod:`model_library.naming`: the naming conventions every library model follows;
- :mod:`model_library.catalogue`: the generated catalogue page (``make catalogue``).

Model edits (covariates, IIV, Omega blocks, error models, structural changes) live in
:mod:`estimation.model_edits` and work on any model.

Examples
--------
>>> from model_library import get, list_models
>>> len(list_models()) >= 28
True
>>> get("oral_1cmt").parameters["CL"]
'exp(tcl + eta_cl)'
"""

from model_library import absorption, elimination, pk, pkpd, tmdd  # noqa: F401  (register the models)
from model_library.pkpd import link
from model_library.registry import (
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

__all__ = [
    "ModelInfo",
    "ModelLibraryError",
    "documentation",
    "get",
    "link",
    "list_models",
    "load_user_model",
    "register",
    "search",
    "unregister",
]
