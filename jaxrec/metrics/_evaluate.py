"""All-item ranking evaluation: accuracy and beyond-accuracy of top-k lists.

Protocol: for every user, every item is a candidate except the user's training items, which are
masked (score ``-inf``); the top-``k`` candidates form the list, ties at random
(:mod:`jaxrec.metrics._topk`). Users are scored ``chunk_size`` at a time.

Two entry points: :func:`evaluate` (host-side, returns plain floats) and :class:`Evaluator`,
the same computation split into a host-prepared plan, a traceable :meth:`Evaluator.raw` (so a
whole grid of models can be evaluated inside one ``jit``/``vmap``) and a host-side
:meth:`Evaluator.summarize`.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxrec import _checks
from jaxrec.data._index import PositiveIndex, index_interactions, row_window
from jaxrec.data._interactions import Interactions
from jaxrec.metrics._gini import gini
from jaxrec.metrics._ranking import (
    ACCURACY_METRICS, POPULARITY_METRICS, accuracy_at_k, popularity_at_k)
from jaxrec.metrics._topk import (
    check_cutoffs, chunk_mask, chunk_topk, padded_rows, raise_on_nan, score_fn, tie_seed)
from jaxrec.typing import Array, Params, PRNGKey

__all__ = ["BEYOND_ACCURACY_METRICS", "Evaluator", "evaluate", "long_tail_items",
           "make_evaluator", "relevant_index"]

BEYOND_ACCURACY_METRICS = ("coverage", "gini") + POPULARITY_METRICS


def long_tail_items(item_popularity: np.ndarray, short_head_fraction: float = 0.2) -> np.ndarray:
  """Long-tail mask: every item outside the ``floor(fraction * I)`` most popular ones.

  Items are ranked by training popularity, descending, ties by ascending id. The 20% short head
  (by item count, not by rating share) is the split of Anelli, Di Noia, Merra (RecSys 2021, whose
  code computes APLT this way), after Abdollahpouri, Burke, Mobasher (FLAIRS 2019).

  Args:
    item_popularity: ``(I,)`` training popularity.
    short_head_fraction: share of the catalogue in the short head, in ``[0, 1]``.

  Returns:
    ``(I,) bool``, True for long-tail items.
  """
  _checks.real("short_head_fraction", short_head_fraction, high=1.0)
  pop = np.asarray(item_popularity)
  order = np.lexsort((np.arange(pop.size), -pop))
  tail = np.ones(pop.size, bool)
  tail[order[: int(np.floor(short_head_fraction * pop.size))]] = False
  return tail


@struct.dataclass(kw_only=True)
class Evaluator:
  """A prepared evaluation (see :func:`make_evaluator`); a pytree, so it can enter ``jit``.

  Attributes:
    train: training positives (masked from the lists; popularity source).
    test: held-out positives.
    popularity: ``(I,) float32`` training users per item.
    long_tail: ``(I,) bool``.
    seed: ``() uint32`` tie seed.
    ks: static sorted cut-offs.
    chunk_size, train_window, test_window: static chunking.
    num_evaluated: static number of users with a test item.
  """

  train: PositiveIndex
  test: PositiveIndex
  popularity: Array
  long_tail: Array
  seed: Array
  ks: tuple[int, ...] = struct.field(pytree_node=False)
  chunk_size: int = struct.field(pytree_node=False)
  train_window: int = struct.field(pytree_node=False)
  test_window: int = struct.field(pytree_node=False)
  num_evaluated: int = struct.field(pytree_node=False)

  def raw(self, model: Any, params: Params, data: Any = None) -> dict[str, Array]:
    """Traceable sums for :meth:`summarize`: per-chunk metric sums, exposure counts, NaN count.

    Args:
      model: a :class:`jaxrec.models.Model`; it may cover more users than ``train`` (a model
        trained with fake users): only users ``0 .. train.num_users - 1`` are scored.
      params: its parameters.
      data: the model's data (default ``train``; the poisoned data of a poisoned model).

    Returns:
      ``{"sums": {metric: (num_chunks, len(ks)) float32}, "counts": (len(ks), I) int32,
      "num_nan": () int32}``.
    """
    train, test = self.train, self.test
    nu, ni = train.num_users, train.num_items
    chunk, ks = self.chunk_size, self.ks
    train_rows = padded_rows(train, self.train_window)
    test_rows = padded_rows(test, self.test_window)
    n_test = test.degrees()
    names = ACCURACY_METRICS + POPULARITY_METRICS
    scores_of = score_fn(model, params, train if data is None else data, ni)

    def body(carry, start):
      counts, num_nan = carry
      users, items, valid, chunk_nan = chunk_topk(
          scores_of, train_rows, train.indptr, self.seed, start, chunk=chunk,
          window=self.train_window, num_users=nu, num_items=ni, k=max(ks))
      in_range = (start + jnp.arange(chunk)) < nu
      n_rel = jnp.where(in_range, n_test[users], 0)
      active = (n_rel > 0).astype(jnp.float32)
      relevant = chunk_mask(*test_rows, test.indptr, start, chunk, self.test_window, nu, ni)
      hits = jnp.take_along_axis(relevant, items, axis=1) & valid
      chunk_sums = {name: [] for name in names}
      new_counts = []
      for j, k in enumerate(ks):
        per_user = accuracy_at_k(hits, n_rel, k)
        per_user.update(popularity_at_k(items, valid, self.popularity, self.long_tail, nu, k))
        for name in names:
          chunk_sums[name].append(jnp.sum(per_user[name] * active))
        shown = (valid[:, :k] & (active[:, None] > 0)).astype(jnp.int32)
        new_counts.append(counts[j] + jax.ops.segment_sum(
            shown.ravel(), items[:, :k].ravel(), num_segments=ni))
      return (jnp.stack(new_counts), num_nan + chunk_nan), {
          n: jnp.stack(v) for n, v in chunk_sums.items()}

    starts = jnp.arange(0, nu, chunk, dtype=jnp.int32)
    init = (jnp.zeros((len(ks), ni), jnp.int32), jnp.zeros((), jnp.int32))
    (counts, num_nan), sums = jax.lax.scan(body, init, starts)
    return {"sums": sums, "counts": counts, "num_nan": num_nan}

  def summarize(self, raw: dict[str, Array]) -> dict[str, dict[int, float]]:
    """Host-side means from :meth:`raw` (sums added in float64).

    Raises:
      ValueError: NaN scores.
    """
    raise_on_nan(raw["num_nan"])
    sums = {name: np.asarray(v, np.float64).sum(axis=0) for name, v in raw["sums"].items()}
    counts = np.asarray(raw["counts"])
    out: dict[str, dict[int, float]] = {}
    for j, k in enumerate(self.ks):
      for name in ACCURACY_METRICS + POPULARITY_METRICS:
        out.setdefault(name, {})[k] = float(sums[name][j]) / self.num_evaluated
      out.setdefault("coverage", {})[k] = float(np.mean(counts[j] > 0))
      out.setdefault("gini", {})[k] = float(gini(counts[j]))
    out["users"] = {0: float(self.num_evaluated)}
    return out


def relevant_index(test: PositiveIndex | Interactions) -> PositiveIndex:
  """The binary relevance the ranking metrics assume, from test data (the one documented rule).

  A :class:`jaxrec.data.PositiveIndex` is binary already: every row is relevant. Test
  :class:`jaxrec.data.Interactions` without ratings: every row is relevant. With ratings
  (graded relevance): a row is relevant iff its rating is ``> 0``; rows rated ``<= 0`` have zero
  relevance and are dropped, so they can never count as a hit (binarise at another level first
  with :func:`jaxrec.data.binarize`).

  Returns:
    A :class:`jaxrec.data.PositiveIndex` over the same id spaces.

  Raises:
    ValueError: ids out of range; something other than an index or interactions.

  Source:
    jaxrec (binary relevance of graded judgments at level 1, as trec_eval's default).
  """
  if isinstance(test, PositiveIndex):
    return test
  if not isinstance(test, Interactions):
    raise ValueError(f"test must be a PositiveIndex or Interactions, got {type(test).__name__}")
  if test.ratings is not None:
    test = test.select(np.asarray(test.ratings) > 0)
  return index_interactions(test)


def make_evaluator(
    train: PositiveIndex,
    test: PositiveIndex | Interactions,
    *,
    ks: tuple[int, ...] = (10,),
    chunk_size: int = 256,
    tie_key: PRNGKey | None = None,
    short_head_fraction: float = 0.2,
) -> Evaluator:
  """Validates the inputs and prepares an :class:`Evaluator` (host-side, concrete indices).

  Arguments and errors as :func:`evaluate`.

  Source:
    jaxrec.
  """
  ks, chunk_size = check_cutoffs(train, ks, chunk_size)
  test = relevant_index(test)
  if (train.num_users, train.num_items) != (test.num_users, test.num_items):
    raise ValueError(
        f"train id spaces ({train.num_users}, {train.num_items}) differ from test "
        f"({test.num_users}, {test.num_items})")
  n_eval = int(np.sum(np.asarray(test.degrees()) > 0))
  if n_eval == 0:
    raise ValueError("no user has a test item: nothing to evaluate")
  pop = np.asarray(train.item_degrees(), np.float32)
  return Evaluator(
      train=train, test=test, popularity=jnp.asarray(pop),
      long_tail=jnp.asarray(long_tail_items(pop, short_head_fraction)),
      seed=tie_seed(tie_key), ks=ks, chunk_size=chunk_size,
      train_window=row_window(train, chunk_size), test_window=row_window(test, chunk_size),
      num_evaluated=n_eval)


@jax.jit
def _raw(evaluator: Evaluator, model: Any, params: Params, data: Any):
  return evaluator.raw(model, params, data)


def evaluate(
    model: Any,
    params: Params,
    train: PositiveIndex,
    test: PositiveIndex | Interactions,
    *,
    data: Any = None,
    ks: tuple[int, ...] = (10,),
    chunk_size: int = 256,
    tie_key: PRNGKey | None = None,
    short_head_fraction: float = 0.2,
) -> dict[str, dict[int, float]]:
  """Accuracy and beyond-accuracy metrics of all-item top-k lists (module docstring protocol).

  Relevance: binary (:func:`relevant_index`: a test row rated ``<= 0`` is never a hit).
  Population: the users with at least one relevant test item; users without test items are excluded
  from every mean (accuracy and beyond-accuracy alike). Accuracy metrics are means over that
  population of :func:`accuracy_at_k`; ARP, APLT and novelty are means of
  :func:`popularity_at_k`, with popularity = number of training users per item and the long
  tail from :func:`long_tail_items`. Catalogue-level metrics over the same population's lists:

  * ``coverage``: ``|union of the top-k lists| / num_items``.
  * ``gini``: :func:`jaxrec.metrics.gini` of how often each item of the whole catalogue is
    recommended (never-recommended items count as 0).

  Per-chunk sums are added up on the host in float64, so the chunk size does not change results.

  Args:
    model: a :class:`jaxrec.models.Model`; it may cover more users than ``train`` (e.g. a model
      trained with fake users): only users ``0 .. train.num_users - 1`` are scored.
    params: model parameters.
    train: training positives (masked; the source of popularity).
    test: held-out positives over the same id spaces (an index, or interactions: see
      :func:`relevant_index`).
    data: the model's data (default ``train``; pass the poisoned data of a poisoned model).
    ks: cut-offs, each an integer in ``[1, num_items]``.
    chunk_size: users scored at once (memory ``~ 4 * chunk_size * num_items`` bytes per array).
    tie_key: key of the random tie order; default ``jax.random.key(0)``.
    short_head_fraction: share of items in the short head for APLT.

  Returns:
    ``{metric: {k: value}}`` for ``hr, precision, recall, ndcg, mrr, coverage, gini, arp, aplt,
    novelty``, plus ``{"users": {0: number of evaluated users}}``.

  Raises:
    ValueError: a bad ``k`` (not a positive integer, or above ``num_items``), id spaces that
      differ between ``train`` and ``test``, no user with a test item, a model whose catalogue
      differs from ``train``'s, or NaN scores.

  Source:
    Accuracy: Herlocker et al., ACM TOIS 2004 (HR, precision, recall); Jarvelin, Kekalainen,
    ACM TOIS 2002 (nDCG); beyond accuracy: Anelli, Di Noia, Merra, RecSys 2021 (coverage, Gini,
    ARP, APLT as in their study's code); Abdollahpouri, Burke, Mobasher, FLAIRS 2019 (APLT).
  """
  ev = make_evaluator(train, test, ks=ks, chunk_size=chunk_size, tie_key=tie_key,
                      short_head_fraction=short_head_fraction)
  return ev.summarize(_raw(ev, model, params, train if data is None else data))
