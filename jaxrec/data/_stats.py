"""Dataset characteristics that explain recommender accuracy and robustness (host-side).

The set follows Deldjoo, Di Noia, Di Sciascio, Merra, "How Dataset Characteristics Affect the
Robustness of Collaborative Recommendation Models", SIGIR 2020, which regresses attack impact on
the size, shape and density of the user-item matrix and on the concentration (Gini) of user and
item degrees; the log-transformed variables follow Adomavicius & Zhang, "Impact of Data
Characteristics on Recommender Systems Performance", ACM TMIS 3(1), 2012.
"""

from __future__ import annotations

import math

import numpy as np

from jaxrec.data._interactions import Interactions

__all__ = ["characteristics"]


def characteristics(interactions: Interactions) -> dict[str, int | float | None]:
  """Size, shape, density, degree concentration and rating moments of an interaction set.

  With ``U = num_users``, ``I = num_items`` (whole id spaces, including ids without
  interactions) and ``N`` rows:

  * ``users`` = U, ``items`` = I, ``interactions`` = N (ints);
  * ``space`` = U * I (int), ``shape`` = U / I, ``density`` = N / (U * I);
  * ``log_space``, ``log_shape``, ``log_density``: natural logarithms of the three;
  * ``gini_user``, ``gini_item``: Gini coefficient (:func:`jaxrec.metrics.gini`, ``n``
    denominator) of the ``(U,)`` user degrees and ``(I,)`` item degrees, zeros included; 0 is
    perfect equality;
  * ``mean_user_degree`` = N / U, ``mean_item_degree`` = N / I (interactions per user/item);
  * ``rating_mean``, ``rating_std``: mean and population standard deviation (``ddof=0``) of the
    ratings in rating units, computed in float64; ``None`` when ``ratings`` is ``None``.

  Rows are counted as given (duplicates, if any, count as separate interactions).

  Args:
    interactions: ``N >= 1`` rows; ``users``/``items`` ``(N,) int32``, optional ``ratings``
      ``(N,) float32``.

  Returns:
    A dict of plain Python ``int``/``float`` (or ``None`` for the rating entries), keys in the
    order listed above.

  Raises:
    ValueError: ``interactions`` has no rows.

  References:
    Deldjoo, Di Noia, Di Sciascio, Merra, "How Dataset Characteristics Affect the Robustness of
    Collaborative Recommendation Models", SIGIR 2020.
    Adomavicius, Zhang, "Impact of Data Characteristics on Recommender Systems Performance",
    ACM TMIS 3(1), 2012.
  """
  # Imported here, not at module level, so that jaxrec.metrics may import jaxrec.data freely.
  from jaxrec.metrics._gini import gini  # pylint: disable=import-outside-toplevel

  n = len(interactions)
  if n == 0:
    raise ValueError("characteristics of an empty Interactions are undefined (no rows)")
  num_users, num_items = int(interactions.num_users), int(interactions.num_items)
  user_degree = np.bincount(np.asarray(interactions.users), minlength=num_users)
  item_degree = np.bincount(np.asarray(interactions.items), minlength=num_items)
  space = num_users * num_items
  shape = num_users / num_items
  density = n / space
  if interactions.ratings is None:
    rating_mean = rating_std = None
  else:
    r = np.asarray(interactions.ratings, np.float64)
    rating_mean, rating_std = float(r.mean()), float(r.std())
  return {
      "users": num_users,
      "items": num_items,
      "interactions": n,
      "space": space,
      "shape": shape,
      "density": density,
      "log_space": math.log(space),
      "log_shape": math.log(shape),
      "log_density": math.log(density),
      "gini_user": float(gini(user_degree)),
      "gini_item": float(gini(item_degree)),
      "mean_user_degree": n / num_users,
      "mean_item_degree": n / num_items,
      "rating_mean": rating_mean,
      "rating_std": rating_std,
  }
