"""How library models turn typical values into a population model.

Every library parameter ``P`` is written on the log scale (the expressions come from
:func:`estimation.model_edits.individual_expression`, which model edits use too), ``P = exp(tp + eta_p)``
(log-normal between-subject variability) or ``P = exp(tp)`` when it has no IIV, and
fractions in (0, 1) on the logit scale, ``P = expit(tp + eta_p)``. ``tp`` is the
lower-case name prefixed by ``t`` (``tcl``, ``tv1``, ``tka``), ``eta_p`` the random
effect (``eta_cl``); see :mod:`model_library.naming` for the full conventions.

Examples
--------
>>> from compartments import Model
>>> from estimation.error_models import Proportional
>>> s = (Model("iv").compartment("central", volume="V").elimination("central", cl="CL")
...      .dose("central").output("Cc", "central / V"))
>>> m = log_normal_model(s, {"CL": 4.0, "V": 70.0}, {"CL": 0.09}, Proportional(0.1))
>>> m.parameters
{'CL': 'exp(tcl + eta_cl)', 'V': 'exp(tv)'}
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from compartments import Model
from estimation.error_models import ErrorModel
from estimation.model_edits import individual_expression
from estimation.population import PopulationModel

__all__ = ["individual_expression", "log_normal_model", "log_normal_parameters"]


def log_normal_model(
    structure: Model,
    typical: Mapping[str, float],
    omega: Mapping[str, float],
    error: ErrorModel | Mapping[str, ErrorModel],
    *,
    fractions: tuple[str, ...] = (),
    name: str | None = None,
) -> PopulationModel:
    """A population model from natural-scale typical values.

    Parameters
    ----------
    structure
        The compartment model; every structural parameter needs a typical value.
    typical
        ``P -> typical value`` on the natural scale (positive; in (0, 1) for fractions),
        in the order of the parameter table.
    omega
        ``P -> variance of eta_p`` for the parameters with IIV (diagonal Omega).
    error
        Residual error model, or one per output.
    fractions
        Parameters on the logit scale (``expit``) instead of the log scale.
    name
        Model name (default: the structure's name).

    Returns
    -------
    PopulationModel

    Raises
    ------
    ValueError
        If a structural parameter has no typical value, or a value is out of range.

    Examples
    --------
    >>> from compartments import Model
    >>> from estimation.error_models import Additive
    >>> s = (Model("iv").compartment("central", volume="V").elimination("central", cl="CL")
    ...      .dose("central").output("Cc", "central / V"))
    >>> round(log_normal_model(s, {"CL": 4.0, "V": 70.0}, {}, Additive(1.0)).thetas["tcl"], 4)
    1.3863
    """
    params = structure.parameter_names
    missing = [p for p in params if p not in typical]
    unknown = [p for p in list(typical) + list(omega) if p not in params]
    if missing or unknown:
        raise ValueError(
            f"model {structure.name!r}: typical values missing for {missing}, given for parameters "
            f"the structure does not have {unknown} (structure parameters: {list(params)})"
        )
    parameters, thetas, omegas = log_normal_parameters(typical, omega, fractions=fractions,
                                                       where=f"model {structure.name!r}")
    return PopulationModel(structure, parameters=parameters, thetas=thetas, omega=omegas, error=error,
                           name=name or structure.name)


def log_normal_parameters(
    typical: Mapping[str, float],
    omega: Mapping[str, float],
    *,
    fractions: tuple[str, ...] = (),
    where: str = "model",
) -> tuple[dict[str, str], dict[str, float], dict[str, float]]:
    """Parameter expressions, thetas and eta variances of :func:`log_normal_model`.

    Examples
    --------
    >>> log_normal_parameters({"EC50": 1.0}, {"EC50": 0.1})
    ({'EC50': 'exp(tec50 + eta_ec50)'}, {'tec50': 0.0}, {'eta_ec50': 0.1})
    """
    thetas: dict[str, float] = {}
    for p in typical:  # the caller's order is the order of the parameter table
        value = float(typical[p])
        if p in fractions:
            if not 0 < value < 1:
                raise ValueError(f"{where}: fraction {p} must lie in (0, 1), got {value}")
            thetas[f"t{p.lower()}"] = math.log(value / (1 - value))
        else:
            if value <= 0:
                raise ValueError(f"{where}: typical {p} must be positive, got {value}")
            thetas[f"t{p.lower()}"] = math.log(value)
    parameters = {p: individual_expression(p, iiv=p in omega, fraction=p in fractions) for p in typical}
    omegas = {f"eta_{p.lower()}": float(omega[p]) for p in typical if p in omega}
    return parameters, thetas, omegas
