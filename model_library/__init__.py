"""Ready population models and the registry that holds them.

Examples
--------
>>> from model_library import get, list_models
>>> [m.name for m in list_models()]
['infusion_1cmt', 'iv_1cmt', 'iv_2cmt', 'oral_1cmt', 'oral_2cmt']
>>> get("oral_1cmt").parameters["CL"]
'exp(tcl + eta_cl)'
"""

from model_library import pk  # noqa: F401  (registers the built-in models)
from model_library.registry import (
    ModelInfo,
    ModelLibraryError,
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
    "get",
    "list_models",
    "load_user_model",
    "register",
    "search",
    "unregister",
]
