"""The Gini coefficient of a non-negative distribution (exposure, degrees)."""

import jax.numpy as jnp

from jaxrec.typing import Array, ArrayLike

__all__ = ["gini"]


def gini(counts: ArrayLike) -> Array:
  """Gini coefficient of non-negative counts over a whole population.

  With ``x`` sorted ascending and 1-based positions ``j``::

      G = sum_j (2 j - n - 1) x_j / (n sum_j x_j)

  0 means perfect equality, ``(n - 1) / n`` that one member holds everything. Every member counts,
  including zeros (for recommendation exposure: items never recommended); we divide by ``n``, not
  ``n - 1`` as some libraries do. Jittable.

  Args:
    counts: ``(n,)`` non-negative numbers (int or float), e.g. how often each item is recommended.

  Returns:
    A scalar float32; 0 when ``n == 0`` or all counts are 0.

  References:
    Castells, Hurley, Vargas, "Novelty and Diversity in Recommender Systems", Recommender Systems
    Handbook (2nd ed.), Springer 2015, Gini index of item exposure; the same ``n`` denominator as
    RecBole's ``GiniIndex`` (Zhao et al., CIKM 2021).
  """
  x = jnp.sort(jnp.asarray(counts, jnp.float32).ravel())
  n = x.shape[0]
  if n == 0:
    return jnp.float32(0.0)
  j = jnp.arange(1, n + 1, dtype=jnp.float32)
  total = jnp.sum(x)
  num = jnp.sum((2.0 * j - n - 1.0) * x)
  return jnp.where(total > 0, num / (n * jnp.where(total > 0, total, 1.0)), 0.0)
