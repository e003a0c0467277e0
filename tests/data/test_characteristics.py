"""characteristics() on a hand-computed example."""

import math

import pytest

from jaxrec.data import characteristics, from_arrays


def test_characteristics_hand_computed():
  # U=3, I=4 (item 3 unused); user degrees [2, 1, 1], item degrees [3, 1, 0, 0].
  x = from_arrays([0, 0, 1, 2], [0, 1, 0, 0], num_users=3, num_items=4,
                  ratings=[1.0, 2.0, 3.0, 4.0])
  c = characteristics(x)
  assert c["users"] == 3 and c["items"] == 4 and c["interactions"] == 4 and c["space"] == 12
  assert all(type(c[k]) is int for k in ("users", "items", "interactions", "space"))
  assert c["density"] == pytest.approx(1 / 3)
  assert c["shape"] == pytest.approx(0.75)
  assert c["log_space"] == pytest.approx(math.log(12))
  assert c["log_shape"] == pytest.approx(math.log(0.75))
  assert c["log_density"] == pytest.approx(math.log(1 / 3))
  # Gini, sorted x, n denominator: users [1,1,2] -> (-2*1 + 0*1 + 2*2) / (3*4) = 1/6;
  # items [0,0,1,3] -> (-3*0 - 1*0 + 1*1 + 3*3) / (4*4) = 10/16.
  assert c["gini_user"] == pytest.approx(1 / 6, rel=1e-6)
  assert c["gini_item"] == pytest.approx(10 / 16, rel=1e-6)
  assert c["mean_user_degree"] == pytest.approx(4 / 3)
  assert c["mean_item_degree"] == pytest.approx(1.0)
  assert c["rating_mean"] == pytest.approx(2.5)
  assert c["rating_std"] == pytest.approx(math.sqrt(1.25))  # population std
  assert all(type(v) in (int, float) for v in c.values())


def test_characteristics_without_ratings_and_empty():
  c = characteristics(from_arrays([0, 1], [0, 0]))
  assert c["rating_mean"] is None and c["rating_std"] is None
  assert c["gini_user"] == 0.0 and c["gini_item"] == 0.0
  with pytest.raises(ValueError, match="empty"):
    characteristics(from_arrays([], [], num_users=2, num_items=2))
