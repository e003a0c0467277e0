"""The one input-check module (jaxrec/_checks.py): host-side errors, traced checks, padding."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxrec
from jaxrec import _checks


@pytest.mark.parametrize("value", [-1.0, np.float32(-1.0), jnp.float32(-1.0), np.nan,
                                   np.float64(np.inf), jnp.array(np.nan), True])
def test_real_rejects_bad_numbers_of_every_kind(value):
  with pytest.raises(ValueError, match="eps"):
    _checks.real("eps", value)


def test_real_accepts_and_returns_unchanged():
  for v in (0.0, 1, np.float32(0.5), jnp.float32(2.0)):
    assert _checks.real("eps", v) is v
  assert _checks.real("x", np.array([0.0, 1.0]), array=True) is not None
  with pytest.raises(ValueError, match="must be a scalar"):
    _checks.real("x", np.array([0.0, 1.0]))
  with pytest.raises(ValueError, match="> 0"):
    _checks.real("lr", 0.0, low_open=True)
  with pytest.raises(ValueError, match="<= 1"):
    _checks.real("p", 1.5, high=1.0)


def test_real_under_jit_is_a_checkify_check():
  f = jax.jit(lambda e: _checks.real("eps", e) * 2.0)
  assert float(f(-1.0)) == -2.0  # plain jit: the check is dropped
  with pytest.raises(ValueError, match="eps must be finite and >= 0, got -1.0"):
    jaxrec.checked(f)(-1.0)
  assert float(jaxrec.checked(f)(3.0)) == 6.0


@pytest.mark.parametrize("value", [True, 1.5, "3", np.array([1, 2]), None])
def test_integer_rejects(value):
  with pytest.raises(ValueError, match="k must be an integer"):
    _checks.integer("k", value)


def test_integer_bounds_and_numpy():
  assert _checks.integer("k", np.int64(3), low=1) == 3
  assert _checks.integer("k", 2.0) == 2
  with pytest.raises(ValueError, match=r"k must be an integer >= 1, got 0"):
    _checks.integer("k", 0, low=1)
  with pytest.raises(ValueError, match=r"in \[0, 5\]"):
    _checks.integer("m", 6, low=0, high=5)
  with pytest.raises(ValueError, match="must be an integer"):
    jax.jit(lambda k: _checks.integer("k", k))(3)  # a traced int is not static


def test_ids_eager():
  np.testing.assert_array_equal(_checks.ids("users", [0, 2], 3), [0, 2])
  with pytest.raises(ValueError, match=r"users must lie in \[0, 3\), got ids from -1 to 2"):
    _checks.ids("users", [-1, 2], 3)
  with pytest.raises(ValueError, match=r"users must lie in \[0, 3\)"):
    _checks.ids("users", [3], 3)
  np.testing.assert_array_equal(_checks.ids("users", [3], 3, padding=True), [3])
  with pytest.raises(ValueError, match="targets repeats an id"):
    _checks.ids("targets", [1, 1], 3, distinct=True)
  with pytest.raises(ValueError, match="targets must not be empty"):
    _checks.ids("targets", [], 3, nonempty=True)
  with pytest.raises(ValueError, match="integer ids"):
    _checks.ids("targets", [0.5], 3)
  with pytest.raises(ValueError, match="1-D"):
    _checks.ids("targets", [[0]], 3)


def test_ids_under_jit():
  f = jax.jit(lambda u: _checks.ids("users", u, 3, distinct=True))
  np.testing.assert_array_equal(f(jnp.array([5, 5])), [5, 5])  # dropped under plain jit
  with pytest.raises(ValueError, match=r"users must lie in \[0, 3\), got ids from 5 to 5"):
    jaxrec.checked(f)(jnp.array([5, 5]))
  with pytest.raises(ValueError, match="users repeats an id"):
    jaxrec.checked(f)(jnp.array([1, 1]))
  with pytest.raises(ValueError, match="must not be empty"):  # static even under jit
    jax.jit(lambda u: _checks.ids("targets", u, 3, nonempty=True))(jnp.zeros((0,), jnp.int32))


def test_matrix():
  _checks.matrix("real", np.eye(2, dtype=np.float32), binary=True)
  with pytest.raises(ValueError, match="real must hold only 0 and 1"):
    _checks.matrix("real", np.full((2, 2), 0.5, np.float32), binary=True)
  with pytest.raises(ValueError, match=r"fake0 must hold entries in \[0, 1\]"):
    _checks.matrix("fake0", np.full((2, 2), 1.5, np.float32), unit=True)
  with pytest.raises(ValueError, match="x must hold no NaN"):
    _checks.matrix("x", np.full((2, 2), np.nan, np.float32))
  with pytest.raises(ValueError, match="2-D floating"):
    _checks.matrix("x", np.zeros((2, 2), np.int32))
  with pytest.raises(ValueError, match="3 items"):
    _checks.matrix("x", np.zeros((2, 3), np.float32), num_cols=4)
  f = jax.jit(lambda x: _checks.matrix("real", x, binary=True))
  f(jnp.full((2, 2), 0.5))
  with pytest.raises(ValueError, match="real must hold only 0 and 1"):
    jaxrec.checked(f)(jnp.full((2, 2), 0.5))


def test_cutoffs_and_budgets():
  assert _checks.cutoffs((10, 5, 10), 20) == (5, 10)
  assert _checks.cutoffs(3, 20) == (3,)
  for bad in ((), (0,), (-1,), (2.5,), (True,)):
    with pytest.raises(ValueError, match="k"):
      _checks.cutoffs(bad, 20)
  with pytest.raises(ValueError, match="larger than the catalogue"):
    _checks.cutoffs((21,), 20)
  assert _checks.num_fake_users(0.01, 943) == 9
  assert _checks.num_fake_users(0.05, 943) == 47
  assert _checks.num_fake_users(3, 943) == 3
  for bad in (0, -1, 1.0, 0.0, float("nan"), True, np.inf):
    with pytest.raises(ValueError, match="budget"):
      _checks.num_fake_users(bad, 943)


@pytest.mark.parametrize("value", ["0.5", np.array("0.5"), np.array(["1"]), 1 + 2j,
                                   np.complex64(1.0), object()])
def test_real_rejects_strings_complex_and_objects(value):
  with pytest.raises(ValueError, match="step_size must be a real number"):
    _checks.real("step_size", value, array=True)


def test_matrix_of_a_concrete_array_closed_over_under_jit():
  good, bad = jnp.eye(3), jnp.full((2, 3), 0.5)

  def f(x):
    return lambda: _checks.matrix("fake", x, binary=True).sum()

  assert float(jax.jit(f(good))()) == 3.0  # no TracerArrayConversionError
  with pytest.raises(ValueError, match="fake must hold only 0 and 1"):
    jax.jit(f(bad))()


@pytest.mark.parametrize("host", [np.full((2, 3), 0.5, np.float32), [[0.5, 1.0, 0.0]]])
def test_matrix_of_a_host_array_used_under_jit_is_checked_before_conversion(host):
  # inside a jit trace jnp.asarray(host) is a tracer: the values are read with NumPy first
  with pytest.raises(ValueError, match="fake must hold only 0 and 1"):
    jax.jit(lambda: _checks.matrix("fake", host, binary=True).sum())()
  with pytest.raises(ValueError, match="fake must hold only 0 and 1"):
    _checks.matrix("fake", host, binary=True)


@pytest.mark.parametrize("value", [np.array([["a"]]), np.array([[1 + 1j]]), [[0.0], [0.0, 1.0]]])
def test_matrix_rejects_non_floating_host_values(value):
  with pytest.raises(ValueError, match="x must be a 2-D floating matrix"):
    _checks.matrix("x", value)


@pytest.mark.parametrize("count", [12, np.int64(12), np.array(12), jnp.int32(12),
                                   jnp.array(12, jnp.int32)])
def test_num_fake_users_integer_dtypes_are_counts(count):
  assert _checks.num_fake_users(count, 1000) == 12


@pytest.mark.parametrize("fraction", [0.01, np.float32(0.01), jnp.float32(0.01)])
def test_num_fake_users_floats_are_fractions(fraction):
  assert _checks.num_fake_users(fraction, 1000) == 10


@pytest.mark.parametrize("bad", [12.0, "12", np.array([1, 2]), True, 0, jnp.int32(0)])
def test_num_fake_users_rejects(bad):
  with pytest.raises(ValueError, match="budget"):
    _checks.num_fake_users(bad, 1000)


def test_num_fake_users_rejects_a_traced_budget():
  with pytest.raises(ValueError, match="traced"):
    jax.jit(lambda b: _checks.num_fake_users(b, 100))(3)
