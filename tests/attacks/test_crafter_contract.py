"""One contract test run over every crafter (a learned poisoning attack with its settings bound),
as tests/test_perturbations.py runs one over every perturbation recipe: exact budget per row, the
attack loss not worse than at the start, eager equals jit, the same profiles for the same key."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxrec
from jaxrec.attacks import poisoning

TARGETS = jnp.asarray([5])
NUM_FAKE, FILLERS = 4, 3



SURROGATE = poisoning.lfm_surrogate(dim=4, num_steps=10, learning_rate=0.1, pos_weight=5.0,
                                    reg=0.1, init_scale=0.1)
LOSS = functools.partial(poisoning.margin_loss, k=3)
MEAN_LOSS = functools.partial(poisoning.margin_loss, k=3, reduction="mean")
# name -> (crafter factory(num_steps), the attack loss it minimises)
CRAFTERS = {
    "bilevel": (lambda n: poisoning.bilevel_crafter(surrogate=SURROGATE, loss=LOSS,
                                                    num_steps=n), LOSS),
    "generator": (lambda n: poisoning.generator_crafter(surrogate=SURROGATE, loss=MEAN_LOSS,
                                                        num_steps=n, gen_lr=0.05), MEAN_LOSS),
    "generator_disc": (lambda n: poisoning.generator_crafter(
        surrogate=SURROGATE, loss=MEAN_LOSS, num_steps=n, gen_lr=0.05, disc_weight=0.3),
                       MEAN_LOSS),
}


def _attack_loss(loss, real, fake, key):
  """The crafter's own objective at binary profiles: both crafters start the surrogate from the
  second half of ``split(key)`` at every step."""
  return float(poisoning.bilevel_loss(fake, real, TARGETS, jax.random.split(key)[1],
                                      surrogate=SURROGATE, loss=loss))


@pytest.mark.parametrize("name", list(CRAFTERS))
class TestCrafterContract:

  def test_exact_budget_per_row(self, name, planted):
    factory, _ = CRAFTERS[name]
    real = jnp.asarray(planted())
    binary, curve = factory(6)(real, TARGETS, NUM_FAKE, FILLERS, jax.random.key(0))
    b = np.asarray(binary)
    assert b.shape == (NUM_FAKE, 16) and set(np.unique(b)) <= {0.0, 1.0}
    np.testing.assert_array_equal(b.sum(axis=1), FILLERS + 1)
    assert (b[:, 5] == 1).all()
    assert np.asarray(curve).shape == (6,) and np.isfinite(np.asarray(curve)).all()

  def test_attack_loss_not_worse_than_at_the_start(self, name, planted):
    factory, loss = CRAFTERS[name]
    real = jnp.asarray(planted())
    start, _ = factory(0)(real, TARGETS, NUM_FAKE, FILLERS, jax.random.key(0))
    end, curve = factory(25)(real, TARGETS, NUM_FAKE, FILLERS, jax.random.key(0))
    key = jax.random.key(0)
    assert _attack_loss(loss, real, end, key) <= _attack_loss(loss, real, start, key) + 1e-6
    curve = np.asarray(curve)
    assert curve[-5:].mean() <= curve[0] + 1e-6  # the crafter's own curve does not rise

  def test_eager_equals_jit(self, name, planted):
    factory, _ = CRAFTERS[name]
    craft = factory(4)
    real = jnp.asarray(planted())
    eager, eager_curve = craft(real, TARGETS, NUM_FAKE, FILLERS, jax.random.key(3))
    jitted, jit_curve = jax.jit(craft, static_argnums=(2, 3))(real, TARGETS, NUM_FAKE, FILLERS,
                                                               jax.random.key(3))
    np.testing.assert_array_equal(eager, jitted)
    np.testing.assert_allclose(eager_curve, jit_curve, rtol=1e-4, atol=1e-5)

  def test_determinism_per_key(self, name, planted):
    factory, _ = CRAFTERS[name]
    craft = factory(4)
    real = jnp.asarray(planted())
    a, _ = craft(real, TARGETS, NUM_FAKE, FILLERS, jax.random.key(7))
    b, _ = craft(real, TARGETS, NUM_FAKE, FILLERS, jax.random.key(7))
    c, _ = craft(real, TARGETS, NUM_FAKE, FILLERS, jax.random.key(8))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)

  def test_bad_inputs_raise_eagerly_and_under_checked_jit(self, name, planted):
    """Every crafter validates its inputs as craft_bilevel / train_generator do: static ones
    (counts, budget, dtypes, an empty target list) eagerly and under plain jit, traced values
    (ids, a non-binary matrix) eagerly and under jaxrec.checked(jax.jit(...))."""
    factory, _ = CRAFTERS[name]
    craft = factory(1)
    real, key = jnp.asarray(planted()), jax.random.key(0)
    jitted = jax.jit(craft, static_argnums=(2, 3))
    static_cases = [
        ((real, jnp.zeros((0,), jnp.int32), NUM_FAKE, FILLERS), "targets must not be empty"),
        ((real, TARGETS, NUM_FAKE, 16), r"filler_size must be an integer in \[0, 15\]"),
        ((real, TARGETS, NUM_FAKE, -1), r"filler_size must be an integer in \[0, 15\]"),
        ((real, TARGETS, 0, FILLERS), "num_fake must be an integer"),
        ((real, TARGETS, 2.5, FILLERS), "num_fake must be an integer"),
        ((real.astype(jnp.int32), TARGETS, NUM_FAKE, FILLERS), "floating"),
        ((real[0], TARGETS, NUM_FAKE, FILLERS), "2-D"),
        ((real, jnp.asarray([[5]]), NUM_FAKE, FILLERS), "1-D array of ids"),
        ((real, jnp.asarray([0.5]), NUM_FAKE, FILLERS), "integer ids"),
    ]
    if name != "bilevel":  # the generator draws its templates from distinct real rows
      static_cases.append(((real, TARGETS, 25, FILLERS), r"num_fake must be an integer in "
                           r"\[1, 24\]"))
    for args, match in static_cases:
      with pytest.raises(ValueError, match=match):
        craft(*args, key)
      if not isinstance(args[2], float):  # a float count cannot even be a static jit argument
        with pytest.raises(ValueError, match=match):
          jitted(*args, key)
    value_cases = [
        ((real, jnp.asarray([16])), r"targets must lie in \[0, 16\)"),
        ((real, jnp.asarray([-1])), r"targets must lie in \[0, 16\)"),
        ((real, jnp.asarray([5, 5])), "targets repeats an id"),
        ((real * 0.5, TARGETS), "real must hold only 0 and 1"),
        ((real.at[0, 0].set(jnp.nan), TARGETS), "real must hold only 0 and 1"),
    ]
    for (r, t), match in value_cases:
      with pytest.raises(ValueError, match=match):
        craft(r, t, NUM_FAKE, FILLERS, key)
      with pytest.raises(ValueError, match=match):
        jaxrec.checked(jitted)(r, t, NUM_FAKE, FILLERS, key)
