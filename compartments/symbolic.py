"""Symbolic form of a compartment model: ODE right-hand side, Jacobian,
sensitivity equations, dose-event parameters, outputs, linearity and closed forms.

Everything here is sympy and runs once per model; :mod:`compartments.compiled`
turns it into JAX functions.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from compartments.expressions import symbol
from compartments.graph import TIME, Model, ModelError


@dataclass(frozen=True)
class SymbolicSystem:
    """The ODE system dA/dt = f(A, p, t) + R built from a :class:`Model`.

    Attributes
    ----------
    states, params
        Amount symbols (state order) and parameter symbols.
    rhs
        f(A, p, t) as a column matrix (infusion rates R are added outside).
    jacobian, dfdp
        df/dA (n x n) and df/dp (n x n_params).
    sensitivity_rhs
        Right-hand side of the forward sensitivity equations dS/dt = J S + df/dp
        in the matrix symbols ``S_i_j`` (state i, parameter j).
    outputs
        Output expressions in amounts and parameters.
    bioavailability, lag, rate, duration
        Per state dose-event expressions (1, 0, nan and nan where not dosed).
    linear_matrix
        K with f = K A when f is linear, autonomous and has no constant term, else None.
    """

    model: Model
    states: tuple[sp.Symbol, ...]
    params: tuple[sp.Symbol, ...]
    rhs: sp.Matrix
    jacobian: sp.Matrix
    dfdp: sp.Matrix
    sensitivity_symbols: sp.Matrix
    sensitivity_rhs: sp.Matrix
    outputs: sp.Matrix
    bioavailability: sp.Matrix
    lag: sp.Matrix
    rate: sp.Matrix
    duration: sp.Matrix
    linear_matrix: sp.Matrix | None

    @property
    def is_linear(self) -> bool:
        """Whether the dynamics are linear in the amounts (f = K A)."""
        return self.linear_matrix is not None


def build_system(model: Model) -> SymbolicSystem:
    """Build the symbolic ODE system of ``model`` (validating it first).

    Examples
    --------
    >>> from compartments.graph import Model
    >>> m = (Model().compartment("central", volume="V").elimination("central", cl="CL")
    ...      .dose("central").output("Cc", "central/V"))
    >>> build_system(m).rhs
    Matrix([[-CL*central/V]])
    """
    model.validate()
    states = tuple(symbol(n) for n in model.compartment_names)
    params = tuple(symbol(n) for n in model.parameter_names)
    index = {s.name: i for i, s in enumerate(states)}
    rhs = [sp.Integer(0)] * len(states)
    for flow in model.flows:
        where = f"flow {flow.source} -> {flow.target or 'elimination'}"
        flux = model.resolve(flow.rate, source=flow.source, where=where)
        rhs[index[flow.source]] -= flux
        if flow.target is not None:
            rhs[index[flow.target]] += flux
    f = sp.Matrix([sp.simplify(e) if e.count_ops() < 40 else e for e in rhs])
    jac = f.jacobian(states)
    dfdp = f.jacobian(params) if params else sp.zeros(len(states), 0)
    sens = sp.Matrix(len(states), len(params), lambda i, j: symbol(f"S_{i}_{j}"))
    sens_rhs = jac * sens + dfdp
    outputs = sp.Matrix(
        [model.resolve(o.expression, source=None, where=f"output {o.name}") for o in model.outputs]
    )
    nan = sp.nan
    bio, lag, rate, dur = [], [], [], []
    for name in model.compartment_names:
        dosing = model.get_dosing(name)
        bio.append(dosing.bioavailability if dosing else sp.Integer(1))
        lag.append(dosing.lag if dosing else sp.Integer(0))
        rate.append(dosing.rate if dosing and dosing.rate is not None else nan)
        dur.append(dosing.duration if dosing and dosing.duration is not None else nan)
    return SymbolicSystem(
        model=model,
        states=states,
        params=params,
        rhs=f,
        jacobian=jac,
        dfdp=dfdp,
        sensitivity_symbols=sens,
        sensitivity_rhs=sens_rhs,
        outputs=outputs,
        bioavailability=sp.Matrix(bio),
        lag=sp.Matrix(lag),
        rate=sp.Matrix(rate),
        duration=sp.Matrix(dur),
        linear_matrix=_linear_matrix(f, jac, states),
    )


def _linear_matrix(f: sp.Matrix, jac: sp.Matrix, states: tuple[sp.Symbol, ...]) -> sp.Matrix | None:
    if TIME in f.free_symbols:
        return None
    if any(s in jac.free_symbols for s in states):
        return None
    if any(sp.simplify(e) != 0 for e in f.subs({s: 0 for s in states})):
        return None
    return jac


@dataclass(frozen=True)
class ClosedForm:
    """Exact propagator A(dt) = E(dt) A0 + G(dt) R of a one-compartment linear system,
    with its derivatives with respect to (A0, R, dt, p) in closed form."""

    a0: tuple[sp.Symbol, ...]
    r: tuple[sp.Symbol, ...]
    dt: sp.Symbol
    solution: sp.Matrix
    derivative: sp.Matrix


def one_compartment_closed_form(system: SymbolicSystem) -> ClosedForm | None:
    """Closed-form propagator when the system is a linear one-compartment model.

    That is one state (IV) or two states where the first empties into the
    second only (first-order absorption), as NONMEM's ADVAN1/ADVAN2.
    Returns ``None`` for any other structure.
    """
    K = system.linear_matrix
    if K is None or len(system.states) > 2:
        return None
    n = len(system.states)
    if n == 2 and not (sp.simplify(K[0, 1]) == 0 and sp.simplify(K[0, 0] + K[1, 0]) == 0):
        return None
    dt = symbol("dt")
    a0 = tuple(symbol(f"A0_{i}") for i in range(n))
    r = tuple(symbol(f"R_{i}") for i in range(n))
    if n == 1:
        k = -K[0, 0]
        sol = sp.Matrix([a0[0] * sp.exp(-k * dt) + r[0] / k * (1 - sp.exp(-k * dt))])
    else:
        ka, k = -K[0, 0], -K[1, 1]
        ead, ec = sp.exp(-ka * dt), sp.exp(-k * dt)
        depot = a0[0] * ead + r[0] / ka * (1 - ead)
        central = (
            a0[1] * ec
            + a0[0] * ka / (ka - k) * (ec - ead)
            + r[1] / k * (1 - ec)
            + r[0] * (1 / k * (1 - ec) - 1 / (ka - k) * (ec - ead))
        )
        sol = sp.Matrix([depot, central])
    variables = list(a0) + list(r) + [dt] + list(system.params)
    derivative = sol.jacobian(variables)
    return ClosedForm(a0=a0, r=r, dt=dt, solution=sol, derivative=derivative)


def require_symbols(system: SymbolicSystem, names: list[str]) -> None:
    """Raise if any of ``names`` is not a parameter of the system."""
    known = {p.name for p in system.params}
    missing = [n for n in names if n not in known]
    if missing:
        raise ModelError(f"unknown parameters {missing}; model parameters: {sorted(known)}")
