"""PK/PD models: any pharmacokinetic model linked to any pharmacodynamic model.

:func:`link` joins a PK population model (its output ``Cc`` drives the response) and a
:class:`~model_library.pd.PDModel`: one structure with both outputs (``Cc`` first,
``E`` second), the PK parameters, thetas, Omega and error unchanged, the PD parameters
added with the library's parameterisation, and one error model per output. Joint
datasets tell the outputs apart with a DVID column (1 = Cc, 2 = E), fitted with
``fit(model, data, output_column="DVID")``.

The registered PK/PD models link each PD model to the one-compartment intravenous
model ``iv_1cmt``: ``iv_1cmt_emax``, ``iv_1cmt_sigmoid_emax``, ``iv_1cmt_linear_effect``,
``iv_1cmt_effect_cmt_emax``, ``iv_1cmt_idr1`` ... ``iv_1cmt_idr4``, ``iv_1cmt_friberg``.

Examples
--------
>>> from model_library import get
>>> from model_library.pd import get_pd
>>> model = link(get("oral_2cmt"), get_pd("idr3"))
>>> model.structure.output_names
('Cc', 'E')
>>> model.title
'oral_2cmt_idr3'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace

from estimation.error_models import ErrorModel, Proportional
from estimation.parameters import OmegaBlock
from estimation.population import PopulationModel
from model_library.parameterisation import log_normal_parameters
from model_library.pd import PD_MODELS, PDModel, get_pd
from model_library.registry import get, register

__all__ = ["link"]


def link(pk: PopulationModel, pd: PDModel, *, name: str | None = None,
         error: Mapping[str, ErrorModel] | None = None) -> PopulationModel:
    """Link the PK model ``pk`` (through its output ``Cc``) to the PD model ``pd``.

    Parameters
    ----------
    pk
        A population model with an output ``Cc`` (the driving concentration).
    pd
        The pharmacodynamic model (see :mod:`model_library.pd`).
    name
        Name of the joint model (default ``<pk name>_<pd name>``).
    error
        Error models by output (default: the PK model's for ``Cc``, the PD model's for ``E``).

    Returns
    -------
    PopulationModel
        Outputs ``Cc`` and ``E``; thetas, etas and residual-error parameters of both.

    Raises
    ------
    ValueError
        If the PK model has no output ``Cc``, or the two models share compartment or
        parameter names.

    Examples
    --------
    >>> from model_library import get
    >>> from model_library.pd import get_pd
    >>> link(get("iv_1cmt"), get_pd("emax")).space.sigma_names
    ('add_sd', 'prop_sd', 'add_sd_e')
    """
    structure = pk.structure
    if "Cc" not in structure.output_names:
        raise ValueError(f"PK model {pk.title!r} has no output 'Cc' to drive the PD model "
                         f"(outputs: {list(structure.output_names)})")
    title = name or f"{pk.title}_{pd.name}"
    cc = structure.outputs[structure.output_names.index("Cc")]
    pk_structure = replace(structure, name=title, outputs=(cc,))
    parameters, thetas, omega = log_normal_parameters(pd.typical, pd.iiv, fractions=pd.fractions,
                                                      where=f"PD model {pd.name!r}")
    pk_error = pk.error if isinstance(pk.error, ErrorModel) else pk.error["Cc"]
    blocks = tuple(pk.space.blocks) + tuple(OmegaBlock((eta,), ((var,),)) for eta, var in omega.items())
    return PopulationModel(
        pd.attach(pk_structure, cc.expression),
        parameters={**pk.parameters, **parameters},
        thetas={**pk.thetas, **thetas},
        omega=blocks,
        error=dict(error) if error is not None else {"Cc": pk_error, "E": pd.error},
        name=title,
    )


def _register_iv_1cmt(pd_name: str) -> Callable[..., PopulationModel]:
    pd = get_pd(pd_name)
    name = f"iv_1cmt_{pd_name}"
    nonlinear = pd_name.startswith("idr") or pd_name == "friberg"
    tags = ("pkpd", "pk", "pd", "iv", "1cmt", pd_name) + (("ode",) if nonlinear else ("linear",))

    def factory(error: Mapping[str, ErrorModel] | None = None) -> PopulationModel:
        pk = get("iv_1cmt", error=Proportional(0.1))
        return link(pk, get_pd(pd_name), name=name, error=error)

    factory.__name__ = factory.__qualname__ = name
    factory.__doc__ = _docstring(pd, name)
    return register(name, factory, tags=tags, description=f"iv_1cmt linked to the {pd.title}")


def _docstring(pd: PDModel, name: str) -> str:
    rows = "\n".join(
        f"        t{p.lower():<10}{('logit ' if p in pd.fractions else 'log ') + p:<24}"
        f"{'yes' if p in pd.iiv else 'no':<6}{value:g}"
        for p, value in pd.typical.items())
    lines = pd.equations.replace(";  ", "\n").splitlines()
    equations = "\n".join(f"        {line.strip()}" for line in lines)
    return f"""The one-compartment intravenous model linked to the {pd.title}.

    Equations::

        d central/dt = -CL / V * central (+ infusion rate);  Cc = Cp = central / V
{equations}
        CL = exp(tcl + eta_cl), V = exp(tv + eta_v); PD parameters P = exp(tp [+ eta_p])
        (logit scale, expit(tp [+ eta_p]), for fractions)

    Compartments (NONMEM CMT): 1 ``central`` (doses){", then " + ", ".join(pd.compartments)
                                                     if pd.compartments else ""}.
    Outputs: DVID 1 ``Cc`` (mg/L), DVID 2 ``E`` (response units); fit joint data with
    ``fit(model, data, output_column="DVID")``.

    PK: CL 4 L/h, V 70 L (ACOP 2016), Omega 0.09 each, error ``Proportional(0.1)`` on Cc.
    PD parameters (theta, parameter, IIV, starting value)::

{rows}

    PD IIV variances {dict(pd.iiv)}; error on E ``{pd.error!r}``.

    Parameters
    ----------
    error
        Error models by output, ``{{"Cc": ..., "E": ...}}`` (default as above).

    Returns
    -------
    PopulationModel

    References
    ----------
    {pd.reference}

    Examples
    --------
    >>> from model_library import get
    >>> get("{name}").structure.output_names
    ('Cc', 'E')
    """


for _pd_name in PD_MODELS:
    _register_iv_1cmt(_pd_name)
