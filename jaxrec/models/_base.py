"""The one model protocol every recommender, surrogate and future visual model implements.

A model is a hashable configuration (a frozen ``flax.struct`` dataclass: sizes static,
real-valued hyper-parameters such as ``reg`` pytree leaves, so a grid over them compiles once)
with pure methods. The data are an *argument* of every method, never stored: a
:class:`jaxrec.data.PositiveIndex`, a :class:`jaxrec.data.Graph` with (relaxed) edge weights,
a dense ``(N, I)`` matrix, or, for content-aware models, a pytree holding item features or
images. Passed as an argument, the data are not baked into compiled programs as constants, and
``jax.grad`` reaches them: a poisoning attack differentiates a model's scores with respect to
fake interactions, a content attack with respect to pixels.

Methods (``U`` users, ``I`` items of the *data*; ``B`` pairs, ``C`` users scored):

* ``init(key, data) -> params``: fresh parameters (closed-form models such as EASE, ItemKNN and
  the ALS surrogate solve here);
* ``loss(params, batch, data) -> ()``: the training loss to minimise on a batch (BPR triples,
  or ``None`` for full-batch models);
* ``score(params, data, users (B,), items (B,)) -> (B,)``: scores of aligned pairs;
* ``score_all(params, data, users (C,)) -> (C, I)``: scores of every item;
* ``scoring(params, data) -> (model, params)``: an equivalent model for ranking many users, with
  whatever does not depend on the user computed once (LightGCN's propagation); the identity
  for most models. Evaluators call it once, then ``score_all`` per chunk of users.

Optional, for row-sparse training (:class:`RowSparseModel`; :class:`jaxrec.models.MF` has it):

* ``touched_rows(batch) -> index``: a pytree shaped like ``params`` whose leaves are the
  ``(K,) int32`` rows of each table the batch reads;
* ``loss_on_rows(rows, batch, data) -> ()``: the loss from those rows, gathered
  (:func:`gather_rows`), so that ``loss(params, batch, data) == loss_on_rows(gather_rows(params,
  touched_rows(batch)), batch, data)``. Its gradient with respect to the gathered rows is the
  row-sparse gradient of the loss; :func:`jaxrec.training.epoch` steps on it with
  :func:`jaxrec.optim.sparse_adagrad` / :func:`~jaxrec.optim.sparse_sgd` without touching the
  rest of the tables. A model may add ``value_and_grad_on_rows(rows, batch, data) -> (loss,
  grads)``, a closed form of that gradient (BPR-MF's saves a third of a step).

Optional, for dot-product models (:class:`jaxrec.models.MF`, :class:`jaxrec.models.LightGCN`):

* ``dot_vectors(params, data) -> (user_vectors (U, D), item_vectors (I, D), item_bias (I,) or
  None)``: vectors whose inner product (plus the bias) is ``score_all``'s score, so the whole
  catalogue can be ranked in item blocks and over a row-sharded catalogue
  (:func:`jaxrec.metrics.top_k_dot`; :func:`jaxrec.metrics.recommend` with ``block_size`` or
  ``mesh``).

Ids and padding (``docs/data.md``): user and item ids must lie in ``[0, U)`` and ``[0, I)``. Score
methods check them (a ``ValueError`` when concrete, a :func:`jaxrec.checked` check under ``jit``)
and return NaN, never a clamped row, for an id outside the range; metrics raise on NaN. Padding in
indices and graphs is the sentinel id ``U`` / ``I`` (weight 0 in a graph); models read padding as
nothing.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import jax
import jax.numpy as jnp

from jaxrec import _checks
from jaxrec.typing import Array, ArrayLike, Params, PRNGKey

__all__ = ["Model", "RowSparseModel", "gather_rows"]


@runtime_checkable
class Model(Protocol):
  """The model protocol (module docstring): ``init``, ``loss``, ``score``, ``score_all``,
  ``scoring`` and a short ``name`` for reports."""

  name: str

  def init(self, key: PRNGKey, data: Any) -> Params:
    """Fresh parameters for the users and items of ``data``."""

  def loss(self, params: Params, batch: Any, data: Any) -> Array:
    """The scalar training loss of ``batch``."""

  def score(self, params: Params, data: Any, users: ArrayLike, items: ArrayLike) -> Array:
    """``(B,)`` scores of aligned ``(B,)`` users and items."""

  def score_all(self, params: Params, data: Any, users: ArrayLike) -> Array:
    """``(C, I)`` scores of every item for ``(C,)`` users."""

  def scoring(self, params: Params, data: Any) -> tuple[Any, Params]:
    """``(model, params)`` that rank like this model, cheap per chunk of users."""


@runtime_checkable
class RowSparseModel(Protocol):
  """The optional row-sparse half of the protocol (module docstring): ``touched_rows`` and
  ``loss_on_rows``."""

  def touched_rows(self, batch: Any) -> Params:
    """A pytree like the params: the ``(K,) int32`` rows of each leaf that ``batch`` reads."""

  def loss_on_rows(self, rows: Params, batch: Any, data: Any) -> Array:
    """The batch's loss from the gathered rows (equal to ``loss``)."""


def gather_rows(params: Params, index: Params) -> Params:
  """The rows ``index`` of every leaf of ``params`` (``leaf[index_leaf]``, a gather per leaf).

  Args:
    params: a pytree of ``(R, ...)`` tables. index: the same pytree with ``(K,) int32`` row ids
      (in range: not checked, they come from sampled batches).

  Returns:
    The pytree of ``(K, ...)`` gathered rows.

  Raises:
    Nothing (jittable).

  Source:
    jaxrec.
  """
  return jax.tree.map(lambda p, ix: p[ix], params, index)


def data_sizes(data: Any) -> tuple[int, int]:
  """``(U, I)`` of a :class:`~jaxrec.data.PositiveIndex`, a :class:`~jaxrec.data.Graph`, any
  pytree with ``num_users`` / ``num_items`` attributes, or a dense ``(U, I)`` matrix.

  Raises:
    ValueError: data of none of these kinds.
  """
  if hasattr(data, "num_users") and hasattr(data, "num_items"):
    return int(data.num_users), int(data.num_items)
  if hasattr(data, "ndim") and data.ndim == 2:
    return int(data.shape[0]), int(data.shape[1])
  raise ValueError(f"data must be a PositiveIndex, a Graph, a pytree with num_users and "
                   f"num_items, or a dense (users, items) matrix; got {type(data).__name__}")


def check_items(model_items: int, data: Any) -> None:
  """Static: the model's catalogue (``model_items``) equals the data's (skipped for ``None``)."""
  if data is not None:
    _checks.size_matches("the model's catalogue", model_items, data_sizes(data)[1], "items")


def take_rows(table: Array, ids: Array) -> Array:
  """``table[ids]`` along the first axis with NaN rows for ids outside ``[0, len(table))``
  (negative ids included: no wrap-around, no clamping)."""
  n = table.shape[0]
  safe = jnp.where((ids >= 0) & (ids < n), ids, n)
  return jnp.take(table, safe, axis=0, mode="fill", fill_value=jnp.nan)


def user_rows(table: Array, users: ArrayLike) -> Array:
  """``table[users]`` with a checked id range: ``(C, D)``, NaN rows for ids outside the table
  (a ``ValueError`` instead when ``users`` is concrete)."""
  return take_rows(table, _checks.ids("users", users, table.shape[0]))


def item_rows(table: Array, items: ArrayLike) -> Array:
  """``table[items]`` with a checked id range (see :func:`user_rows`)."""
  return take_rows(table, _checks.ids("items", items, table.shape[0]))


def nan_outside(scores: Array, ids: Array, size: int) -> Array:
  """``scores`` with NaN in the rows (leading axis) whose id lies outside ``[0, size)``."""
  ok = (ids >= 0) & (ids < size)
  return jnp.where(ok.reshape(ok.shape + (1,) * (scores.ndim - ok.ndim)), scores, jnp.nan)


def pair_ids(users: ArrayLike, items: ArrayLike, num_users: int, num_items: int
             ) -> tuple[Array, Array]:
  """Checked aligned ``(B,)`` user and item ids (``ValueError`` on mismatched shapes)."""
  users = _checks.ids("users", users, num_users)
  items = _checks.ids("items", items, num_items)
  if users.shape != items.shape:
    raise ValueError(f"users and items must be aligned, got shapes {users.shape} and "
                     f"{items.shape}")
  return users, items


def pair_nan_outside(scores: Array, users: Array, items: Array, num_users: int,
                     num_items: int) -> Array:
  """``(B,)`` scores with NaN where a user or item id is out of range."""
  ok = (users >= 0) & (users < num_users) & (items >= 0) & (items < num_items)
  return jnp.where(ok, scores, jnp.nan)


def positive_int(name: str, value: Any) -> int:
  """A static positive integer hyper-parameter (sizes)."""
  return _checks.integer(name, value, low=1)


def non_negative(name: str, value: Any):
  """A finite real hyper-parameter ``>= 0`` (concrete or traced)."""
  return _checks.real(name, value, low=0.0)


def positive(name: str, value: Any):
  """A finite real hyper-parameter ``> 0`` (concrete or traced)."""
  return _checks.real(name, value, low=0.0, low_open=True)


def identity_scoring(model: Any, params: Params, data: Any) -> tuple[Any, Params]:
  """The default ``scoring``: the model itself."""
  del data
  return model, params


def truncated_normal(key: PRNGKey, shape: tuple[int, ...], stddev: float) -> Array:
  """``stddev * N(0, 1)`` truncated at 2 standard deviations, float32 (the APR code's init)."""
  return stddev * jax.random.truncated_normal(key, -2.0, 2.0, shape, jnp.float32)
