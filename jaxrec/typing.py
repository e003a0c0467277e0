"""Type aliases shared across jaxrec (optax's convention: ``jax.Array`` out, ``ArrayLike`` in)."""

from typing import Any

import jax
from jax.typing import ArrayLike

Array = jax.Array
PRNGKey = jax.Array  # a typed key from ``jax.random.key``
Params = Any  # a pytree of arrays
Batch = Any  # a pytree of arrays

__all__ = ["Array", "ArrayLike", "Batch", "Params", "PRNGKey"]
