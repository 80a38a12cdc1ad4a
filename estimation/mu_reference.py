"""Mu-referencing: which random effects enter as ``T(P) = mu(theta, covariates) + eta``.

SAEM samples, for such an eta, the individual parameter ``phi = mu + eta`` (on the scale
T: log for ``P = exp(...)`` and products of powers, identity for ``P = theta + ... + eta``),
so that the thetas entering ``mu`` linearly (with covariate-only coefficients) and Omega
have closed-form M-steps from the sufficient statistics E[phi] and E[phi phi'].

Read off the sympy expressions of :attr:`PopulationModel.individual_expressions`:

- an eta is *mu-referenced* when it appears in exactly one structural-parameter
  expression, alone (no other eta), and that expression is ``T^-1(a + eta)`` with ``a``
  free of etas (``exp(tcl + e_wt*log(WT/70) + eta_cl)``, ``tv*exp(eta)``,
  ``th_cl + th_wt*(WT - 70) + eta_cl``); the state SAEM samples is then ``phi = a + eta``;
- a theta is *closed-form* (a "mu theta") when it is estimated, unbounded, appears in
  exactly one such ``a`` and nowhere else, linearly with a coefficient free of thetas;
- *prediction thetas* change the predictions at a fixed sampled state: every theta of an
  expression that is not mu-referenced (``KA = exp(tka)``, ``CL = tcl * exp(eta_cl)**2``).

Every other estimated theta, and the residual-error parameters, get a numerical M-step.

Examples
--------
>>> from model_library import get  # doctest: +SKIP
>>> mu = MuReference.of(get("oral_1cmt"))  # doctest: +SKIP
>>> mu.transforms, mu.mu_thetas  # doctest: +SKIP
(('log', 'log', 'log'), ('tka', 'tcl', 'tv'))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import sympy as sp

from estimation.population import PopulationModel

Array = jnp.ndarray


@dataclass(frozen=True)
class MuReference:
    """How each eta enters its parameter, and which thetas have a closed-form M-step.

    Attributes
    ----------
    transforms
        Per eta (in ``space.eta_names`` order): ``"log"``, ``"identity"`` (mu-referenced)
        or ``None`` (the eta itself is sampled; its mean is 0).
    mu_expressions
        Per eta: ``a`` of ``T(P) = a + eta`` (0 for etas that are not mu-referenced).
    mu_thetas
        Thetas updated in closed form (generalised least squares on E[phi]).
    numerical_thetas
        Estimated thetas updated by the numerical M-step.
    prediction_thetas
        Thetas that change the predictions at a fixed sampled state.
    """

    theta_names: tuple[str, ...]
    eta_names: tuple[str, ...]
    covariate_names: tuple[str, ...]
    transforms: tuple[str | None, ...]
    mu_expressions: tuple[sp.Expr, ...]
    mu_thetas: tuple[str, ...]
    numerical_thetas: tuple[str, ...]
    prediction_thetas: tuple[str, ...]

    @classmethod
    def of(cls, model: PopulationModel) -> MuReference:
        """Analyse ``model``'s individual parameter expressions."""
        space = model.space
        exprs = model.individual_expressions
        eta_set = set(space.eta_names)
        theta_set = set(space.theta_names)
        transforms: list[str | None] = []
        mus: list[sp.Expr] = []
        mu_expr_of: dict[str, str] = {}  # structural parameter -> its (mu-referenced) eta
        for eta in space.eta_names:
            holders = [p for p, e in exprs.items() if sp.Symbol(eta, real=True) in e.free_symbols]
            form = None
            a: sp.Expr = sp.Integer(0)
            if len(holders) == 1:
                expr = exprs[holders[0]]
                others = {s.name for s in expr.free_symbols} & (eta_set - {eta})
                if not others:
                    form, a = _mu_form(expr, sp.Symbol(eta, real=True))
            if form is not None:
                mu_expr_of[holders[0]] = eta
            transforms.append(form)
            mus.append(a)
        # thetas and where they appear
        places: dict[str, list[str]] = {t: [] for t in space.theta_names}
        for p, e in exprs.items():
            for s in e.free_symbols:
                if s.name in theta_set:
                    places[s.name].append(p)
        mu_thetas = []
        for name, theta in zip(space.theta_names, space.thetas, strict=True):
            where = places[name]
            if theta.fixed or theta.bounded or len(where) != 1 or where[0] not in mu_expr_of:
                continue
            k = space.eta_names.index(mu_expr_of[where[0]])
            coefficient = sp.diff(mus[k], sp.Symbol(name, real=True))
            if coefficient == 0 or {s.name for s in coefficient.free_symbols} & theta_set:
                continue
            mu_thetas.append(name)
        numerical = tuple(n for n, t in zip(space.theta_names, space.thetas, strict=True)
                          if not t.fixed and n not in mu_thetas)
        prediction = tuple(sorted(
            {s.name for p, e in exprs.items() if p not in mu_expr_of for s in e.free_symbols} & theta_set,
            key=space.theta_names.index))
        return cls(
            theta_names=space.theta_names, eta_names=space.eta_names,
            covariate_names=model.covariate_names, transforms=tuple(transforms),
            mu_expressions=tuple(mus), mu_thetas=tuple(mu_thetas), numerical_thetas=numerical,
            prediction_thetas=prediction,
        )

    @property
    def referenced(self) -> np.ndarray:
        """Boolean mask over etas: True where the sampled state is ``phi = mu + eta``."""
        return np.asarray([t is not None for t in self.transforms], dtype=bool)

    def mu_function(self) -> Callable[[Array, Array], Array]:
        """Compiled ``(theta, covariates) -> mu`` (one entry per eta; 0 where not referenced)."""
        th = [sp.Symbol(n, real=True) for n in self.theta_names]
        cv = [sp.Symbol(n, real=True) for n in self.covariate_names]
        raw = sp.lambdify([th, cv], list(self.mu_expressions), modules="jax", cse=True)
        k = len(self.eta_names)

        def mu(theta: Array, cov: Array) -> Array:
            if not k:
                return jnp.zeros(0)
            return jnp.stack([jnp.asarray(v, dtype=jnp.float64) for v in raw(theta, cov)])

        return mu

    def design(self, covariates: np.ndarray) -> np.ndarray:
        """``X_i = d mu_i / d theta_mu`` per subject, shape (subjects, etas, mu thetas).

        mu is linear in the mu thetas with covariate-only coefficients, so X does not
        depend on the thetas (it is evaluated at theta = 0).
        """
        mu = self.mu_function()
        index = np.asarray([self.theta_names.index(n) for n in self.mu_thetas], dtype=int)
        theta0 = jnp.zeros(len(self.theta_names))
        jac = jax.vmap(jax.jacfwd(mu), in_axes=(None, 0))(theta0, jnp.asarray(covariates))
        return np.asarray(jac)[:, :, index].reshape(len(covariates), len(self.eta_names), len(index))


def _mu_form(expr: sp.Expr, eta: sp.Symbol) -> tuple[str | None, sp.Expr]:
    """``("identity", a)`` if expr = a + eta, ``("log", a)`` if log(expr) = a + eta, else (None, 0)."""
    linear = sp.expand(expr - eta)
    if eta not in linear.free_symbols:
        return "identity", linear
    if expr.is_positive is not False:
        log_expr = sp.expand(sp.expand_log(sp.log(expr), force=True) - eta)
        if eta not in log_expr.free_symbols and not log_expr.has(sp.log(0)):
            return "log", log_expr
    return None, sp.Integer(0)
