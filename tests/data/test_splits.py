"""leave_one_out and random_holdout: chosen rows, tie rule, seeds, invariants."""

import numpy as np
import pytest

from jaxrec.data import from_arrays, leave_one_out, random_holdout


def timed():
  # user 0: latest is row 1 (t=30); user 1: one row; user 2: rows 4 and 5 tie at t=7 -> row 5;
  # user 3: no interactions.
  return from_arrays([0, 0, 0, 1, 2, 2, 2], [0, 1, 2, 0, 1, 2, 0], num_users=4, num_items=3,
                     ratings=[1, 2, 3, 4, 5, 6, 7], timestamps=[10, 30, 20, 5, 7, 7, 3])


def rows(x):
  return sorted(zip(np.asarray(x.users).tolist(), np.asarray(x.items).tolist()))


def test_leave_one_out_latest_with_tie_rule():
  train, test = leave_one_out(timed())
  np.testing.assert_array_equal(test.users, [0, 2])
  np.testing.assert_array_equal(test.items, [1, 2])
  np.testing.assert_array_equal(test.ratings, [2, 6])
  np.testing.assert_array_equal(train.ratings, [1, 3, 4, 5, 7])  # original order kept
  assert (train.num_users, train.num_items) == (test.num_users, test.num_items) == (4, 3)


def test_leave_one_out_input_unchanged():
  x = timed()
  copies = [np.array(a) for a in (x.users, x.items, x.ratings, x.timestamps)]
  leave_one_out(x)
  for a, b in zip(copies, (x.users, x.items, x.ratings, x.timestamps)):
    np.testing.assert_array_equal(a, b)


def untimed():
  users = np.repeat([0, 1, 2], [6, 1, 4])
  items = np.concatenate([np.arange(6), [0], np.arange(4)])
  return from_arrays(users, items, num_users=3, num_items=6)


def test_leave_one_out_random_without_timestamps():
  x = untimed()
  train, test = leave_one_out(x, seed=3)
  np.testing.assert_array_equal(test.users, [0, 2])  # the single-interaction user stays in train
  assert sorted(rows(train) + rows(test)) == rows(x)
  assert 1 in np.asarray(train.users)
  again_train, again_test = leave_one_out(x, seed=3)
  np.testing.assert_array_equal(again_test.items, test.items)
  np.testing.assert_array_equal(again_train.items, train.items)
  held = {int(leave_one_out(x, seed=s)[1].items[0]) for s in range(20)}
  assert len(held) >= 3  # user 0's held-out item varies with the seed


def test_random_holdout_counts_per_user():
  # n_u = 10, 1, 2, 5 with ratio 0.3 -> round: 3, 0, 1 (0.6 -> 1, n_u - 1 = 1), 2 (1.5 -> 2).
  users = np.repeat([0, 1, 2, 3], [10, 1, 2, 5])
  x = from_arrays(users, np.arange(18) % 10, num_users=5, num_items=10)
  train, test = random_holdout(x, test_ratio=0.3, seed=0)
  np.testing.assert_array_equal(np.bincount(test.users, minlength=5), [3, 0, 1, 2, 0])
  np.testing.assert_array_equal(np.bincount(train.users, minlength=5), [7, 1, 1, 3, 0])
  assert sorted(rows(train) + rows(test)) == rows(x)


def test_random_holdout_leaves_one_in_train_and_rounds_half_to_even():
  x = from_arrays(np.repeat([0, 1], [2, 5]), [0, 1, 0, 1, 2, 3, 4])
  _, test = random_holdout(x, test_ratio=0.9, seed=1)
  # user 0: round(1.8) = 2 capped to 1; user 1: round(4.5) = 4.
  np.testing.assert_array_equal(np.bincount(test.users, minlength=2), [1, 4])
  _, half = random_holdout(x, test_ratio=0.5, seed=1)
  # user 0: round(1.0) = 1; user 1: round(2.5) = 2 (half to even).
  np.testing.assert_array_equal(np.bincount(half.users, minlength=2), [1, 2])


def test_random_holdout_deterministic_per_seed_and_input_unchanged():
  x = from_arrays(np.zeros(20, int), np.arange(20), timestamps=np.arange(20))
  items = np.array(x.items)
  a = random_holdout(x, test_ratio=0.25, seed=7)[1]
  b = random_holdout(x, test_ratio=0.25, seed=7)[1]
  c = random_holdout(x, test_ratio=0.25, seed=8)[1]
  np.testing.assert_array_equal(a.items, b.items)
  assert not np.array_equal(a.items, c.items)
  assert len(a) == 5 and np.all(np.diff(a.items) > 0)  # original order within the part
  np.testing.assert_array_equal(x.items, items)


@pytest.mark.parametrize("ratio", [0.0, 1.0, -0.1, 1.5])
def test_random_holdout_rejects_ratio(ratio):
  with pytest.raises(ValueError, match="strictly between 0 and 1"):
    random_holdout(from_arrays([0, 0], [0, 1]), test_ratio=ratio)
