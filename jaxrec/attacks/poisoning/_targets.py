"""Threat-model helpers: target selection, attack size, filler size."""

from __future__ import annotations

import numpy as np

from jaxrec import _checks
from jaxrec.data._interactions import Interactions
from jaxrec.metrics._evaluate import long_tail_items

__all__ = ["STRATEGIES", "default_filler_size", "num_fake_users", "select_targets"]

STRATEGIES = ("random", "unpopular", "popular", "segment")


def num_fake_users(budget: float | int, num_real_users: int) -> int:
  """Number of fake users for a budget.

  A float in ``(0, 1)`` is a fraction of the real users: ``max(1, round(budget * U))`` (Python's
  round, half to even), e.g. 1% of 943 users is 9 fake users, 5% is 47. An int ``>= 1`` is a
  count.

  Raises:
    ValueError: a budget that is zero, negative, a fraction not below 1, not finite, or a
      boolean.

  Source:
    jaxrec (attack size as a share of the user base, Mobasher et al., ACM TOIT 2007, Sec. 6).
  """
  return _checks.num_fake_users(budget, num_real_users)


def default_filler_size(train: Interactions) -> int:
  """The mean real profile length: ``round(N / active users)`` (at least 1).

  Raises:
    ValueError: no training interaction.

  Source:
    Mobasher et al., ACM TOIT 2007, Sec. 3 (filler size as a share of a typical profile).
  """
  active = np.unique(np.asarray(train.users)).size
  if active == 0:
    raise ValueError("default_filler_size needs training interactions")
  return max(1, round(len(train) / active))


def select_targets(item_popularity: np.ndarray, num_targets: int, strategy: str = "unpopular", *,
                   seed: int = 0, segment: np.ndarray | None = None,
                   short_head_fraction: float = 0.2, min_popularity: int = 1) -> np.ndarray:
  """Target items for an attack experiment, drawn without replacement (seeded, host-side).

  Strategies: ``"random"`` (any item), ``"unpopular"`` (the long tail: outside the
  ``short_head_fraction`` most popular items, as :func:`jaxrec.metrics.long_tail_items`),
  ``"popular"`` (the short head), ``"segment"`` (items of ``segment``). Every strategy only
  draws items with at least ``min_popularity`` training interactions (default 1: the item
  exists in training, so its embedding was trained).

  Args:
    item_popularity: ``(I,)`` training interactions per item.
    num_targets: how many targets.
    strategy: one of :data:`STRATEGIES`.
    seed: NumPy seed.
    segment: ``(I,) bool`` for ``"segment"``.
    short_head_fraction: head/tail split for ``"unpopular"``/``"popular"``.
    min_popularity: minimum training interactions of a target.

  Returns:
    ``(num_targets,) int64`` item ids, ascending.

  Raises:
    ValueError: unknown strategy, a missing or misshaped segment, or fewer candidates than
      ``num_targets``.

  Source:
    jaxrec; unpopular targets as in Mobasher et al., ACM TOIT 2007, Sec. 6 (push attacks are
    studied on items with few ratings).
  """
  pop = np.asarray(item_popularity)
  _checks.choice("strategy", strategy, STRATEGIES)
  num_targets = _checks.integer("num_targets", num_targets, low=1)
  ok = pop >= min_popularity
  if strategy == "unpopular":
    ok &= long_tail_items(pop, short_head_fraction)
  elif strategy == "popular":
    ok &= ~long_tail_items(pop, short_head_fraction)
  elif strategy == "segment":
    if segment is None or np.shape(segment) != pop.shape:
      raise ValueError(f"strategy 'segment' needs a ({pop.size},) bool segment mask")
    ok &= np.asarray(segment, bool)
  candidates = np.flatnonzero(ok)
  if candidates.size < num_targets:
    raise ValueError(f"only {candidates.size} {strategy} items with >= {min_popularity} "
                     f"interactions, fewer than num_targets={num_targets}")
  rng = np.random.default_rng(seed)
  return np.sort(rng.choice(candidates, num_targets, replace=False))
