"""Exposure of target items: how high a pushed (or nuked) item ranks for real users.

Population and denominators: for a target item ``t``, the *eligible* users are the real users
(ids ``0 .. train.num_users - 1``) who have not interacted with ``t`` in (clean) training: only
for them is ``t`` a candidate. Every metric of ``t`` is a mean over its eligible users:

* target HR@k: share of eligible users with ``t`` in their top-``k`` list;
* target nDCG@k: mean of ``1 / log2(rank + 1)`` when ``rank <= k``, else 0 (one relevant item,
  so the ideal DCG is 1);
* mean rank: mean 1-based rank of ``t`` among the user's candidates (all items minus the user's
  training items), ties ordered at random exactly as in the top-k lists
  (:func:`jaxrec.metrics.tie_priority`), so "``rank <= k``" and "``t`` in the list" agree;
* mean score: mean predicted score ``s(u, t)``. The *prediction shift* of an attack is the
  attacked model's mean score minus the clean model's over the same eligible users (Mobasher,
  Burke, Bhaumik, Williams, ACM TOIT 7(4), 2007, Sec. 6).

Hit ratio after Mobasher et al. 2007 (the share of users for whom the target is in the top-k);
computed chunk-wise over users like :mod:`jaxrec.metrics._evaluate`. This is the one target
exposure of jaxrec: every experiment, the audit and the learned attacks' evaluations use it, with
the one tie policy of :mod:`jaxrec.metrics._topk` (ties in random order).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxrec import _checks
from jaxrec.data._index import PositiveIndex, row_window
from jaxrec.metrics._topk import (
    check_cutoffs, chunk_mask, padded_rows, raise_on_nan, score_fn, tie_priority, tie_seed)
from jaxrec.typing import Array, ArrayLike, Params, PRNGKey

__all__ = ["TARGET_METRICS", "TargetEvaluator", "make_target_evaluator", "target_exposure"]

TARGET_METRICS = ("target_hr", "target_ndcg", "target_rank", "target_score")


@struct.dataclass(kw_only=True)
class TargetEvaluator:
  """A prepared target-exposure evaluation (:func:`make_target_evaluator`); a pytree.

  Attributes:
    train: the clean training positives of the real users (masking and eligibility).
    seed: ``() uint32`` tie seed.
    ks: static sorted cut-offs. chunk_size, window: static chunking.
  """

  train: PositiveIndex
  seed: Array
  ks: tuple[int, ...] = struct.field(pytree_node=False)
  chunk_size: int = struct.field(pytree_node=False)
  window: int = struct.field(pytree_node=False)

  def raw(self, model: Any, params: Params, targets: Array, data: Any = None
          ) -> dict[str, Array]:
    """Traceable per-target sums over eligible users.

    Args:
      model: a :class:`jaxrec.models.Model`; its params may hold more users (fake ones) than
        ``train``: only the real users are scored.
      params: model parameters.
      targets: ``(T,) int32`` distinct target item ids (checked when concrete, and under
        :func:`jaxrec.checked` when traced).
      data: the model's data (default ``train``).

    Returns:
      ``{"eligible": (T,), "hits": (T, len(ks)), "ndcg": (T, len(ks)), "rank": (T,),
      "score": (T,), "num_nan": ()}``, sums over eligible users (float32 per chunk, summed in
      float64 by :meth:`summarize`), each with a leading ``num_chunks`` axis.
    """
    train = self.train
    nu, ni, chunk = train.num_users, train.num_items, self.chunk_size
    targets = _checks.ids("targets", targets, ni, distinct=True, nonempty=True)
    rows = padded_rows(train, self.window)
    ks = jnp.asarray(self.ks, jnp.float32)
    scores_of = score_fn(model, params, train if data is None else data, ni)

    def body(num_nan, start):
      users = jnp.minimum(start + jnp.arange(chunk, dtype=jnp.int32), nu - 1)
      in_range = (start + jnp.arange(chunk)) < nu
      scores = scores_of(users)
      num_nan = num_nan + jnp.sum(jnp.isnan(scores) & in_range[:, None])
      seen = chunk_mask(*rows, train.indptr, start, chunk, self.window, nu, ni)
      masked = jnp.where(seen | jnp.isnan(scores), -jnp.inf, scores)
      prio = tie_priority(self.seed, users, jnp.arange(ni, dtype=jnp.int32)[None, :])
      eligible = in_range[:, None] & ~jnp.take(seen, targets, axis=1)  # (C, T)

      def rank_of(t):  # (C,) rank of item t; one (C, I) comparison at a time, not (C, T, I)
        s_t, p_t = masked[:, t][:, None], prio[:, t][:, None]
        return 1 + jnp.sum(masked > s_t, axis=1) + jnp.sum((masked == s_t) & (prio > p_t), axis=1)

      rank = jax.lax.map(rank_of, targets).T.astype(jnp.float32)  # (C, T)
      w = eligible.astype(jnp.float32)
      hit = (rank[:, :, None] <= ks[None, None, :]) * w[:, :, None]  # (C, T, K)
      gain = hit / jnp.log2(rank + 1.0)[:, :, None]
      out = {"eligible": jnp.sum(w, 0), "hits": jnp.sum(hit, 0), "ndcg": jnp.sum(gain, 0),
             "rank": jnp.sum(rank * w, 0),
             "score": jnp.sum(jnp.where(eligible, jnp.take(scores, targets, axis=1), 0.0), 0)}
      return num_nan, out

    starts = jnp.arange(0, nu, chunk, dtype=jnp.int32)
    num_nan, sums = jax.lax.scan(body, jnp.zeros((), jnp.int32), starts)
    sums["num_nan"] = num_nan
    return sums

  def summarize(self, raw: dict[str, Array]) -> list[dict[str, dict[int, float]]]:
    """Per-target means from :meth:`raw` (host side).

    Returns:
      One dict per target, ``{"target_hr": {k: v}, "target_ndcg": {k: v}, "target_rank":
      {None: v}, "target_score": {None: v}, "eligible_users": {None: n}}``; means are NaN-free
      (a target no user is eligible for gets 0 and ``eligible_users`` 0).

    Raises:
      ValueError: NaN scores.
    """
    raise_on_nan(raw["num_nan"])
    s = {k: np.asarray(v, np.float64).sum(axis=0) for k, v in raw.items() if k != "num_nan"}
    out = []
    for t in range(s["eligible"].shape[0]):
      n = s["eligible"][t]
      d = max(n, 1.0)
      out.append({
          "target_hr": {k: float(s["hits"][t, j] / d) for j, k in enumerate(self.ks)},
          "target_ndcg": {k: float(s["ndcg"][t, j] / d) for j, k in enumerate(self.ks)},
          "target_rank": {None: float(s["rank"][t] / d)},
          "target_score": {None: float(s["score"][t] / d)},
          "eligible_users": {None: float(n)},
      })
    return out


def make_target_evaluator(train: PositiveIndex, *, ks: tuple[int, ...] = (10,),
                          chunk_size: int = 256, tie_key: PRNGKey | None = None
                          ) -> TargetEvaluator:
  """Validates and prepares a :class:`TargetEvaluator` over the real users of ``train``.

  Raises:
    ValueError: a bad cut-off or chunk size.

  Source:
    jaxrec.
  """
  ks, chunk_size = check_cutoffs(train, ks, chunk_size)
  return TargetEvaluator(train=train, seed=tie_seed(tie_key), ks=ks, chunk_size=chunk_size,
                         window=row_window(train, chunk_size))


@jax.jit
def _raw(ev: TargetEvaluator, model: Any, params: Params, targets: Array, data: Any):
  return ev.raw(model, params, targets, data)


def target_exposure(
    model: Any,
    params: Params,
    train: PositiveIndex,
    targets: ArrayLike,
    *,
    data: Any = None,
    ks: tuple[int, ...] = (10,),
    chunk_size: int = 256,
    tie_key: PRNGKey | None = None,
) -> list[dict[str, dict[int | None, float]]]:
  """Target HR@k, nDCG@k, mean rank and mean score of each target item (module docstring).

  Args:
    model: a :class:`jaxrec.models.Model`. params: its parameters (may include fake users
      beyond ``train.num_users``).
    train: clean training positives of the real users.
    targets: ``(T,)`` distinct item ids, ``T >= 1`` (a single id is allowed).
    data: the model's data (default ``train``; the poisoned data of a poisoned model).
    ks: cut-offs. chunk_size: users scored at once. tie_key: random tie order.

  Returns:
    A list of ``T`` dicts (see :meth:`TargetEvaluator.summarize`).

  Raises:
    ValueError: an empty target list, target ids outside ``[0, num_items)`` or repeated, bad
      cut-offs, a model whose catalogue differs from ``train``'s, or NaN scores.

  Source:
    Mobasher, Burke, Bhaumik, Williams, ACM TOIT 7(4), 2007, Sec. 6 (hit ratio, prediction
    shift); jaxrec's tie policy (:mod:`jaxrec.metrics._topk`).
  """
  targets = _checks.ids("targets", np.atleast_1d(np.asarray(targets)), train.num_items,
                        distinct=True, nonempty=True)
  ev = make_target_evaluator(train, ks=ks, chunk_size=chunk_size, tie_key=tie_key)
  return ev.summarize(_raw(ev, model, params, targets, train if data is None else data))
