"""Input checks at the public boundary: the one module every public entry point validates with.

Every check names the argument it rejects and raises ``ValueError``. What can be checked depends
on when a value is known:

* **static** (shapes, dtypes, Python ints such as ``k``, ``num_steps``, ``filler_size``, the
  length of a target list, a model's catalogue size against the data's): checked at trace time,
  so the same ``ValueError`` is raised eagerly and under ``jit`` / ``vmap`` / ``grad``;
* **values** (ids in range, distinct targets, finite non-negative ``eps`` / step sizes / ``reg``
  / ``lambda_`` given as Python, NumPy or JAX numbers): checked on the host with ``ValueError``
  when the value is concrete; when it is a tracer (inside ``jit``), the same condition is
  recorded as a :func:`jax.experimental.checkify.debug_check`, which runs under
  :func:`checked` (``jaxrec.checked(jax.jit(f))(...)`` raises the same ``ValueError``) and is
  dropped otherwise (no cost in compiled programs);
* whatever is not checked under plain ``jit`` still never passes silently where it matters: score
  functions return NaN (not a clamped row) for ids outside ``[0, size)``, and every metric raises
  on NaN scores.

The one padding rule (``docs/data.md``): fixed-capacity arrays mark padding with the sentinel id
``size`` (``num_users`` for users, ``num_items`` for items), and a padding edge of a
:class:`jaxrec.data.Graph` has weight 0; padding never reaches a model's output.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import checkify

__all__ = ["checked"]


def is_concrete(x: Any) -> bool:
  """True when no leaf of ``x`` is a tracer (its values can be read on the host)."""
  return not any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves(x))


def checked(fn: Callable) -> Callable:
  """``fn`` with jaxrec's traced-value checks turned on; bad values raise ``ValueError``.

  Inside ``jit`` the value checks of jaxrec (ids in range, non-negative finite budgets, ...)
  are ``checkify.debug_check``s: dropped unless the function is transformed by
  ``checkify``. ``checked(jax.jit(f))`` runs them and raises the first failure as the same
  ``ValueError`` an eager call raises.

  Args:
    fn: any function of arrays (jitted or not).

  Returns:
    A function with ``fn``'s signature and outputs.

  Raises:
    ValueError: (from the returned function) a failed check, with its message.

  Source:
    jaxrec, on :func:`jax.experimental.checkify.checkify`.
  """
  wrapped = checkify.checkify(fn, errors=checkify.user_checks)

  def run(*args, **kwargs):
    err, out = wrapped(*args, **kwargs)
    message = err.get()
    if message:
      raise ValueError(message.replace(" (`check` failed)", ""))
    return out

  return run


def check_traced(pred, message: str, **values) -> None:
  """Records ``pred`` (a traced bool) as a :func:`checkify.debug_check`: it fails under
  :func:`checked` with ``message`` (``{name}`` fields formatted from ``values``), and is dropped
  otherwise."""
  checkify.debug_check(pred, message, **values)


def _is_bool(x) -> bool:
  return isinstance(x, (bool, np.bool_)) or (hasattr(x, "dtype") and np.dtype(x.dtype) == bool)


# ---------------------------------------------------------------------------------------------
# static integers


def integer(name: str, value: Any, *, low: int | None = None, high: int | None = None) -> int:
  """A Python ``int`` in ``[low, high]`` (static: counts, ``k``, ``num_steps``, sizes).

  Accepts Python and NumPy integers and concrete integral 0-d arrays; rejects booleans,
  floats with a fraction, tracers.
  """
  if _is_bool(value) or isinstance(value, jax.core.Tracer):
    raise ValueError(f"{name} must be an integer, got {value!r}")
  try:
    as_int = int(value)
    exact = as_int == value
  except (TypeError, ValueError):
    exact = False
  if not exact or np.ndim(value):
    raise ValueError(f"{name} must be an integer, got {value!r}")
  if (low is not None and as_int < low) or (high is not None and as_int > high):
    bound = (f"in [{low}, {high}]" if low is not None and high is not None
             else f">= {low}" if low is not None else f"<= {high}")
    raise ValueError(f"{name} must be an integer {bound}, got {as_int}")
  return as_int


def choice(name: str, value: Any, options: tuple) -> Any:
  """``value`` if it is one of ``options`` (static strings such as ``norm``)."""
  if value not in options:
    raise ValueError(f"{name} must be one of {options}, got {value!r}")
  return value


# ---------------------------------------------------------------------------------------------
# real numbers: eps, step sizes, reg, lambda_, learning rates


def real(name: str, value: Any, *, low: float | None = 0.0, low_open: bool = False,
         high: float | None = None, array: bool = False):
  """A finite real number (or, with ``array=True``, an array of them) within bounds.

  Python, NumPy and JAX numbers are checked alike: a concrete value on the host (``ValueError``),
  a traced one by a ``debug_check`` (see :func:`checked`). Booleans are rejected.

  Args:
    name: the argument's name, for the message.
    value: the number.
    low: lower bound (``None``: none); inclusive unless ``low_open``.
    high: inclusive upper bound (``None``: none).
    array: accept arrays (every element checked), e.g. a per-user ``eps``.

  Returns:
    ``value`` unchanged (a Python float stays a Python float).
  """
  if _is_bool(value):
    raise ValueError(f"{name} must be a real number, got {value!r}")
  if not isinstance(value, jax.core.Tracer):
    try:
      raw = np.asarray(value)
    except (TypeError, ValueError):
      raise ValueError(f"{name} must be a real number, got {value!r}") from None
    if raw.dtype.kind not in "iuf":  # strings, objects, complex numbers
      raise ValueError(f"{name} must be a real number, got {value!r} (dtype {raw.dtype})")
    x = raw.astype(np.float64)
    if x.ndim and not array:
      raise ValueError(f"{name} must be a scalar, got shape {x.shape}")
    bad = ~np.isfinite(x)
    if low is not None:
      bad |= (x <= low) if low_open else (x < low)
    if high is not None:
      bad |= x > high
    if np.any(bad):
      shown = value if x.ndim == 0 else x[bad].ravel()[:5].tolist()
      raise ValueError(f"{name} must be {_describe(low, low_open, high)}, got {shown}")
    return value
  x = jnp.asarray(value)
  if x.ndim and not array:
    raise ValueError(f"{name} must be a scalar, got shape {x.shape}")
  if not (jnp.issubdtype(x.dtype, jnp.floating) or jnp.issubdtype(x.dtype, jnp.integer)):
    raise ValueError(f"{name} must be a real number, got dtype {x.dtype}")
  ok = jnp.all(jnp.isfinite(x))
  if low is not None:
    ok &= jnp.all(x > low) if low_open else jnp.all(x >= low)
  if high is not None:
    ok &= jnp.all(x <= high)
  shown = x
  if x.ndim:  # the first offending element
    flat = jnp.ravel(x)
    bad = ~jnp.isfinite(flat)
    if low is not None:
      bad |= (flat <= low) if low_open else (flat < low)
    if high is not None:
      bad |= flat > high
    shown = flat[jnp.argmax(bad)]
  check_traced(ok, f"{name} must be {_describe(low, low_open, high)}, got {{v}}", v=shown)
  return value


def _describe(low, low_open, high) -> str:
  parts = ["finite"]
  if low is not None:
    parts.append(f"{'>' if low_open else '>='} {low:g}")
  if high is not None:
    parts.append(f"<= {high:g}")
  return " and ".join(parts)


# ---------------------------------------------------------------------------------------------
# ids


def ids(name: str, values: Any, size: int, *, distinct: bool = False, nonempty: bool = False,
        ndim: int | None = 1, padding: bool = False) -> jax.Array:
  """Integer ids in ``[0, size)`` (``[0, size]`` with ``padding``, the sentinel ``size``).

  Args:
    name: the argument's name.
    values: the ids (any integer array-like; traced allowed).
    size: the id space ``U`` or ``I``.
    distinct: no id may repeat (checked per last axis row for 2-D ids).
    nonempty: at least one id.
    ndim: required number of dimensions (``None``: any).
    padding: allow the sentinel ``size`` (padding rows).

  Returns:
    The ids as an ``int32`` JAX array.
  """
  if isinstance(values, jax.core.Tracer):
    x = values
  else:
    x = np.asarray(values)
    if x.dtype == object:
      raise ValueError(f"{name} must be integer ids, got {values!r}")
  if x.size == 0 and x.dtype != bool and not jnp.issubdtype(x.dtype, jnp.integer):
    x = np.zeros(x.shape, np.int32)  # an empty list carries no dtype
  if not jnp.issubdtype(x.dtype, jnp.integer) or _is_bool(x):
    raise ValueError(f"{name} must be integer ids, got dtype {x.dtype}")
  if ndim is not None and x.ndim != ndim:
    raise ValueError(f"{name} must be a {ndim}-D array of ids, got shape {tuple(x.shape)}")
  if nonempty and x.size == 0:
    raise ValueError(f"{name} must not be empty")
  top = size if padding else size - 1
  if not isinstance(x, jax.core.Tracer):
    if x.size and (x.min() < 0 or x.max() > top):
      raise ValueError(f"{name} must lie in [0, {top + 1}), got ids from {x.min()} to "
                       f"{x.max()}")
    if distinct and x.size:
      rows = x.reshape(-1, x.shape[-1]) if x.ndim else x.reshape(1, 1)
      for row in rows:
        if np.unique(row).size != row.size:
          raise ValueError(f"{name} repeats an id: {row.tolist()}")
    return jnp.asarray(x, jnp.int32)
  if x.size:
    check_traced(jnp.all((x >= 0) & (x <= top)),
                  f"{name} must lie in [0, {top + 1}), got ids from {{lo}} to {{hi}}",
                  lo=jnp.min(x), hi=jnp.max(x))
    if distinct and x.shape[-1] > 1:
      s = jnp.sort(x, axis=-1)
      check_traced(jnp.all(s[..., 1:] != s[..., :-1]), f"{name} repeats an id")
  return x.astype(jnp.int32)


def size_matches(name: str, got: int, expected: int, what: str) -> None:
  """Static: ``got == expected`` (e.g. a model's catalogue against the data's)."""
  if int(got) != int(expected):
    raise ValueError(f"{name} covers {got} {what}, but the data has {expected}")


# ---------------------------------------------------------------------------------------------
# matrices


def matrix(name: str, x: Any, *, num_cols: int | None = None, binary: bool = False,
           unit: bool = False, nonempty: bool = False) -> jax.Array:
  """A 2-D floating matrix (``(rows, num_cols)``), optionally 0/1 or within ``[0, 1]``.

  Shape and dtype are static checks; the values (binary, unit interval, NaN) are checked when
  concrete and by ``debug_check`` when traced. A host value (NumPy, list, or a concrete JAX
  array, also one closed over inside ``jit``) is read with NumPy *before* any conversion:
  inside a ``jit`` trace ``jnp.asarray`` of a NumPy array is already a tracer.
  """
  if isinstance(x, jax.core.Tracer):
    xp, v, dtype = jnp, x, x.dtype
  else:
    try:
      v = np.asarray(x)
    except (TypeError, ValueError):
      raise ValueError(f"{name} must be a 2-D floating matrix, got {x!r}") from None
    xp, dtype = np, v.dtype
  if v.ndim != 2 or not jnp.issubdtype(dtype, jnp.floating):
    raise ValueError(f"{name} must be a 2-D floating matrix, got {dtype}{tuple(v.shape)}")
  if num_cols is not None and v.shape[1] != num_cols:
    raise ValueError(f"{name} has {v.shape[1]} items (columns), expected {num_cols}")
  if nonempty and v.size == 0:
    raise ValueError(f"{name} must not be empty, got shape {tuple(v.shape)}")
  if binary:
    ok, what = (v == 0) | (v == 1), "only 0 and 1"
  elif unit:
    ok, what = (v >= 0) & (v <= 1), "entries in [0, 1]"
  else:
    ok, what = ~xp.isnan(v), "no NaN"
  if xp is np:
    if v.size and not bool(np.all(ok)):
      raise ValueError(f"{name} must hold {what}")
    return jnp.asarray(x)  # a concrete JAX array is returned as it is
  if v.size:
    check_traced(jnp.all(ok), f"{name} must hold {what}")
  return x


# ---------------------------------------------------------------------------------------------
# cut-offs and budgets


def cutoffs(ks: Any, num_items: int) -> tuple[int, ...]:
  """Sorted distinct cut-offs, each an integer in ``[1, num_items]``; a single int is allowed."""
  if np.ndim(ks) == 0 and not isinstance(ks, (tuple, list)):
    ks = (ks,)
  ks = tuple(ks)
  if not ks:
    raise ValueError("ks must name at least one cut-off")
  for k in ks:
    integer("k", k, low=1)
    if k > num_items:
      raise ValueError(f"k={k} is larger than the catalogue (num_items={num_items})")
  return tuple(sorted({int(k) for k in ks}))


def num_fake_users(budget: Any, num_real_users: int) -> int:
  """Number of fake users for a budget: a fraction of the real users in ``(0, 1)``
  (``max(1, round(budget * U))``, Python's round, half to even) or an integer count ``>= 1``.

  Raises:
    ValueError: a boolean, string, array or traced value, a count below 1, a fraction outside
      ``(0, 1)``, a non-finite value. Integer-typed values (Python, NumPy, 0-d JAX arrays) are
      counts, floating ones fractions.
  """
  if _is_bool(budget):
    raise ValueError(f"budget must be a fraction or a count, got {budget!r}")
  if isinstance(budget, jax.core.Tracer):
    raise ValueError("budget must be a concrete number (it sets an array size), got a traced "
                     "value")
  dtype = np.asarray(budget).dtype
  if np.ndim(budget) or dtype.kind not in "iuf":
    raise ValueError(f"budget must be a fraction or a count, got {budget!r}")
  if dtype.kind in "iu":  # Python, NumPy and JAX integers (0-d arrays too) are counts
    if int(budget) < 1:
      raise ValueError(f"budget (number of fake users) must be >= 1, got {budget}")
    return int(budget)
  value = float(budget)
  if not (math.isfinite(value) and 0.0 < value < 1.0):
    raise ValueError(f"budget as a fraction of the real users must lie in (0, 1), got {budget}; "
                     "give an int for a count of fake users")
  return max(1, round(value * num_real_users))
