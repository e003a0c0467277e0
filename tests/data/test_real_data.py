"""Loaders on the real files in shared/data (skipped when that folder is absent)."""

import numpy as np

from jaxrec.data import load_delimited, load_movielens_100k, load_tsv_split


def test_movielens_100k_counts(shared_file):
  ds = load_movielens_100k(shared_file("movielens-100k/u.data"))
  x = ds.interactions
  assert (len(x), x.num_users, x.num_items) == (100_000, 943, 1_682)
  np.testing.assert_array_equal(ds.user_ids, np.arange(1, 944))
  # Published rating histogram (PROVENANCE.md): 1:6110 2:11370 3:27145 4:34174 5:21201.
  np.testing.assert_array_equal(np.bincount(x.ratings.astype(int))[1:],
                                [6110, 11370, 27145, 34174, 21201])
  assert ds.notes == ()


def test_loo_split_movielens100k(shared_file):
  ds = load_tsv_split(shared_file("loo-splits/movielens100k/trainingset.tsv"),
                      shared_file("loo-splits/movielens100k/testset.tsv"))
  assert ds.interactions.num_users == 943
  assert len(ds.interactions) == 99_056 and len(ds.test) == 943
  np.testing.assert_array_equal(np.bincount(ds.test.users, minlength=943), np.ones(943))
  assert ds.notes == ()


def test_movielens_1m_partial_copy_counts(shared_file):
  path = shared_file("movielens-1m/ratings_user_itemidx_rating.csv.gz")
  ds = load_delimited(path, sep=",", user_col="user_id", item_col="item_idx",
                      rating_col="rating", header=True)
  x = ds.interactions
  assert (len(x), x.num_users, x.num_items) == (1_000_209, 6_040, 3_706)
