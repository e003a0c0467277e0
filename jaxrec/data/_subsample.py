"""Sub-datasets of one source dataset, for studies of how data characteristics explain results.

A sub-dataset keeps ``U'`` users and ``I'`` items drawn uniformly without replacement from the
source, then a share ``keep`` of the interactions among them (drawn without replacement), and
re-densifies the ids in ascending source-id order. Its id spaces are exactly ``U' x I'``: a drawn
user or item left without interactions stays in the id space (it is part of the platform the
sample stands for and counts in the characteristics). Varying ``U'``, ``I'`` and ``keep`` varies
size, shape (``U' / I'``) and density (``N' / (U' I')``) independently, as the sampling of
Adomavicius & Zhang (ACM TMIS 2012) and Deldjoo et al. (SIGIR 2020) does.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np

from jaxrec import _checks
from jaxrec.data._interactions import Interactions

__all__ = ["SubDataset", "sample_subdatasets", "subsample"]


@dataclasses.dataclass(frozen=True)
class SubDataset:
  """One sampled sub-dataset.

  Attributes:
    interactions: the sub-dataset, ids dense in ``[0, num_users) x [0, num_items)``.
    users: ``(U',) int64`` source user id of each sub-dataset user (ascending).
    items: ``(I',) int64`` source item id of each sub-dataset item (ascending).
    keep: the share of the interactions among the drawn users and items that was kept.
    seed: the seed that drew it (``subsample(..., seed=seed)`` draws it again).
  """

  interactions: Interactions
  users: np.ndarray
  items: np.ndarray
  keep: float
  seed: int


def subsample(interactions: Interactions, *, num_users: int, num_items: int, keep: float = 1.0,
              seed: int = 0) -> SubDataset:
  """A sub-dataset of ``num_users`` users and ``num_items`` items (module docstring).

  Args:
    interactions: the source (``N`` rows; ratings and timestamps are carried along).
    num_users: ``U'`` in ``[1, U]``. num_items: ``I'`` in ``[1, I]``.
    keep: share of the rows among the drawn users and items to keep, in ``(0, 1]``;
      ``round(keep * n)`` rows are drawn without replacement (at least 1 when ``n >= 1``).
    seed: NumPy seed (``numpy.random.default_rng``): same seed, same sub-dataset.

  Returns:
    A :class:`SubDataset`; its rows keep their source order.

  Raises:
    ValueError: sizes outside the source's id spaces, ``keep`` outside ``(0, 1]``, a negative
      seed.

  Source:
    Adomavicius, Zhang, "Impact of Data Characteristics on Recommender Systems Performance",
    ACM TMIS 3(1), 2012, Sec. 4 (sampling users, items and ratings); Deldjoo, Di Noia,
    Di Sciascio, Merra, SIGIR 2020 (the same sampling for robustness).
  """
  num_users = _checks.integer("num_users", num_users, low=1, high=interactions.num_users)
  num_items = _checks.integer("num_items", num_items, low=1, high=interactions.num_items)
  _checks.real("keep", keep, low=0.0, low_open=True, high=1.0)
  seed = _checks.integer("seed", seed, low=0)
  rng = np.random.default_rng(seed)
  users = np.sort(rng.choice(interactions.num_users, num_users, replace=False))
  items = np.sort(rng.choice(interactions.num_items, num_items, replace=False))
  user_map = np.full(interactions.num_users, -1, np.int64)
  user_map[users] = np.arange(num_users)
  item_map = np.full(interactions.num_items, -1, np.int64)
  item_map[items] = np.arange(num_items)
  u = user_map[np.asarray(interactions.users)]
  i = item_map[np.asarray(interactions.items)]
  rows = np.flatnonzero((u >= 0) & (i >= 0))
  if rows.size:
    kept = max(1, round(float(keep) * rows.size))
    rows = np.sort(rng.choice(rows, kept, replace=False))
  sub = interactions.select(rows)
  sub = sub.replace(users=u[rows].astype(np.int32), items=i[rows].astype(np.int32),
                            num_users=num_users, num_items=num_items)
  return SubDataset(interactions=sub, users=users, items=items, keep=float(keep), seed=seed)


def sample_subdatasets(interactions: Interactions, num_samples: int, *, seed: int = 0,
                       user_fractions: tuple[float, ...] = (0.4, 0.7, 1.0),
                       item_fractions: tuple[float, ...] = (0.4, 0.7, 1.0),
                       keep: tuple[float, float] = (0.3, 1.0)) -> list[SubDataset]:
  """``num_samples`` seeded sub-datasets that vary size, shape and density.

  Sample ``s`` takes the ``s``-th ``(user fraction, item fraction)`` pair of the grid
  ``user_fractions x item_fractions`` (cycling; ``U' = max(1, round(f * U))``, items likewise)
  and draws ``keep`` uniformly from the given range, so every shape of the grid is sampled
  about equally often and density varies continuously within each shape. Sub-datasets of one
  grid cell share their id spaces, so they batch under ``vmap`` once their interactions are
  padded to a common capacity. Sample ``s`` is drawn with seed ``seed * 1_000_003 + s`` and does
  not depend on ``num_samples``.

  Args:
    interactions: the source dataset.
    num_samples: how many sub-datasets (``>= 1``).
    seed: the study's seed (``>= 0``).
    user_fractions, item_fractions: shares of the source's users and items, each in
      ``(0, 1]``.
    keep: ``(low, high)`` range of the share of interactions kept, ``0 < low <= high <= 1``.

  Returns:
    A list of :class:`SubDataset`.

  Raises:
    ValueError: a bad count, seed, fraction or range.

  Source:
    Deldjoo, Di Noia, Di Sciascio, Merra, "How Dataset Characteristics Affect the Robustness of
    Collaborative Recommendation Models", SIGIR 2020, Sec. 3 (sub-datasets sampled from a
    source); the grid of fractions is jaxrec's, for batching.
  """
  num_samples = _checks.integer("num_samples", num_samples, low=1)
  seed = _checks.integer("seed", seed, low=0)
  for name, fractions in (("user_fractions", user_fractions), ("item_fractions", item_fractions)):
    if not len(fractions):
      raise ValueError(f"{name} must not be empty")
    for f in fractions:
      _checks.real(name, f, low=0.0, low_open=True, high=1.0)
  if len(keep) != 2:
    raise ValueError(f"keep must be a (low, high) range, got {keep!r}")
  low = _checks.real("keep low", keep[0], low=0.0, low_open=True, high=1.0)
  high = _checks.real("keep high", keep[1], low=low, high=1.0)
  shapes = list(itertools.product(user_fractions, item_fractions))
  out = []
  for s in range(num_samples):
    fu, fi = shapes[s % len(shapes)]
    sample_seed = seed * 1_000_003 + s
    share = float(np.random.default_rng([sample_seed, 1]).uniform(low, high))
    out.append(subsample(interactions,
                         num_users=max(1, round(fu * interactions.num_users)),
                         num_items=max(1, round(fi * interactions.num_items)),
                         keep=share, seed=sample_seed))
  return out
