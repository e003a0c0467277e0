"""The explanatory regression of a robustness study: ordinary least squares with statsmodels.

The robustness measure of each sub-dataset is regressed on its characteristics, each
standardised (mean 0, sample standard deviation 1 over the sub-datasets), so a coefficient is the
change of the measure per standard deviation of the characteristic, and coefficients of
variables on different scales compare. The response keeps its units.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping, Sequence

import numpy as np

from jaxrec import _checks

__all__ = ["Coefficient", "OLSFit", "fit_ols"]


@dataclasses.dataclass(frozen=True)
class Coefficient:
  """One term of an OLS fit.

  Attributes:
    term: the predictor's name (``"const"`` for the intercept).
    estimate: the coefficient, in response units per standard deviation of the predictor
      (per unit for unstandardised fits).
    std_error: its (homoscedastic) standard error. t: ``estimate / std_error``.
    p_value: two-sided p-value of ``t`` (Student t, ``n - p`` degrees of freedom).
    ci_low, ci_high: the 95% confidence interval.
  """

  term: str
  estimate: float
  std_error: float
  t: float
  p_value: float
  ci_low: float
  ci_high: float


@dataclasses.dataclass(frozen=True)
class OLSFit:
  """An OLS fit: its coefficients (intercept first), R squared, adjusted R squared, the number
  of observations, the response's name, and the predictors' means and standard deviations used
  to standardise them (``None`` when not standardised)."""

  response: str
  coefficients: tuple[Coefficient, ...]
  r_squared: float
  adj_r_squared: float
  num_obs: int
  means: dict[str, float] | None
  stds: dict[str, float] | None

  def coefficient(self, term: str) -> Coefficient:
    """The coefficient of ``term``.

    Raises:
      KeyError: no such term.
    """
    for c in self.coefficients:
      if c.term == term:
        return c
    raise KeyError(f"no term {term!r}; terms are {[c.term for c in self.coefficients]}")


def fit_ols(table: Mapping[str, Sequence[float]], response: str, predictors: Sequence[str], *,
            standardize: bool = True) -> OLSFit:
  """Ordinary least squares of ``table[response]`` on ``table[predictors]`` with an intercept.

  Args:
    table: columns by name, each a sequence of ``n`` finite numbers (one per sub-dataset).
    response: the column explained (e.g. ``"delta_target_hr"``), in its own units.
    predictors: the explanatory columns (e.g. ``log_shape``, ``log_density``), at least one.
    standardize: z-score each predictor (sample standard deviation, ``ddof=1``) first.

  Returns:
    An :class:`OLSFit` (statsmodels' ``OLS(...).fit()``: classical standard errors, two-sided
    t-test p-values, 95% intervals).

  Raises:
    ValueError: a missing column, columns of different lengths, non-finite values, a predictor
      named twice or constant over the table, collinear predictors, fewer observations than
      terms + 1.

  Source:
    Ordinary least squares as in Deldjoo, Di Noia, Di Sciascio, Merra, SIGIR 2020, Sec. 3.3
    (robustness regressed on the dataset characteristics); computed by statsmodels (Seabold,
    Perktold, "statsmodels: Econometric and statistical modeling with python", SciPy 2010).
  """
  import statsmodels.api as sm  # pylint: disable=import-outside-toplevel

  predictors = list(predictors)
  if not predictors:
    raise ValueError("fit_ols needs at least one predictor")
  if len(set(predictors)) != len(predictors):
    raise ValueError(f"a predictor is named twice: {predictors}")
  columns = {}
  for name in [response, *predictors]:
    if name not in table:
      raise ValueError(f"column {name!r} is not in the table (columns: {sorted(table)})")
    col = np.asarray(table[name], np.float64)
    if col.ndim != 1 or not np.all(np.isfinite(col)):
      raise ValueError(f"column {name!r} must be a 1-D sequence of finite numbers")
    columns[name] = col
  n = {c.size for c in columns.values()}
  if len(n) != 1:
    raise ValueError(f"columns have different lengths: { {k: v.size for k, v in columns.items()} }")
  n = n.pop()
  _checks.integer("number of observations", n, low=len(predictors) + 2)
  x = np.stack([columns[p] for p in predictors], axis=1)
  std = x.std(axis=0, ddof=1)
  if np.any(std == 0):
    raise ValueError(f"predictor {predictors[int(np.argmin(std))]!r} is constant over the "
                     "table: it explains nothing (drop it)")
  mean = x.mean(axis=0)
  if standardize:
    x = (x - mean) / std
  design = np.column_stack([np.ones(n), (x - x.mean(axis=0)) / x.std(axis=0, ddof=1)])
  if np.linalg.matrix_rank(design) < design.shape[1]:
    raise ValueError(f"the predictors {predictors} are collinear (with the intercept): their "
                     "coefficients are not identified; drop one of each dependent group")
  result = sm.OLS(columns[response], sm.add_constant(x, has_constant="add")).fit()
  ci = np.asarray(result.conf_int(0.05))
  terms = ["const", *predictors]
  coefficients = tuple(
      Coefficient(term=t, estimate=float(result.params[j]), std_error=float(result.bse[j]),
                  t=float(result.tvalues[j]), p_value=float(result.pvalues[j]),
                  ci_low=float(ci[j, 0]), ci_high=float(ci[j, 1]))
      for j, t in enumerate(terms))
  return OLSFit(response=response, coefficients=coefficients,
                r_squared=float(result.rsquared), adj_r_squared=float(result.rsquared_adj),
                num_obs=int(n),
                means=dict(zip(predictors, map(float, mean))) if standardize else None,
                stds=dict(zip(predictors, map(float, std))) if standardize else None)
