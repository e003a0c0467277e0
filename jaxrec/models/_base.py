"""The recommender interface: a params pytree plus pure scoring functions."""

from typing import Callable, NamedTuple

from jaxrec.typing import Array, Params

__all__ = ["Recommender"]


class Recommender(NamedTuple):
  """A recommender as pure functions (the haiku ``Transformed`` shape).

  Attributes:
    init: ``init(key, num_users, num_items, **hyperparameters) -> Params``.
    score: ``score(params, users (B,), items (B,)) -> (B,) float`` pairwise scores.
    score_all: ``score_all(params, users (B,)) -> (B, num_items) float`` scores of every item
      for each user (used for all-item ranking; must be cheap for a chunk of users).
  Data-dependent models receive their data through ``params`` or an explicit argument, never
  stored state, so gradients reach it.
  """

  init: Callable[..., Params]
  score: Callable[[Params, Array, Array], Array]
  score_all: Callable[[Params, Array], Array]
  name: str = ""  # short name used in reports, e.g. "bpr-mf"
