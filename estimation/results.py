"""Fit results: parameter table, OFV and information criteria, diagnostics, JSON I/O.

Examples
--------
>>> result = fit(model, data)  # doctest: +SKIP
>>> print(result.summary())  # doctest: +SKIP
>>> result.save("out/results.json"); FitResult.load("out/results.json")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import sympy as sp

from estimation.atomic_file import write_atomic
from estimation.covariance import covariance_step
from estimation.data import Dataset
from estimation.evaluator import Evaluator
from estimation.population import PopulationModel

LOG_2PI = math.log(2 * math.pi)


@dataclass(frozen=True)
class FitResult:
    """Everything a fit produced (immutable).

    ``ofv`` follows NONMEM: -2 log L without the N_obs log(2 pi) constant.
    ``parameters`` is the nlmixr2/NONMEM-style table (fixed or estimated, estimate, SE,
    RSE%, back-transformed value with 95% CI, BSV, shrinkage; see :func:`parameter_table`).
    """

    model_name: str
    method: str
    ofv: float
    converged: bool
    message: str
    iterations: int
    evaluations: int
    runtime_s: float
    n_obs: int
    n_subjects: int
    n_estimated: int
    theta: dict[str, float]
    omega: dict[str, float]
    sigma: dict[str, float]
    se: dict[str, float]
    parameters: pd.DataFrame
    etas: pd.DataFrame
    table: pd.DataFrame
    eta_shrinkage: dict[str, float]
    eps_shrinkage: dict[str, float]
    covariance_status: str
    covariance_kind: str | None
    covariance_matrix: np.ndarray | None
    covariance_names: tuple[str, ...]
    condition_number: float
    gradient_max: float
    history: list[tuple[int, float]] = field(default_factory=list)
    #: SAEM: the parameters after every iteration, one row per iteration with columns
    #: ``iteration``, ``phase`` ("exploration"/"smoothing") and the natural parameter names
    traces: pd.DataFrame | None = field(default=None, compare=False)
    #: SAEM: the linearised (FOCE-I) OFV at the estimates, and the Monte Carlo SE of ``ofv``
    #: (importance sampling)
    ofv_linearised: float | None = None
    ofv_mc_se: float | None = None
    #: the data column that chose each observation's output (e.g. "DVID"), if any; simulations
    #: and VPCs of this fit use it too
    output_column: str | None = None
    #: the fitted model and the data it was fitted to (kept in memory, not written to JSON;
    #: ``None`` after :meth:`load`)
    model: PopulationModel | None = field(default=None, compare=False, repr=False)
    data: Dataset | None = field(default=None, compare=False, repr=False)

    def final_model(self) -> PopulationModel:
        """The fitted model with its initial values set to the estimates.

        Examples
        --------
        >>> result.final_model().space.natural_init()  # doctest: +SKIP
        """
        if self.model is None:
            raise ValueError("this result was loaded from JSON and carries no model; "
                             "refit or pass the model explicitly")
        return self.model.with_initial({**self.theta, **self.omega, **self.sigma})

    # ------------------------------------------------------------ criteria
    @property
    def minus2loglik(self) -> float:
        """-2 log L including the N_obs log(2 pi) constant."""
        return self.ofv + self.n_obs * LOG_2PI

    @property
    def loglik(self) -> float:
        """Log-likelihood (with constant)."""
        return -self.minus2loglik / 2

    @property
    def aic(self) -> float:
        """Akaike information criterion (with constant, as nlmixr2)."""
        return self.minus2loglik + 2 * self.n_estimated

    @property
    def bic(self) -> float:
        """Bayesian information criterion, log(N_obs) penalty."""
        return self.minus2loglik + self.n_estimated * math.log(self.n_obs)

    def correlation(self) -> pd.DataFrame | None:
        """Correlation matrix of the estimates (None without a covariance step)."""
        if self.covariance_matrix is None:
            return None
        sd = np.sqrt(np.clip(np.diag(self.covariance_matrix), 1e-300, None))
        corr = self.covariance_matrix / np.outer(sd, sd)
        return pd.DataFrame(corr, index=list(self.covariance_names), columns=list(self.covariance_names))

    # -------------------------------------------------------------- views
    def to_dataframe(self) -> pd.DataFrame:
        """The parameter table."""
        return self.parameters.copy()

    def summary(self) -> str:
        """Text summary in the style of NONMEM / nlmixr2 printouts."""
        status = "converged" if self.converged else "NOT CONVERGED"
        lines = [
            f"popkin fit of {self.model_name!r} by {self.method}: {status} ({self.message})",
            f"OFV {self.ofv:.4f}   -2LL {self.minus2loglik:.4f}   AIC {self.aic:.4f}   BIC {self.bic:.4f}",
            f"{self.n_subjects} subjects, {self.n_obs} observations, {self.n_estimated} estimated "
            f"parameters, {self.iterations} iterations, {self.runtime_s:.2f} s",
            f"covariance step ({self.covariance_kind}): {self.covariance_status}"
            + (f", condition number {self.condition_number:.3g}"
               if np.isfinite(self.condition_number) else ""),
            "",
        ]
        table = self.parameters.copy()
        if "fixed" in table:  # as NONMEM's FIX
            table["fixed"] = np.where(table["fixed"].astype(bool), "FIX", "")
        with pd.option_context("display.width", 200, "display.max_columns", 20,
                               "display.float_format", lambda v: f"{v:.4g}"):
            lines.append(table.to_string(index=False, na_rep=""))
        if self.eps_shrinkage:
            eps = ", ".join(f"{k} {v:.1f}%" for k, v in self.eps_shrinkage.items())
            lines.append(f"\nepsilon shrinkage: {eps}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    # ----------------------------------------------------------------- I/O
    def to_json_dict(self) -> dict:
        """JSON-serialisable content (tables as lists of records)."""
        return {
            "model": self.model_name, "method": self.method, "ofv": self.ofv,
            "minus2loglik": self.minus2loglik, "aic": self.aic, "bic": self.bic,
            "converged": self.converged, "message": self.message, "iterations": self.iterations,
            "evaluations": self.evaluations, "runtime_s": self.runtime_s, "n_obs": self.n_obs,
            "n_subjects": self.n_subjects, "n_estimated": self.n_estimated, "theta": self.theta,
            "omega": self.omega, "sigma": self.sigma, "se": self.se,
            "eta_shrinkage": self.eta_shrinkage, "eps_shrinkage": self.eps_shrinkage,
            "covariance": {
                "kind": self.covariance_kind, "status": self.covariance_status,
                "names": list(self.covariance_names),
                "matrix": None if self.covariance_matrix is None else self.covariance_matrix.tolist(),
                "condition_number": _finite_or_none(self.condition_number),
            },
            "gradient_max": self.gradient_max,
            "history": [list(h) for h in self.history],
            "ofv_linearised": self.ofv_linearised, "ofv_mc_se": self.ofv_mc_se,
            "output_column": self.output_column,
            "traces": None if self.traces is None else _records(self.traces),
            "parameters": _records(self.parameters),
            "etas": _records(self.etas),
            "table": _records(self.table),
        }

    def save(self, path: str | os.PathLike) -> Path:
        """Write JSON atomically (temporary file, then rename)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        return write_atomic(path, json.dumps(_json_safe(self.to_json_dict()), indent=1, allow_nan=False))

    @classmethod
    def load(cls, path: str | os.PathLike) -> FitResult:
        """Read a result written by :meth:`save`."""
        d = json.loads(Path(path).read_text())
        cov = d["covariance"]
        return cls(
            model_name=d["model"], method=d["method"], ofv=d["ofv"], converged=d["converged"],
            message=d["message"], iterations=d["iterations"], evaluations=d["evaluations"],
            runtime_s=d["runtime_s"], n_obs=d["n_obs"], n_subjects=d["n_subjects"],
            n_estimated=d["n_estimated"], theta=d["theta"], omega=d["omega"], sigma=d["sigma"],
            se=_nan_if_none(d["se"]), parameters=pd.DataFrame(d["parameters"]), etas=pd.DataFrame(d["etas"]),
            table=pd.DataFrame(d["table"]), eta_shrinkage=_nan_if_none(d["eta_shrinkage"]),
            eps_shrinkage=_nan_if_none(d["eps_shrinkage"]), covariance_status=cov["status"],
            covariance_kind=cov["kind"],
            covariance_matrix=None if cov["matrix"] is None else np.asarray(cov["matrix"]),
            covariance_names=tuple(cov["names"]),
            condition_number=float("nan") if cov["condition_number"] is None else cov["condition_number"],
            gradient_max=d["gradient_max"], history=[tuple(h) for h in d["history"]],
            traces=None if d.get("traces") is None else pd.DataFrame(d["traces"]),
            ofv_linearised=d.get("ofv_linearised"), ofv_mc_se=d.get("ofv_mc_se"),
            output_column=d.get("output_column"),
        )


def _json_safe(value: object) -> object:
    """NaN and infinities become null (strict JSON); containers are converted recursively."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _nan_if_none(mapping: dict) -> dict:
    return {k: float("nan") if v is None else v for k, v in mapping.items()}


def _finite_or_none(value: float) -> float | None:
    return value if np.isfinite(value) else None


def _records(df: pd.DataFrame) -> list[dict]:
    return json.loads(df.to_json(orient="records"))


# ---------------------------------------------------------------- building
def build_result(
    evaluator: Evaluator, u: np.ndarray, etas: np.ndarray, *, converged: bool, message: str,
    iterations: int, evaluations: int, runtime: float, history: list[tuple[int, float]],
    gradient_max: float,
) -> FitResult:
    """Assemble a :class:`FitResult`: covariance step, diagnostics and parameter table."""
    from estimation.diagnostics import compute_diagnostics

    problem = evaluator.problem
    model = problem.model
    space = model.space
    natural = evaluator.natural(u)
    per_subject = evaluator.per_subject(natural, etas)
    etas = np.asarray(per_subject.eta)
    ofv = float(np.asarray(per_subject.ofv).sum())
    cov = covariance_step(evaluator, natural, etas, evaluator.method.covariance)
    table, ebe, eta_shrink, eps_shrink = compute_diagnostics(evaluator, natural, etas)
    names = space.natural_names
    values = dict(zip(names, natural.tolist(), strict=True))
    se = cov.standard_errors()
    theta = {n: values[n] for n in space.theta_names}
    omega = {n: values[f"omega({n})"] for n in space.omega_element_names}
    sigma = {n: values[n] for n in space.sigma_names}
    params = parameter_table(model, natural, se, eta_shrink)
    return FitResult(
        model_name=model.title, method=evaluator.method.name, ofv=ofv, converged=converged,
        message=message, iterations=iterations, evaluations=evaluations, runtime_s=runtime,
        n_obs=problem.n_observations, n_subjects=problem.n_subjects,
        n_estimated=int(space.estimated.sum()), theta=theta, omega=omega, sigma=sigma,
        se={n.removeprefix("omega(").removesuffix(")"): v for n, v in se.items()},
        parameters=params, etas=ebe, table=table, eta_shrinkage=eta_shrink,
        eps_shrinkage=eps_shrink, covariance_status=cov.status, covariance_kind=cov.kind,
        covariance_matrix=cov.matrix, covariance_names=cov.names,
        condition_number=cov.condition_number, gradient_max=gradient_max, history=history,
        model=model, data=problem.dataset, output_column=problem.output_column,
    )


def parameter_table(model: PopulationModel, natural: np.ndarray, se: dict[str, float],
                    eta_shrink: dict[str, float]) -> pd.DataFrame:
    """nlmixr2-style table: estimate, SE, RSE%, back-transformed value and 95% CI, BSV, shrinkage.

    A theta written ``exp(theta + ...)`` is back-transformed by exp, one written
    ``expit(theta + ...)`` (a fraction on the logit scale) by expit; the 95% CI is the
    transform of ``estimate -/+ 1.96 SE``. The BSV of a log-normal eta
    (``exp(... + eta)``) is the CV% sqrt(exp(omega^2) - 1), of a logit-normal one
    (``expit(... + eta)``) its SD on the logit scale (``bsv_kind`` "SD (logit)"), of any
    other eta its SD ("SD"). Fixed parameters (``fixed``) have no SE.

    Examples
    --------
    With ``F1 = expit(tf1 + eta_f1)`` (model_library's ``parallel_1cmt``) at tf1 = logit(0.6):

    >>> table = parameter_table(model, natural, se, shrinkage).set_index("parameter")  # doctest: +SKIP
    >>> table.loc["tf1", ["back_transformed", "bsv", "bsv_kind"]].tolist()  # doctest: +SKIP
    [0.6, 0.3, 'SD (logit)']
    """
    space = model.space
    values = dict(zip(space.natural_names, np.asarray(natural).tolist(), strict=True))
    fixed = dict(zip(space.natural_names, (not e for e in space.estimated), strict=True))
    scales = _scales_of(model)
    _, omega, _ = space.split(np.asarray(natural))
    omega = np.asarray(omega)
    rows = []
    for name in space.natural_names:
        est = values[name]
        s = se.get(name, float("nan"))
        kind = "theta" if name in space.theta_names else ("omega" if name.startswith("omega(") else "sigma")
        row = {"parameter": name, "type": kind, "fixed": fixed[name], "estimate": est, "se": s,
               "rse_pct": abs(100 * s / est) if est != 0 and np.isfinite(s) else float("nan")}
        back = _BACK_TRANSFORMS[scales.theta_scale.get(name, "natural")]
        finite = bool(np.isfinite(s))
        row.update(back_transformed=back(est),
                   ci_low=back(est - 1.96 * s) if finite else float("nan"),
                   ci_high=back(est + 1.96 * s) if finite else float("nan"))
        eta = scales.theta_eta.get(name)
        if eta is not None:
            k = space.eta_names.index(eta)
            var = omega[k, k]
            scale = scales.eta_scale.get(eta, "natural")
            row["bsv"] = 100 * math.sqrt(math.exp(var) - 1) if scale == "log" else math.sqrt(var)
            row["bsv_kind"] = _BSV_KINDS[scale]
            row["shrinkage_pct"] = eta_shrink.get(eta, float("nan"))
        rows.append(row)
    columns = ["parameter", "type", "fixed", "estimate", "se", "rse_pct", "back_transformed", "ci_low",
               "ci_high", "bsv", "bsv_kind", "shrinkage_pct"]
    return pd.DataFrame(rows).reindex(columns=columns)


def _expit(x: float) -> float:
    return 1 / (1 + math.exp(-x)) if x >= 0 else math.exp(x) / (1 + math.exp(x))


#: theta scale -> the map to the natural scale of its typical value
_BACK_TRANSFORMS = {"natural": float, "log": math.exp, "logit": _expit}
#: eta scale -> how its BSV is reported
_BSV_KINDS = {"natural": "SD", "log": "CV%", "logit": "SD (logit)"}


class _Scales(NamedTuple):
    #: theta -> "log" (the parameter is exp(theta + ...)) or "logit" (expit(theta + ...))
    theta_scale: dict[str, str]
    #: typical-value theta -> its eta
    theta_eta: dict[str, str]
    #: eta -> "log" (log-normal: exp(... + eta)) or "logit" (logit-normal: expit(... + eta))
    eta_scale: dict[str, str]


def _scales_of(model: PopulationModel) -> _Scales:
    """Thetas on log or logit scale, theta -> its eta, and log- or logit-normal etas, read off
    the expressions."""
    space = model.space
    scales = _Scales({}, {}, {})
    for expr in model.individual_expressions.values():
        thetas = [s.name for s in expr.free_symbols if s.name in space.theta_names]
        etas = [s.name for s in expr.free_symbols if s.name in space.eta_names]
        logit = _logit_argument(expr)
        # (scale, argument, whether the whole parameter is the transform of the argument)
        candidates = ([("logit", logit, True)] if logit is not None
                      else [("log", e.args[0], expr == e) for e in expr.atoms(sp.exp)])
        for scale, arg, whole in candidates:
            for s in arg.free_symbols:
                if sp.diff(arg, s) == 1:
                    if s.name in space.theta_names and whole:
                        scales.theta_scale[s.name] = scale
                    if s.name in space.eta_names:
                        scales.eta_scale[s.name] = scale
        if len(etas) == 1:
            # the typical value: not a covariate effect (e_...), and for linear forms
            # (th_cl + th_wt*WT) the theta whose effect does not depend on a covariate
            structural = [t for t in thetas if not t.startswith("e_")]
            if len(structural) > 1:
                covariates = set(model.covariate_names)
                structural = [
                    t for t in structural
                    if not {s.name for s in sp.diff(expr, sp.Symbol(t, real=True)).free_symbols} & covariates
                ]
            if len(structural) == 1:
                scales.theta_eta[structural[0]] = etas[0]
    return scales


def _logit_argument(expr: sp.Expr) -> sp.Expr | None:
    """``x`` when ``expr`` is ``expit(x) = 1 / (1 + exp(-x))``, else None."""
    for exp_term in expr.atoms(sp.exp):
        if expr == 1 / (1 + exp_term):
            return -exp_term.args[0]
    return None
