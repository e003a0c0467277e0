"""Figures drawn from tidy report rows (matplotlib, imported lazily, Agg backend)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["perturbation_figure", "plot_apr_grid", "plot_coefficients", "plot_content_effects"]

# (metric, attack, title): panels of the APR figure; a metric under attack uses the largest
# robustness budget present in the rows
_PANELS = (("hr", "none", "HR@{k}"), ("ndcg", "none", "nDCG@{k}"),
           ("coverage", "none", "item coverage@{k}"), ("gini", "none", "Gini of exposure@{k}"),
           ("arp", "none", "ARP@{k} (mean training popularity)"), ("aplt", "none", "APLT@{k}"),
           ("hr_drop", "fgsm", "relative HR@{k} drop, FGSM eps={b:g}"),
           ("hr_drop", "pgd", "relative HR@{k} drop, PGD eps={b:g}"))


def plot_apr_grid(rows: list[dict], path: str | os.PathLike, *, k: int = 10) -> Path:
  """Metric versus APR's eps, one line per lambda, BPR dashed, for every panel of the grid.

  Args:
    rows: tidy rows with grid keys ``eps`` and ``lambda`` (as written by the APR section of
      ``jaxrec audit`` and ``experiments/apr_bias.py``).
    path: the PNG to write.
    k: the cut-off shown.

  Returns:
    The path written.

  Raises:
    ValueError: no rows with ``eps``/``lambda`` keys at cut-off ``k``.
  """
  import matplotlib  # pylint: disable=import-outside-toplevel
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel

  grid = [r for r in rows if "eps" in r and "lambda" in r and r.get("k") == k]
  if not grid:
    raise ValueError(f"no rows with eps and lambda keys at k={k} to plot")
  fig, axes = plt.subplots(2, 4, figsize=(16, 7), squeeze=False)
  for ax, (metric, attack, title) in zip(axes.ravel(), _PANELS):
    sel = [r for r in grid if r["metric"] == metric and r["attack"] == attack]
    if attack != "none" and sel:
      budget = max(r["budget"] for r in sel)
      sel = [r for r in sel if r["budget"] == budget]
      title = title.format(k=k, b=budget)
    else:
      title = title.format(k=k)
    ax.set_title(title, fontsize=10)
    if not sel:
      ax.set_axis_off()
      continue
    for r in sel:
      if r["lambda"] == 0:
        ax.axhline(r["value"], color="black", linestyle="--", label="BPR")
    for lam in sorted({r["lambda"] for r in sel if r["lambda"] > 0}):
      pts = sorted((r["eps"], r["value"]) for r in sel if r["lambda"] == lam)
      ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=f"APR lambda={lam:g}")
    if any(r["eps"] > 0 for r in sel):
      ax.set_xscale("log")
    ax.set_xlabel("APR eps")
    ax.grid(alpha=0.3)
  axes[0, 0].legend(fontsize=8)
  return _save(fig, path)


def plot_coefficients(rows: list[dict], path: str | os.PathLike) -> Path:
  """Standardised OLS coefficients with 95% intervals (``estimate +- 1.96 SE``), one panel per
  response, one marker per attack, the intercept left out.

  Args:
    rows: tidy rows with ``metric`` ``"ols_estimate"`` / ``"ols_std_error"`` and grid keys
      ``response`` and ``term`` (as written by ``jaxrec characteristics``).
    path: the PNG to write.

  Returns:
    The path written.

  Raises:
    ValueError: no coefficient rows.
  """
  import matplotlib  # pylint: disable=import-outside-toplevel
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel

  coef = {(r["attack"], r["response"], r["term"]): r["value"] for r in rows
          if r["metric"] == "ols_estimate" and r.get("term") not in (None, "const")}
  se = {(r["attack"], r["response"], r["term"]): r["value"] for r in rows
        if r["metric"] == "ols_std_error" and r.get("term") not in (None, "const")}
  if not coef:
    raise ValueError("no OLS coefficient rows to plot")
  responses = sorted({key[1] for key in coef})
  attacks = sorted({key[0] for key in coef})
  terms = list(dict.fromkeys(key[2] for key in coef))
  fig, axes = plt.subplots(1, len(responses), figsize=(6 * len(responses), 1 + 0.6 * len(terms)),
                           squeeze=False)
  for ax, response in zip(axes[0], responses):
    for j, attack in enumerate(attacks):
      offset = (j - (len(attacks) - 1) / 2) * 0.15
      ys, xs, errs = [], [], []
      for t, term in enumerate(terms):
        if (attack, response, term) in coef:
          ys.append(t + offset)
          xs.append(coef[(attack, response, term)])
          errs.append(1.96 * se[(attack, response, term)])
      ax.errorbar(xs, ys, xerr=errs, fmt="o", capsize=3, label=attack)
    ax.axvline(0.0, color="black", linewidth=0.8)
    ax.set_yticks(range(len(terms)))
    ax.set_yticklabels(terms)
    ax.invert_yaxis()
    ax.set_title(f"{response}: change per SD of the characteristic", fontsize=10)
    ax.legend(fontsize=8)
  fig.tight_layout()
  path = Path(path)
  fig.savefig(path, dpi=120)
  plt.close(fig)
  return path


def perturbation_figure(clean, perturbed, path: str | os.PathLike, *, amplify: float = 10.0,
                        titles=None, suptitle: str | None = None) -> Path:
  """Clean images, their perturbed versions and the amplified difference, one column per image.

  Rows: the clean image, the perturbed image, and ``0.5 + amplify * (perturbed - clean)``
  clipped to ``[0, 1]`` (mid-grey where nothing changed; brighter where a pixel went up, darker
  where it went down). 1-channel images are drawn in greyscale.

  Args:
    clean, perturbed: ``(N, H, W, C)`` (or ``(H, W, C)`` for one image) pixel values in
      ``[0, 1]``, ``C`` 1 or 3, the same shape.
    path: the PNG to write.
    amplify: factor of the difference row (10: a change of 8/255 shows as about 0.31).
    titles: ``N`` column titles (e.g. item ids), or ``None``.
    suptitle: a title over the figure, or ``None``.

  Returns:
    The path written.

  Raises:
    ValueError: shapes that differ or are not images, no image, ``titles`` of another length,
      ``amplify`` not a positive number.

  Source:
    jaxrec (matplotlib; the amplified difference as in Goodfellow, Shlens, Szegedy, ICLR 2015,
    Fig. 1).
  """
  import numpy as np  # pylint: disable=import-outside-toplevel
  import matplotlib  # pylint: disable=import-outside-toplevel
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel

  clean = np.asarray(clean, np.float64)
  perturbed = np.asarray(perturbed, np.float64)
  if clean.ndim == 3:
    clean, perturbed = clean[None], perturbed[None]
  if clean.shape != perturbed.shape:
    raise ValueError(f"clean {clean.shape} and perturbed {perturbed.shape} differ in shape")
  if clean.ndim != 4 or clean.shape[-1] not in (1, 3) or clean.shape[0] == 0:
    raise ValueError(f"images must be (N, H, W, C) with N >= 1 and C 1 or 3, got {clean.shape}")
  if not (isinstance(amplify, (int, float)) and amplify > 0):
    raise ValueError(f"amplify must be a positive number, got {amplify!r}")
  n = clean.shape[0]
  if titles is not None and len(titles) != n:
    raise ValueError(f"titles has {len(titles)} entries for {n} images")
  diff = np.clip(0.5 + amplify * (perturbed - clean), 0.0, 1.0)
  grey = clean.shape[-1] == 1
  fig, axes = plt.subplots(3, n, figsize=(2.2 * n + 1.2, 6.8), squeeze=False)
  labels = ("clean", "perturbed", f"difference x{amplify:g}")
  for r, (label, imgs) in enumerate(zip(labels, (clean, np.clip(perturbed, 0, 1), diff))):
    for j in range(n):
      ax = axes[r, j]
      img = imgs[j, :, :, 0] if grey else imgs[j]
      ax.imshow(img, cmap="gray" if grey else None, vmin=0.0, vmax=1.0,
                interpolation="nearest")
      ax.set_xticks([])
      ax.set_yticks([])
      if j == 0:
        ax.set_ylabel(label)
      if r == 0 and titles is not None:
        ax.set_title(str(titles[j]), fontsize=9)
  if suptitle:
    fig.suptitle(suptitle)
  return _save(fig, path)


# (metric, attack, title) panels of the content figure, each against the pixel budget
_CONTENT_PANELS = (("target_hr", "score-push", "pushed items' HR@{k}"),
                   ("success_rate", "taamr", "TAaMR success rate"),
                   ("chr_source", "taamr", "CHR@{k} of the attacked category"),
                   ("psnr", "score-push", "PSNR of the pushed images (dB)"))


def plot_content_effects(rows: list[dict], path: str | os.PathLike, *, k: int = 10) -> Path:
  """Content-attack effects versus the pixel budget, one line per defense: the pushed items'
  HR@k (the clean value at eps 0), TAaMR's success rate, the attacked category's CHR@k and the
  PSNR of the perturbed images.

  Args:
    rows: tidy rows of :func:`jaxrec.audit.content_section` (one dataset).
    path: the PNG to write.
    k: the cut-off shown.

  Returns:
    The path written.

  Raises:
    ValueError: no content rows with a pixel budget (``eps_unit == "/255"``).

  Source:
    jaxrec (matplotlib).
  """
  import matplotlib  # pylint: disable=import-outside-toplevel
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel

  pixel = [r for r in rows if r.get("surface") == "content" and r.get("eps_unit") == "/255"]
  if not pixel:
    raise ValueError("no content rows with a pixel budget (eps in /255) to plot")
  defenses = list(dict.fromkeys(r["defense"] for r in pixel))
  fig, axes = plt.subplots(1, len(_CONTENT_PANELS), figsize=(4.2 * len(_CONTENT_PANELS), 3.6))
  for ax, (metric, attack, title) in zip(axes, _CONTENT_PANELS):
    want_k = k if metric in ("target_hr", "chr_source") else None
    for defense in defenses:
      pts = sorted((r["eps"], r["value"]) for r in pixel if r["defense"] == defense
                   and r["attack"] == attack and r["metric"] == metric and r["k"] == want_k)
      clean = [r["value"] for r in rows if r.get("surface") == "content"
               and r["defense"] == defense and r["attack"] == "none" and r["metric"] == metric
               and r["k"] == want_k]
      if clean:
        pts = [(0.0, clean[0])] + pts
      if pts:
        ax.plot(*zip(*pts), marker="o", label=defense)
    ax.set_title(title.format(k=k), fontsize=10)
    ax.set_xlabel("eps (/255)")
    ax.grid(alpha=0.3)
  axes[0].legend(fontsize=8)
  return _save(fig, path)


def _save(fig, path: str | os.PathLike) -> Path:
  """Lays out, writes (100 dpi PNG, the folder created) and closes ``fig``; the path written
  (``.png`` added when ``path`` has no suffix, as matplotlib does)."""
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
  fig.tight_layout()
  out = Path(path)
  if not out.suffix:
    out = out.with_suffix(".png")
  out.parent.mkdir(parents=True, exist_ok=True)
  fig.savefig(out, dpi=100)
  plt.close(fig)
  return out
