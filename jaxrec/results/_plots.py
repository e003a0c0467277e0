"""Standard figures of a results store: a metric against the budget (or eps), one line per
attack (or defense), averaged over the other keys (targets, seeds)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

from jaxrec import _checks
from jaxrec.report._plots import _save

__all__ = ["plot"]


def plot(df, *, metric: str, path: str | os.PathLike, k: int | None = None, x: str = "budget",
         hue: str = "attack", where: Mapping[str, Any] | None = None, logx: bool = False,
         title: str | None = None) -> Path:
  """Draws ``metric`` against ``x``, one line per value of ``hue``, and writes a PNG.

  Each point is the mean of the rows at that ``(hue, x)`` (over targets, seeds and any other
  key), with a band from their minimum to their maximum. Rows of several models are refused
  unless ``hue="model"`` or ``where`` picks one (a store's clean cell also holds the
  most-popular baseline's accuracy), and so are budgets that mix fractions and counts on a
  ``"budget"`` axis (plot against ``"num_fake"``). Rows whose ``x`` is null (the clean
  model: no budget) are drawn as a dashed horizontal line at their mean, labelled by their
  ``hue`` value (e.g. ``attack = none``).

  Args:
    df: rows of :func:`jaxrec.results.load` (any ``pandas.DataFrame`` with the columns named).
    metric: the row ``metric`` drawn, e.g. ``"target_hr"`` or ``"delta_ndcg"``.
    path: the PNG to write (its folder is created).
    k: the cut-off (rows with ``k == k``); ``None`` for a metric without one (``target_rank``,
      ``prediction_shift``).
    x: the column on the horizontal axis, e.g. ``"budget"``, ``"num_fake"`` or ``"eps"``.
    hue: the column that makes the lines, e.g. ``"attack"`` or ``"defense"``.
    where: other columns to select on, e.g. ``{"model": "bpr-mf"}``.
    logx: a logarithmic horizontal axis.
    title: the figure's title (default ``"<metric>@<k>"``).

  Returns:
    The path written.

  Raises:
    ValueError: ``k`` not a positive integer (or ``None``); a column named by ``x``, ``hue``
      or ``where`` (or ``metric``, ``k``, ``value``) is missing, or no row matches (the message
      lists the metrics and cut-offs present); the rows mix models (without ``hue="model"`` or
      ``where={"model": ...}``); ``x="budget"`` with budgets below 1 (fractions) and at least
      1 (counts).

  Source:
    jaxrec (matplotlib, Agg backend).
  """
  import matplotlib  # pylint: disable=import-outside-toplevel
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
  import numpy as np  # pylint: disable=import-outside-toplevel
  import pandas as pd  # pylint: disable=import-outside-toplevel

  if k is not None:
    k = _checks.integer("k", k, low=1)
  where = dict(where or {})
  needed = ["metric", "k", "value", x, hue, *where]
  missing = [c for c in needed if c not in df.columns]
  if missing:
    raise ValueError(f"the rows have no column(s) {missing}; columns: {list(df.columns)}")
  sel = df["metric"] == metric
  sel &= df["k"].isna() if k is None else (df["k"] == k).fillna(False)
  for column, value in where.items():
    sel &= (df[column] == value).fillna(False)
  rows = df[sel.astype(bool)]
  if rows.empty:
    present = sorted({(str(m), None if pd.isna(kk) else int(kk))
                      for m, kk in zip(df["metric"], df["k"].astype(object))},
                     key=lambda p: (p[0], -1 if p[1] is None else p[1]))
    shown = ", ".join(m if kk is None else f"{m}@{kk}" for m, kk in present[:30])
    raise ValueError(f"no row has metric {metric!r} at k={k}"
                     + (f" and {where}" if where else "") + f"; present: {shown}")
  if "model" in rows.columns and hue != "model" and "model" not in where:
    models = sorted(rows["model"].dropna().astype(str).unique())
    if len(models) > 1:
      raise ValueError(f"the rows of {metric!r} mix the models {models}: their mean would blend "
                       f"them (e.g. the clean line with a baseline's); pick one with "
                       f"where={{'model': {models[-1]!r}}}, or hue='model'")
  if x == "budget":
    budgets = rows["budget"].dropna().astype(float)
    fractions = sorted(set(budgets[budgets < 1].tolist()))
    counts = sorted(set(budgets[budgets >= 1].tolist()))
    if fractions and counts:
      raise ValueError(f"the budgets mix fractions of the real users ({fractions}) and "
                       f"counts of fake users ({counts}): one axis would misplace them; "
                       "plot against x='num_fake' (the number of fake users) instead")
  fig, ax = plt.subplots(figsize=(6, 4))
  for label in sorted(rows[hue].dropna().astype(str).unique()):
    mine = rows[rows[hue].astype(str) == label]
    line = mine[mine[x].notna()]
    if not line.empty:
      stats = line.groupby(line[x].astype(float))["value"].agg(["mean", "min", "max"])
      xs = stats.index.to_numpy(np.float64)
      ax.plot(xs, stats["mean"], marker="o", label=f"{hue} = {label}")
      if (stats["max"] > stats["min"]).any():
        ax.fill_between(xs, stats["min"], stats["max"], alpha=0.15)
    flat = mine[mine[x].isna()]
    if not flat.empty:
      ax.axhline(float(flat["value"].mean()), linestyle="--", color="black" if label == "none"
                 else None, label=f"{hue} = {label}")
  if logx:
    ax.set_xscale("log")
  ax.set_xlabel(x)
  ax.set_ylabel(metric if k is None else f"{metric}@{k}")
  ax.set_title(title if title is not None else (metric if k is None else f"{metric}@{k}"))
  ax.grid(alpha=0.3)
  ax.legend(fontsize=8)
  return _save(fig, path)
