"""remap_ids, deduplicate and binarize on hand-built arrays."""

import numpy as np
import pytest

from jaxrec.data import binarize, deduplicate, from_arrays, remap_ids


def test_remap_ids_ascending_raw_order():
  users, items, user_ids, item_ids = remap_ids([40, -1, 40, 7], [3, 3, 100, 2])
  np.testing.assert_array_equal(users, [2, 0, 2, 1])
  np.testing.assert_array_equal(items, [1, 1, 2, 0])
  np.testing.assert_array_equal(user_ids, [-1, 7, 40])
  np.testing.assert_array_equal(item_ids, [2, 3, 100])
  assert users.dtype == np.int32 and items.dtype == np.int32
  assert user_ids.dtype == np.int64 and item_ids.dtype == np.int64


@pytest.mark.parametrize("users, items, match", [
    ([1, 2], [1], "differ in length"),
    ([1.5, 2.0], [1, 2], "must hold integers"),
    ([[1, 2]], [[1, 2]], "must be 1-D"),
])
def test_remap_ids_rejects_bad_input(users, items, match):
  with pytest.raises(ValueError, match=match):
    remap_ids(users, items)


def test_deduplicate_keeps_latest_then_last_and_preserves_order():
  x = from_arrays([0, 1, 0, 0, 1], [2, 2, 2, 2, 2], num_users=2, num_items=3,
                  ratings=[1, 2, 3, 4, 5], timestamps=[10, 5, 30, 30, 1])
  before = np.array(x.ratings)
  out, removed = deduplicate(x)
  assert removed == 3
  # user 0: rows 2 and 3 tie at t=30, row 3 (later) wins; user 1: row 1 (t=5 > t=1) wins.
  np.testing.assert_array_equal(out.ratings, [2, 4])
  np.testing.assert_array_equal(out.users, [1, 0])
  assert (out.num_users, out.num_items) == (2, 3)
  np.testing.assert_array_equal(x.ratings, before)


def test_deduplicate_without_timestamps_keeps_last_occurrence():
  x = from_arrays([0, 0, 0], [1, 1, 0], ratings=[1, 2, 3])
  out, removed = deduplicate(x)
  assert removed == 1
  np.testing.assert_array_equal(out.ratings, [2, 3])


def test_deduplicate_without_duplicates_is_identity():
  x = from_arrays([0, 1], [1, 1], timestamps=[5, 3])
  out, removed = deduplicate(x)
  assert removed == 0
  np.testing.assert_array_equal(out.users, [0, 1])
  np.testing.assert_array_equal(out.timestamps, [5, 3])


def test_binarize_drops_rows_below_threshold_and_keeps_ratings():
  x = from_arrays([0, 0, 1, 2], [0, 1, 1, 2], num_users=4, num_items=3,
                  ratings=[4.0, 3.5, 5.0, 1.0], timestamps=[1, 2, 3, 4])
  out = binarize(x, 4)
  np.testing.assert_array_equal(out.users, [0, 1])
  np.testing.assert_array_equal(out.items, [0, 1])
  np.testing.assert_array_equal(out.ratings, [4.0, 5.0])
  np.testing.assert_array_equal(out.timestamps, [1, 3])
  assert (out.num_users, out.num_items) == (4, 3)


def test_binarize_needs_ratings_and_finite_threshold():
  with pytest.raises(ValueError, match="ratings is None"):
    binarize(from_arrays([0], [0]), 1.0)
  with pytest.raises(ValueError, match="finite"):
    binarize(from_arrays([0], [0], ratings=[1.0]), float("nan"))
