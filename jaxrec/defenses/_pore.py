"""PORE: a certified defense of top-N recommendation against data poisoning by fake users.

PORE (Jia, Liu, Hu, Gong, USENIX Security 2023) turns any recommender into a bagged ensemble
whose top-N list provably keeps at least ``r`` of its items, or of a user's ground-truth items,
whatever ratings ``e`` injected fake users give (untargeted poisoning). jaxrec's version:

Notation: ``n`` real users, ``I`` items, ``X`` the ``(n, I)`` binary training matrix, ``I_u`` the
training items of user ``u`` (never recommended to ``u``), ``s`` sampled users per base model,
``N'`` items per base recommendation, ``N`` items per ensemble recommendation.

(1) Sampling. A sample is ``S = (v_1, ..., v_s)``, each ``v_k`` uniform on the ``n`` users,
    independently (with replacement: a user may appear several times and then weighs several
    times). ``T`` samples come from one PRNG key (same key, same ensemble).

(2) Base recommender: item-based cosine CF whose similarities come from the sample only, applied
    to every user's own training items (users outside the sample get recommendations too). With
    ``G = X_S^T X_S`` (``X_S``: the ``s`` sampled rows) and ``d_i = G_ii^{-1/2}`` (0 for an item
    no sampled user has),
      ``score_S(u, j) = sum_{i in I_u} d_i G_ij d_j = [((x_u * d) X_S^T) (X_S * d)]_j``,
    computed in the low-rank order ``(n, I) x (I, s) -> (n, s) x (s, I)``: no ``(I, I)`` matrix.
    ``A(S, u)`` = the ``N'`` items ``j not in I_u`` of largest score (ties: lower id first).

(3) Item probability: ``p_ui = Pr_S[i in A(S, u)]``, estimated by the count ``k_ui`` of the
    ``T`` base models that put ``i`` in ``A(S, u)``: ``p_ui ~ k_ui / T``.

(4) Ensemble: ``PORE(u)`` = the ``N`` items ``i not in I_u`` of largest ``p_ui`` (ties: lower
    id first).

(5) Effect of ``e`` fake users (any ratings). Let ``beta_e = (n / (n + e))^s`` and
    ``delta_e = 1 - beta_e``. A sample of the poisoned data holds only real users with
    probability ``beta_e``, and then it is distributed exactly as a clean sample (``I_u`` is
    unchanged: fake users do not edit real profiles). Hence for every item and every set ``H`` of
    items the poisoned probabilities ``p'`` satisfy
      ``beta_e p_i <= p'_i <= beta_e p_i + delta_e``,
      ``sum_{i in H} (p'_i - beta_e p_i) <= min(|H|, N') delta_e``
    (the second because a base model recommends at most ``N'`` items).

(6) Certified size. Let ``Good`` be the items whose survival is certified (the clean ensemble's
    top-N, or the user's test items) and ``Bad`` the user's other candidate items;
    ``l_(1) >= l_(2) >= ...`` the lower bounds of ``p`` over ``Good``, ``u_(1) >= u_(2) >= ...``
    the upper bounds over ``Bad``. Fewer than ``r`` Good items are in the poisoned top-N only if
    ``c = N - r + 1`` Bad items reach the ``r``-th best Good item, that is, only if
      ``c <= |Bad|``  and  ``beta_e u_(c) + delta_e >= beta_e l_(r)``  and
      ``sum_{j <= c} max(0, beta_e l_(r) - beta_e u_(j)) <= min(c, N') delta_e``.
    ``r_e(u)`` is the largest ``r <= min(N, |Good|)`` for which this fails (ties count for the
    attacker). The condition is monotone in ``r``, and it is the condition of the paper's
    Theorem 1 (there with the sum's bound ``N' delta`` and without the ``max(0, .)``, which only
    loosens it).

(7) Confidence. Monte Carlo bounds are simultaneous one-sided Clopper-Pearson bounds with a
    Bonferroni correction over both sides of every (user, item): level ``a = alpha / (2 U I)``,
    ``l = Beta^{-1}(a; k, T - k + 1)`` (0 when ``k = 0``), ``u = Beta^{-1}(1 - a; k + 1, T - k)``
    (1 when ``k = T``); all hold together with probability at least ``1 - alpha``, for every
    ``e`` at once. The exact mode takes ``l = u = k / T`` (probabilities known exactly, e.g. from
    all ``n^s`` ordered samples).

(8) Certified precision@N and recall@N: with ``Good`` = the user's test items ``I_u^test``,
    ``P@N(e) = mean_u r_e(u) / N`` and ``R@N(e) = mean_u r_e(u) / |I_u^test|`` over the users
    with at least one test item.

What differs from the authors' release (``liu00222/PORE-Provably-Robust-Recommender-Systems-
against-Data-Poisoning-Attacks``, read for facts only): it samples ``s`` users without
replacement and counts a recommendation only for users in the sample (its per-item slack is
``s/(n+e) - (s/n) C(n,s)/C(n+e,s)`` in place of ``delta_e``); its item-based base recommender is
SAR (Jaccard similarity with time decay), here cosine without decay or neighbour pruning; its
Bonferroni level is ``alpha / (U I)`` per bound.

Reference:
  Jia, Liu, Hu, Gong, "PORE: Provably Robust Recommender Systems against Data Poisoning
  Attacks", USENIX Security 2023 (arXiv 2303.14601), the ensemble and Theorem 1.
  Clopper, Pearson, "The use of confidence or fiducial limits illustrated in the case of the
  binomial", Biometrika 26(4), 1934.
  Sarwar, Karypis, Konstan, Riedl, WWW 2001 (item-based cosine similarity).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxrec import _checks
from jaxrec.data._index import PositiveIndex, dense_matrix
from jaxrec.experiment import execute
from jaxrec.typing import Array, ArrayLike, PRNGKey

__all__ = ["PoreEnsemble", "pore_bound", "pore_certified_accuracy", "pore_certify",
           "pore_ensemble", "pore_recommend"]

_TOL = 1e-12  # float slack, always in the attacker's favour


@dataclasses.dataclass(frozen=True)
class PoreEnsemble:
  """A PORE ensemble's counts (host-side NumPy).

  Attributes:
    counts: ``(U, I) int32``; ``counts[u, i]`` is the number of base models that put item ``i``
      among the ``top_n_base`` recommended to user ``u`` (eq. 3).
    seen: ``(U, I) bool`` training items of each user (never recommended, excluded everywhere).
    num_models: ``T``, the number of base models (samples).
    num_samples: ``s``, users sampled (with replacement) per base model.
    num_users: ``n``, the real users the samples are drawn from.
    top_n_base: ``N'``, items each base model recommends to each user.
  """

  counts: np.ndarray
  seen: np.ndarray
  num_models: int
  num_samples: int
  num_users: int
  top_n_base: int

  @property
  def num_items(self) -> int:
    """Size of the item id space ``I``."""
    return int(self.counts.shape[1])

  @property
  def probabilities(self) -> np.ndarray:
    """``(U, I) float64`` estimated item probabilities ``counts / T`` (eq. 3)."""
    return self.counts / float(self.num_models)


def _base_top(sample: Array, x: Array, *, top_n_base: int) -> Array:
  """``(U, N') int32`` items of one base model for every user (eq. 2); ``I`` pads users with
  fewer than ``N'`` candidate items."""
  num_items = x.shape[1]
  rows = x[sample]  # (s, I), repeated users repeat
  gram_diag = jnp.sum(rows, axis=0)  # binary rows: G_ii = number of sampled users with i
  d = jnp.where(gram_diag > 0, 1.0 / jnp.sqrt(jnp.maximum(gram_diag, 1.0)), 0.0)
  scores = ((x * d[None, :]) @ rows.T) @ (rows * d[None, :])  # (U, s) (s, I)
  scores = jnp.where(x > 0, -jnp.inf, scores)
  vals, idx = jax.lax.top_k(scores, top_n_base)  # lower ids first among ties
  return jnp.where(jnp.isfinite(vals), idx, num_items).astype(jnp.int32)


@functools.partial(jax.jit, static_argnames=("num_models", "num_samples", "num_users"))
def _draw(key: PRNGKey, *, num_models: int, num_samples: int, num_users: int) -> Array:
  keys = jax.random.split(key, num_models)
  return jax.vmap(lambda k: jax.random.randint(k, (num_samples,), 0, num_users))(keys)


def pore_ensemble(train: PositiveIndex, key: PRNGKey | None = None, *,
                  num_models: int | None = None, num_samples: int,
                  top_n_base: int = 1, samples: ArrayLike | None = None,
                  lanes: int | None = None, vectorize: bool = True,
                  timings: dict | None = None) -> PoreEnsemble:
  """Trains the ``T`` base models of PORE and counts their recommendations (eqs. 1-3).

  Every base model samples ``num_samples`` users with replacement, computes cosine item-item
  similarities from them alone (low rank, nothing larger than ``(U, I)``) and recommends
  ``top_n_base`` unseen items to every user from the user's own training items. The models run
  on :func:`jaxrec.experiment.execute`, one model per cell: ``lanes`` models per vmapped program
  (``vectorize=False``: the same jitted model in a loop, the same counts).

  Args:
    train: the clean training data, ``U`` users and ``I`` items.
    key: PRNG key of the samples (``T`` keys split from it); not with ``samples``.
    num_models: ``T >= 1`` base models (with ``key``).
    num_samples: ``s >= 1`` users per sample.
    top_n_base: ``N'`` in ``[1, I]``, items per base recommendation.
    samples: instead of ``key``: ``(T, s)`` integer user ids in ``[0, U)``, one row per base
      model (e.g. all ``U^s`` ordered samples, for exact probabilities).
    lanes: models per vmapped program (default :func:`jaxrec.experiment.default_lanes`).
    vectorize: vmap the models (default) or loop over them.
    timings: filled as by :func:`jaxrec.experiment.execute` (``compile_s``, ``run_s``, ...).

  Returns:
    A :class:`PoreEnsemble` (counts ``(U, I) int32``).

  Raises:
    ValueError: not a PositiveIndex, both or neither of ``key`` / ``samples``, ``T < 1``,
      ``s < 1``, ``N'`` outside ``[1, I]``, sample ids outside ``[0, U)``, a ``samples`` width
      other than ``s``.

  Source:
    Jia, Liu, Hu, Gong, USENIX Security 2023 (PORE's bagged base models); Sarwar et al., WWW
    2001, Sec. 3.1.1 (cosine item similarity).
  """
  if not isinstance(train, PositiveIndex):
    raise ValueError(f"train must be a jaxrec.data.PositiveIndex, got {type(train).__name__}")
  num_users, num_items = train.num_users, train.num_items
  s = _checks.integer("num_samples", num_samples, low=1)
  top_n_base = _checks.integer("top_n_base", top_n_base, low=1, high=num_items)
  if (key is None) == (samples is None):
    raise ValueError("give exactly one of key (with num_models) and samples")
  if samples is None:
    if num_models is None:
      raise ValueError("num_models is required with key")
    t = _checks.integer("num_models", num_models, low=1)
    if not (isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key)):
      given = f"{type(key).__name__} {key!r}"
      key = jnp.asarray(key)
      if key.shape != (2,) or key.dtype != jnp.uint32:
        raise ValueError(f"key must be a PRNG key (jax.random.key(seed)), got {given}")
    table = np.asarray(_draw(key, num_models=t, num_samples=s, num_users=num_users))
  else:
    if num_models is not None:
      raise ValueError("num_models is set by samples (its rows); leave it out")
    table = np.asarray(_checks.ids("samples", samples, num_users, ndim=2, nonempty=True))
    if table.shape[1] != s:
      raise ValueError(f"samples must have num_samples={s} columns, got shape {table.shape}")
    t = table.shape[0]
  seen = dense_matrix(train) > 0
  x = jnp.asarray(seen, jnp.float32)
  fn = functools.partial(_base_top, top_n_base=top_n_base)
  outs = execute(fn, list(table), x, lanes=lanes, vectorize=vectorize, timings=timings)
  counts = np.zeros((num_users, num_items + 1), np.int32)
  rows = np.repeat(np.arange(num_users), top_n_base)
  for top in outs:
    np.add.at(counts, (rows, np.asarray(top).ravel()), 1)
  return PoreEnsemble(counts=counts[:, :num_items], seen=seen, num_models=t, num_samples=s,
                      num_users=num_users, top_n_base=top_n_base)


def _check_ensemble(ensemble: Any) -> PoreEnsemble:
  if not isinstance(ensemble, PoreEnsemble):
    raise ValueError(f"ensemble must be a PoreEnsemble (from pore_ensemble), got "
                     f"{type(ensemble).__name__}")
  c = np.asarray(ensemble.counts)
  if c.ndim != 2 or np.asarray(ensemble.seen).shape != c.shape:
    raise ValueError(f"ensemble.counts and ensemble.seen must be (U, I) arrays of one shape, got "
                     f"{c.shape} and {np.asarray(ensemble.seen).shape}")
  t = _checks.integer("ensemble.num_models", ensemble.num_models, low=1)
  _checks.integer("ensemble.num_samples", ensemble.num_samples, low=1)
  _checks.integer("ensemble.num_users", ensemble.num_users, low=1)
  _checks.integer("ensemble.top_n_base", ensemble.top_n_base, low=1)
  if c.size and (c.min() < 0 or c.max() > t):
    raise ValueError(f"ensemble.counts must lie in [0, num_models={t}], got {c.min()} to "
                     f"{c.max()}")
  return ensemble


def pore_recommend(ensemble: PoreEnsemble, top_n: int) -> np.ndarray:
  """PORE's top-N per user: the ``top_n`` unseen items with the most base-model votes (eq. 4).

  Args:
    ensemble: from :func:`pore_ensemble`.
    top_n: ``N`` in ``[1, I]``.

  Returns:
    ``(U, N) int32`` item ids, best first; ties go to the lower id; a user with fewer than ``N``
    unseen items is padded with the sentinel ``I``.

  Raises:
    ValueError: not a PoreEnsemble, ``N`` outside ``[1, I]``.

  Source:
    Jia, Liu, Hu, Gong, USENIX Security 2023 (the ensemble's recommendation).
  """
  ensemble = _check_ensemble(ensemble)
  n = _checks.integer("top_n", top_n, low=1, high=ensemble.num_items)
  return _top(ensemble, n)


def _top(ensemble: PoreEnsemble, n: int) -> np.ndarray:
  score = np.where(ensemble.seen, -1, ensemble.counts).astype(np.int64)
  order = np.argsort(-score, axis=1, kind="stable")[:, :n]  # stable: lower id first among ties
  ok = np.take_along_axis(score, order, axis=1) >= 0
  return np.where(ok, order, ensemble.num_items).astype(np.int32)


def pore_bound(num_users: int, fake_users: Any, num_samples: int) -> np.ndarray | float:
  """``delta_e = 1 - (n / (n + e))^s``: the probability that a sample of ``s`` users drawn with
  replacement from the ``n + e`` users of the poisoned data holds a fake user (eq. 5).

  Args:
    num_users: ``n >= 1`` real users.
    fake_users: ``e``, an integer ``>= 0`` or an array of them (number of fake users, any
      ratings).
    num_samples: ``s >= 1``.

  Returns:
    ``delta_e`` (a float for an int ``e``, else a float64 array of ``e``'s shape), in ``[0, 1)``.

  Raises:
    ValueError: ``n < 1``, ``s < 1``, ``e`` negative or not integral.

  Source:
    Jia, Liu, Hu, Gong, USENIX Security 2023 (the overlap of clean and poisoned samples), for
    sampling with replacement.
  """
  n = _checks.integer("num_users", num_users, low=1)
  s = _checks.integer("num_samples", num_samples, low=1)
  e = _fake_users(fake_users)
  delta = -np.expm1(s * (np.log(n) - np.log(n + e.astype(np.float64))))
  return float(delta) if np.ndim(fake_users) == 0 else delta


def _fake_users(fake_users: Any) -> np.ndarray:
  if isinstance(fake_users, jax.core.Tracer):
    raise ValueError("fake_users must be concrete integers, got a traced value")
  e = np.asarray(fake_users)
  if e.dtype == bool or e.dtype.kind not in "iuf" or e.ndim > 1:
    raise ValueError(f"fake_users must be an integer or a 1-D array of integers, got "
                     f"{fake_users!r}")
  if e.size == 0:
    raise ValueError("fake_users must not be empty")
  if not np.all(np.isfinite(e)) or np.any(e != np.round(e)) or np.any(e < 0):
    raise ValueError(f"fake_users (number of fake users) must be integers >= 0, got "
                     f"{np.ravel(e)[:5].tolist()}")
  return e.astype(np.int64)


def _cp_bounds(ensemble: PoreEnsemble, alpha: float) -> tuple[np.ndarray, np.ndarray]:
  """Simultaneous Clopper-Pearson bounds (eq. 7), through a table over the counts 0..T."""
  from scipy import stats  # pylint: disable=import-outside-toplevel  # 0.3 s: not on import
  t = ensemble.num_models
  level = alpha / (2.0 * ensemble.counts.size)
  k = np.arange(t + 1, dtype=np.float64)
  with np.errstate(all="ignore"):
    lo = np.where(k > 0, stats.beta.ppf(level, np.maximum(k, 1), t - k + 1), 0.0)
    hi = np.where(k < t, stats.beta.ppf(1.0 - level, k + 1, np.maximum(t - k, 1)), 1.0)
  return lo[ensemble.counts], hi[ensemble.counts]


def _certified(lower, upper, good, cand, beta, delta, n, top_n_base) -> np.ndarray:
  """``(U,)`` certified sizes of eq. 6 for one ``(beta, delta)``."""
  g = -np.sort(-np.where(good, lower, -np.inf), axis=1)[:, :n]  # (U, <=N), best first
  b = -np.sort(-np.where(cand & ~good, upper, -np.inf), axis=1)[:, :n]
  num_users = g.shape[0]
  g = np.pad(g, ((0, 0), (0, n - g.shape[1])), constant_values=-np.inf)
  b = np.pad(b, ((0, 0), (0, n - b.shape[1])), constant_values=-np.inf)
  has_b = np.isfinite(b)
  bb = np.where(has_b, beta * b, 0.0)
  safe = np.ones((num_users, n), bool)  # safe[:, r-1]: fewer than r Good items is impossible
  for r in range(1, n + 1):
    c = n - r + 1
    has_g = np.isfinite(g[:, r - 1])
    t = np.where(has_g, beta * g[:, r - 1], 0.0)
    enough = has_b[:, c - 1]
    reach = bb[:, c - 1] + delta >= t - _TOL
    need = np.sum(np.maximum(t[:, None] - bb[:, :c], 0.0), axis=1)
    mass = need <= min(c, top_n_base) * delta + _TOL
    safe[:, r - 1] = has_g & ~(enough & reach & mass)
  return np.cumprod(safe, axis=1).sum(axis=1).astype(np.int32)


def _good_and_bounds(ensemble, top_n, relevant, alpha, exact):
  ensemble = _check_ensemble(ensemble)
  n = _checks.integer("top_n", top_n, low=1, high=ensemble.num_items)
  if not exact:
    alpha = _checks.real("alpha", alpha, low=0.0, low_open=True, high=1.0)
    if not alpha < 1.0:
      raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
  cand = ~ensemble.seen
  if relevant is None:
    top = _top(ensemble, n)
    good = np.zeros(ensemble.counts.shape, bool)
    rows = np.repeat(np.arange(good.shape[0]), n)
    ok = top.ravel() < ensemble.num_items
    good[rows[ok], top.ravel()[ok]] = True
  else:
    if not isinstance(relevant, PositiveIndex):
      raise ValueError(f"relevant must be a jaxrec.data.PositiveIndex (the test items), got "
                       f"{type(relevant).__name__}")
    _checks.size_matches("relevant", relevant.num_users, ensemble.counts.shape[0], "users")
    _checks.size_matches("relevant", relevant.num_items, ensemble.num_items, "items")
    good = (dense_matrix(relevant) > 0) & cand
  if exact:
    lower = upper = ensemble.probabilities
  else:
    lower, upper = _cp_bounds(ensemble, float(alpha))
  return ensemble, n, good, cand, lower, upper


def pore_certify(ensemble: PoreEnsemble, fake_users: Any, *, top_n: int,
                 relevant: PositiveIndex | None = None, alpha: float = 0.001,
                 exact: bool = False) -> np.ndarray:
  """Certified size ``r_e(u)`` per user: at least ``r`` of the guarded items stay in PORE's top-N
  under any ``e`` fake users with any ratings (eqs. 5-7).

  With ``relevant=None`` the guarded items are PORE's own clean top-N (:func:`pore_recommend`):
  at least ``r`` of the ``N`` recommended items are still recommended after the attack. With
  ``relevant`` (the test items), at least ``r`` of the user's test items are recommended after
  the attack, the quantity behind certified precision and recall (:func:`pore_certified_accuracy`).

  Args:
    ensemble: from :func:`pore_ensemble`.
    fake_users: ``e``, number of fake users: an integer ``>= 0`` or a 1-D array of them.
    top_n: ``N`` in ``[1, I]``.
    relevant: optional test items (``U`` users, ``I`` items); training items among them are
      ignored.
    alpha: in ``(0, 1)``: the Monte Carlo bounds hold together (every user, item and ``e``) with
      probability at least ``1 - alpha`` (ignored with ``exact``).
    exact: take the counts' frequencies as the exact probabilities (no confidence bound): right
      when the ensemble enumerates every sample (``samples`` = all ``U^s`` ordered samples).

  Returns:
    ``(U,) int32`` for an integer ``e``, ``(E, U) int32`` for an array of ``E`` values, each in
    ``[0, N]`` (and at most the user's number of guarded items).

  Raises:
    ValueError: not a PoreEnsemble, ``N`` outside ``[1, I]``, ``e`` negative or not integral,
      ``alpha`` outside ``(0, 1)``, ``relevant`` not a PositiveIndex of the ensemble's sizes.

  Source:
    Jia, Liu, Hu, Gong, USENIX Security 2023, Theorem 1 (with sampling with replacement, eq. 5,
    and the per-model bound ``min(c, N')``); Clopper, Pearson, Biometrika 1934.
  """
  ensemble, n, good, cand, lower, upper = _good_and_bounds(ensemble, top_n, relevant, alpha,
                                                           exact)
  e = _fake_users(fake_users)
  deltas = pore_bound(ensemble.num_users, e.ravel(), ensemble.num_samples)
  out = np.stack([_certified(lower, upper, good, cand, 1.0 - d, d, n, ensemble.top_n_base)
                  for d in np.atleast_1d(deltas)])
  return out[0] if e.ndim == 0 else out


def pore_certified_accuracy(ensemble: PoreEnsemble, test: PositiveIndex, fake_users: Any, *,
                            top_n: int, alpha: float = 0.001, exact: bool = False
                            ) -> dict[str, np.ndarray]:
  """Certified precision@N and recall@N against the test items, as functions of ``e`` (eq. 8).

  Args:
    ensemble: from :func:`pore_ensemble`.
    test: the test items (``U`` users, ``I`` items).
    fake_users: ``e``: an integer ``>= 0`` or a 1-D array of them.
    top_n: ``N`` in ``[1, I]``.
    alpha: in ``(0, 1)``, as in :func:`pore_certify`.
    exact: as in :func:`pore_certify`.

  Returns:
    ``{"fake_users": (E,) int64, "precision": (E,) float64, "recall": (E,) float64,
    "users": int}``: means over the ``users`` users with at least one (unseen) test item of
    ``r_e(u) / N`` and ``r_e(u) / |test items of u|``.

  Raises:
    ValueError: as :func:`pore_certify`; no user has a test item.

  Source:
    Jia, Liu, Hu, Gong, USENIX Security 2023 (certified precision and recall).
  """
  e = np.atleast_1d(_fake_users(fake_users))
  r = pore_certify(ensemble, e, top_n=top_n, relevant=test, alpha=alpha, exact=exact)
  num_test = ((dense_matrix(test) > 0) & ~ensemble.seen).sum(axis=1)
  users = num_test > 0
  if not users.any():
    raise ValueError("no user has a test item outside their training items")
  return {"fake_users": e, "precision": r[:, users].mean(axis=1) / top_n,
          "recall": (r[:, users] / num_test[users]).mean(axis=1), "users": int(users.sum())}
