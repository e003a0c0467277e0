"""A learned fake-profile generator trained through the unrolled surrogate, with a discriminator.

Instead of optimising every fake profile as a free variable (RevAdv,
:func:`jaxrec.attacks.poisoning.bilevel_attack`), a network ``G`` maps a *template* (a real
user's binary profile, sampled from the attacker's view of the data) and Gaussian noise to a
relaxed profile; ``G`` is trained through the unrolled surrogate
(:func:`jaxrec.attacks.poisoning.bilevel_loss`), optionally against a
discriminator ``D`` that tells real rows from generated ones, so that the profiles stay close to
real ones. This follows the spirit of AUSH (Chen Lin, Si Chen, Hui Li, Yanghua Xiao, Lianyun Li,
Qian Yang, "Attacking Recommender Systems with Augmented User Profiles", CIKM 2020, pp.
855-864): profiles are grown from sampled real templates, and a GAN term keeps them close to
real users while an attack term promotes the targets. Departures: AUSH works on explicit
ratings, keeps a template's items as the filler candidates and adds a reconstruction loss; here
profiles are implicit (0/1), any item may be a filler (the template enters as a learned residual
on the logits, so the initial generator reproduces its template), and the attack term is the
unrolled bilevel loss of RevAdv (Tang, Wen, Wang, RecSys 2020) rather than a loss on a fixed
pre-trained recommender.

Losses (to minimise), for one batch of ``F`` generated profiles ``x_f``:

* generator: ``L_G = L_attack(x) + disc_weight * mean_f -log sigmoid(D(x_f))`` (the
  non-saturating GAN loss; Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014, Sec.
  3) ``+ budget_weight * mean_f (sum_{i not target} relaxed_fi - filler_size)^2`` (items^2);
* discriminator: ``L_D = mean_b -log sigmoid(D(r_b)) + mean_f -log(1 - sigmoid(D(x_f)))`` on a
  batch of real rows ``r`` and the generated rows (held fixed), the standard binary
  cross-entropy, ``+ r1_weight / 2 * mean_b |grad_r D(r_b)|^2``, the R1 penalty on real rows
  (Mescheder, Geiger, Nowozin, "Which Training Methods for GANs do actually Converge?", ICML
  2018). Training is one :func:`jaxrec.optim.run` over both networks: each step takes both
  gradients at the current point (``D``'s of ``L_D`` with the generated rows held fixed, ``G``'s
  of ``L_G`` with ``D`` held fixed) and applies Adam to each with its own learning rate
  (simultaneous gradient descent; ``optax.multi_transform``).

The discriminator sees the profiles with the target columns zeroed: every fake profile holds the
targets by construction, so otherwise ``D`` separates on those columns alone and its gradient
says nothing about the fillers, which are what ``G`` controls.

What the surrogate (and ``D``) sees, ``estimator``:

* ``"straight_through"`` (default): the binary profile that will be injected, the ``filler_size``
  items of largest logit plus the targets (:func:`jaxrec.optim.project_top_m`), with the
  gradient passed to the relaxed profile as if the projection were the identity (Bengio,
  Leonard, Courville, "Estimating or Propagating Gradients Through Stochastic Neurons for
  Conditional Computation", arXiv:1308.3432, 2013). The outer loss is that of the injected
  profiles and the hypergradient is RevAdv's (taken at a binary point); the price is a biased
  gradient of a piecewise-constant function. The fillers are ranked by logits, not
  probabilities: the sigmoid saturates to exactly 1.0 in floating point and ``project_top_m``
  breaks ties by the lower item id (a run ranked by probabilities ended with every profile on
  the same items, all among the lowest 122 ids of 300).
* ``"relaxed"``: the relaxed profile itself (targets set to 1). The gradient is exact, but the
  surrogate is trained on fractional rows the victim never sees; with the ``"indicator"``
  relaxation of :func:`jaxrec.attacks._surrogate.weighted_mse` every entry of a sigmoid output
  is positive and carries the positive weight, so the surrogate's view differs from the
  injected profile's (``"bernoulli"`` is the consistent relaxation for this estimator; see
  :func:`jaxrec.models.weighted_mse`).

Measured on RevAdv's synthetic setting (``experiments/generator_synthetic.py``, 100 fakes of 36
fillers, 100 steps, data seeds 0-2, jaxrec 0.2): straight-through reaches target HR@10
0.29-0.38 on the retrained victim, relaxed 0.21-0.26, from 0.13-0.15 for the initial
(template-copying) generator. ``docs/attacks.md`` ("Learned fake-profile generator") has the table and the stealth
measurements.

:func:`two_sample_accuracy` measures how far generated rows are from real ones with a classifier
two-sample test (an independent, cross-validated logistic regression).
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxrec import _checks
from jaxrec.attacks.poisoning._bilevel import TargetLoss, bilevel_loss
from jaxrec.optim import project_top_m, run
from jaxrec.training._victim import Victim
from jaxrec.typing import Array, ArrayLike, PRNGKey

__all__ = ["ESTIMATORS", "GeneratorResult", "ProfileDiscriminator", "ProfileGenerator",
           "discriminator_loss", "generate", "generator_loss", "sample_inputs",
           "train_generator", "two_sample_accuracy"]

ESTIMATORS = ("straight_through", "relaxed")


class ProfileGenerator(nn.Module):
  """``G(template (F, I), noise (F, Z)) -> (F, I)`` relaxed profiles in ``(0, 1)``.

  ``logits = MLP([template ; noise]) + w (2 template - 1)``, ``profile = sigmoid(logits)``. The
  MLP has SiLU hidden layers (none by default: a linear map of ``[template ; noise]``) and a
  linear output layer whose bias is a learned per-item bias; ``w`` (parameter
  ``template_weight``, starting at ``template_logit``) pulls the template's items up and the
  others down. The output layer starts small (``N(0, out_init^2)`` kernel, zero bias), so the
  initial generator is close to a copy of its template (logits ``+- template_logit``) with small
  noise-dependent variations that break ties.

  Hidden layers are optional because they hurt here: measured on RevAdv's synthetic setting (data
  seed 0), a 128-wide SiLU layer moves all profiles onto one shared item set within a few Adam
  steps (mean pairwise Jaccard of the fake profiles 0.5 after 5 steps at learning rate 0.03; real
  users 0.07), and ``jaxrec.defenses.profile_suspicion`` then flags them (precision 0.71-0.72 at
  learning rates 0.003 and 0.03, random flagger 0.1); the linear generator keeps them diverse
  (precision 0.10-0.19 over data seeds 0-2) at a similar target HR.

  Attributes:
    hidden: widths of the hidden SiLU layers.
    template_logit: the initial ``w``.
    out_init: standard deviation of the output layer's initial kernel.
  """

  hidden: tuple[int, ...] = ()
  template_logit: float = 3.0
  out_init: float = 0.01

  @nn.compact
  def __call__(self, template: Array, noise: Array, *, return_logits: bool = False) -> Array:
    """Args: ``template (F, I)`` floating 0/1 rows; ``noise (F, Z)`` of the same dtype;
    ``return_logits``: return the logits instead of their sigmoid.

    Returns:
      ``(F, I)`` relaxed profiles in ``(0, 1)`` (or their logits).
    """
    x = jnp.concatenate([template, noise], axis=1)
    for n, width in enumerate(self.hidden):
      x = nn.silu(nn.Dense(width, name=f"hidden_{n}")(x))
    delta = nn.Dense(template.shape[1], kernel_init=nn.initializers.normal(self.out_init),
                     name="out")(x)
    w = self.param("template_weight", nn.initializers.constant(self.template_logit), (),
                   template.dtype)
    logits = delta + w * (2.0 * template - 1.0)
    return logits if return_logits else jax.nn.sigmoid(logits)


class ProfileDiscriminator(nn.Module):
  """``D(profile (B, I)) -> (B,)`` logits of "real user": leaky-ReLU (slope 0.2) hidden layers
  and a linear output (no hidden layer: logistic regression).

  Attributes:
    hidden: widths of the hidden layers.
  """

  hidden: tuple[int, ...] = (128,)

  @nn.compact
  def __call__(self, profile: Array) -> Array:
    x = profile
    for n, width in enumerate(self.hidden):
      x = nn.leaky_relu(nn.Dense(width, name=f"hidden_{n}")(x), 0.2)
    return nn.Dense(1, name="out")(x)[:, 0]


class GeneratorResult(NamedTuple):
  """What :func:`train_generator` returns.

  Attributes:
    gen_params: the generator's flax parameters after training.
    disc_params: the discriminator's.
    fake: ``(F, I)`` binary profiles of ``real``'s dtype from the final sample: exactly
      ``filler_size`` fillers plus the targets per row.
    relaxed: ``(F, I)`` the generator's relaxed output for that sample (targets set to 1).
    template_ids: ``(F,) int32`` the real rows used as templates in that sample.
    curve: per training step, ``(num_steps,)`` arrays, all before the step: ``attack_loss``
      (the attack loss of the profiles the surrogate saw), ``disc_loss`` (the discriminator's
      cross-entropy without the R1 term; ``2 log 2`` at chance), ``gen_adv_loss``
      (``mean -log sigmoid(D(x))``), ``budget_loss``, ``total_loss`` (``L_G``).
  """

  gen_params: Any
  disc_params: Any
  fake: Array
  relaxed: Array
  template_ids: Array
  curve: dict[str, Array]


def sample_inputs(key: PRNGKey, real: Array, num_fake: int, noise_dim: int
                  ) -> tuple[Array, Array, Array]:
  """Templates (distinct real rows, uniformly) and ``N(0, 1)`` noise for ``num_fake`` profiles.

  Args:
    key: PRNG key. real: ``(U, I)`` floating 0/1 rows. num_fake: static ``F <= U``.
    noise_dim: static ``Z >= 0``.

  Returns:
    ``(template_ids (F,) int32, template (F, I), noise (F, Z))``, floats of ``real``'s dtype.

  Raises:
    Nothing is validated (jittable; :func:`train_generator` validates).

  Source:
    Lin et al., CIKM 2020 (templates sampled from real users).
  """
  kt, kz = jax.random.split(key)
  ids = jax.random.choice(kt, real.shape[0], (num_fake,), replace=False).astype(jnp.int32)
  return ids, real[ids], jax.random.normal(kz, (num_fake, noise_dim), real.dtype)


def generate(gen_params: Any, template: Array, noise: Array, targets: Array, *,
             generator: ProfileGenerator, filler_size: int,
             estimator: str = "straight_through") -> tuple[Array, Array]:
  """The generator's relaxed output and the profile the surrogate and the discriminator see.

  Args:
    gen_params: generator parameters. template: ``(F, I)``. noise: ``(F, Z)``.
    targets: ``(T,) int32`` distinct items. generator: the module (static).
    filler_size: static ``m``. estimator: ``"straight_through"`` or ``"relaxed"`` (module
      docstring).

  Returns:
    ``(relaxed, profile)``, both ``(F, I)``: ``relaxed`` is ``G``'s output with the targets set to
    1; ``profile`` is, in the forward pass, ``project_top_m(logits, m, targets)`` (exactly
    binary) with the identity onto ``relaxed`` as its derivative (straight-through), or
    ``relaxed`` itself.

  Raises:
    ValueError: an unknown estimator.

  Source:
    Lin et al., CIKM 2020 (template-based generation, in its spirit).
  """
  _checks.choice("estimator", estimator, ESTIMATORS)
  logits = generator.apply({"params": gen_params}, template, noise, return_logits=True)
  relaxed = jax.nn.sigmoid(logits).at[:, targets].set(1.0)
  if estimator == "relaxed":
    return relaxed, relaxed
  hard = project_top_m(jax.lax.stop_gradient(logits), filler_size, targets)
  # forward: hard + 0, exactly binary; backward: the identity onto relaxed
  return relaxed, hard + (relaxed - jax.lax.stop_gradient(relaxed))


def _hide_targets(x: Array, targets: Array) -> Array:
  return x.at[:, targets].set(0.0)


def discriminator_loss(disc_params: Any, real_rows: Array, fake_rows: Array, targets: Array, *,
                       discriminator: ProfileDiscriminator,
                       r1_weight: float | Array = 0.0) -> tuple[Array, Array]:
  """``L_D``: binary cross-entropy of real rows (label 1) against generated rows (label 0), plus
  the R1 penalty.

  ``mean_b softplus(-D(r_b)) + mean_f softplus(D(x_f)) + r1_weight / 2 * mean_b
  |grad_r D(r_b)|^2``, the target columns zeroed in both (the cross-entropy is ``2 log 2`` for a
  discriminator at chance).

  Args:
    disc_params: discriminator parameters. real_rows: ``(B, I)``. fake_rows: ``(F, I)``.
    targets: ``(T,) int32``. discriminator: the module (static).
    r1_weight: ``>= 0`` (may be traced).

  Returns:
    ``(loss, cross_entropy)``, scalars.

  Raises:
    Nothing is validated (jittable).

  Source:
    Goodfellow et al., NeurIPS 2014 (BCE); Mescheder, Geiger, Nowozin, ICML 2018, Eq. (9) (R1).
  """
  d = functools.partial(discriminator.apply, {"params": disc_params})
  real_in = _hide_targets(real_rows, targets)
  bce = (jnp.mean(jax.nn.softplus(-d(real_in)))
         + jnp.mean(jax.nn.softplus(d(_hide_targets(fake_rows, targets)))))
  # rows are scored independently, so the gradient of the summed logits is per row
  g = jax.grad(lambda x: jnp.sum(d(x)))(real_in)
  return bce + 0.5 * r1_weight * jnp.mean(jnp.sum(g * g, axis=1)), bce


def generator_loss(gen_params: Any, disc_params: Any, real: Array, targets: Array,
                   template: Array, noise: Array, key: PRNGKey, *,
                   generator: ProfileGenerator, discriminator: ProfileDiscriminator,
                   surrogate: Victim, loss: TargetLoss, filler_size: int,
                   estimator: str = "straight_through", disc_weight: float | Array = 0.0,
                   budget_weight: float | Array = 0.0) -> tuple[Array, dict[str, Array]]:
  """``L_G`` of one batch (module docstring); differentiable in ``gen_params``.

  Args:
    gen_params, disc_params: parameters of the two networks.
    real: ``(U, I)`` binary real rows (the surrogate's real users).
    targets: ``(T,) int32``. template: ``(F, I)``. noise: ``(F, Z)``.
    key: the surrogate's initialisation key.
    generator, discriminator, surrogate, loss, filler_size, estimator: static, see
      :func:`generate` and :func:`jaxrec.attacks.poisoning.bilevel_loss`.
    disc_weight: weight of the non-saturating GAN term (``>= 0``; may be traced).
    budget_weight: weight of the squared distance (items^2) of the relaxed filler mass to
      ``filler_size`` (``>= 0``; may be traced).

  Returns:
    ``(total, aux)`` with ``aux = {"attack_loss", "gen_adv_loss", "budget_loss"}`` (scalars).

  Raises:
    Nothing is validated (jittable); :func:`train_generator` validates.

  Source:
    Lin et al., CIKM 2020; Goodfellow et al., NeurIPS 2014 (non-saturating GAN loss).
  """
  relaxed, profile = generate(gen_params, template, noise, targets, generator=generator,
                              filler_size=filler_size, estimator=estimator)
  attack = bilevel_loss(profile, real, targets, key, surrogate=surrogate, loss=loss)
  logits = discriminator.apply({"params": disc_params}, _hide_targets(profile, targets))
  adv = jnp.mean(jax.nn.softplus(-logits))
  mass = jnp.sum(relaxed, axis=1) - targets.shape[0]
  budget = jnp.mean((mass - filler_size) ** 2)
  total = attack + disc_weight * adv + budget_weight * budget
  return total, {"attack_loss": attack, "gen_adv_loss": adv, "budget_loss": budget}


@functools.partial(jax.jit, static_argnames=(
    "surrogate", "loss", "generator", "discriminator", "num_fake", "filler_size", "num_steps",
    "noise_dim", "estimator", "resample", "resample_init", "disc_batch"))
def _train(key, surrogate_key, real, targets, gen_lr, disc_lr, disc_weight, budget_weight,
           r1_weight, *, surrogate, loss, generator, discriminator, num_fake, filler_size,
           num_steps, noise_dim, estimator, resample, resample_init, disc_batch):
  k_gen, k_disc, k_fixed, k_loop, k_final = jax.random.split(key, 5)
  _, template0, noise0 = sample_inputs(k_fixed, real, num_fake, noise_dim)
  cast = functools.partial(jax.tree.map, lambda p: p.astype(real.dtype))
  gen_params = cast(generator.init(k_gen, template0, noise0)["params"])
  disc_params = cast(discriminator.init(k_disc, template0)["params"])
  tx = optax.multi_transform({"gen": optax.adam(gen_lr), "disc": optax.adam(disc_lr)},
                             ("gen", "disc"))
  gen_fn = functools.partial(generate, generator=generator, filler_size=filler_size,
                             estimator=estimator)
  gen_loss = functools.partial(
      generator_loss, generator=generator, discriminator=discriminator, surrogate=surrogate,
      loss=loss, filler_size=filler_size, estimator=estimator)

  def both(x, args, step_key):
    """``L_D`` (generated rows held fixed) plus ``L_G`` (``D`` held fixed): each network's
    gradient is that of its own loss at the current point."""
    gen_params, disc_params = x
    real, targets, surrogate_key = args
    k_in, k_real, k_sur = jax.random.split(step_key, 3)
    _, template, noise = sample_inputs(k_in if resample else k_fixed, real, num_fake, noise_dim)
    _, fake = gen_fn(gen_params, template, noise, targets)
    real_rows = real[jax.random.choice(k_real, real.shape[0], (disc_batch,), replace=False)]
    d_total, d_bce = discriminator_loss(disc_params, real_rows, jax.lax.stop_gradient(fake),
                                        targets, discriminator=discriminator,
                                        r1_weight=r1_weight)
    g_total, aux = gen_loss(gen_params, jax.lax.stop_gradient(disc_params), real, targets,
                            template, noise, k_sur if resample_init else surrogate_key,
                            disc_weight=disc_weight, budget_weight=budget_weight)
    return d_total + g_total, {"disc_loss": d_bce, "total_loss": g_total, **aux}

  result = run(tx, both, (gen_params, disc_params), (real, targets, surrogate_key),
               num_steps=num_steps, key=k_loop, has_aux=True)
  gen_params, disc_params = result.x
  ids, template, noise = sample_inputs(k_final if resample else k_fixed, real, num_fake,
                                       noise_dim)
  relaxed, fake = gen_fn(gen_params, template, noise, targets)
  if estimator != "straight_through":
    fake = project_top_m(generator.apply({"params": gen_params}, template, noise,
                                         return_logits=True), filler_size, targets)
  return GeneratorResult(gen_params=gen_params, disc_params=disc_params, fake=fake,
                         relaxed=relaxed, template_ids=ids, curve=result.aux)


def _widths(value, name: str) -> tuple[int, ...]:
  if isinstance(value, (str, bytes)):
    raise ValueError(f"{name} must be a sequence of positive integers, got {value!r}")
  try:
    widths = tuple(value)
  except TypeError:
    raise ValueError(f"{name} must be a sequence of positive integers, got {value!r}") from None
  return tuple(_checks.integer(f"{name} entries", w, low=1) for w in widths)


def train_generator(key: PRNGKey, real: ArrayLike, targets: ArrayLike, *,
                    surrogate: Victim, loss: TargetLoss, num_fake: int,
                    filler_size: int, num_steps: int, gen_lr: float = 1e-2,
                    disc_weight: float = 0.0, disc_lr: float = 1e-3,
                    budget_weight: float = 0.0, r1_weight: float = 1.0, noise_dim: int = 16,
                    hidden: tuple[int, ...] = (), disc_hidden: tuple[int, ...] = (128,),
                    template_logit: float = 3.0, estimator: str = "straight_through",
                    resample: bool = True, resample_init: bool = False,
                    disc_batch: int | None = None,
                    surrogate_key: PRNGKey | None = None) -> GeneratorResult:
  """Trains a :class:`ProfileGenerator` (and a :class:`ProfileDiscriminator`) by ``num_steps``
  simultaneous Adam steps (one jitted :func:`jaxrec.optim.run`); returns the final profiles.

  Each step: sample ``num_fake`` templates (distinct real rows) and noise (``resample``; else one
  fixed sample for the whole run), generate, and step both networks from the current point:
  ``D`` on its cross-entropy of ``disc_batch`` distinct real rows against the generated rows,
  ``G`` on ``L_G`` (the attack loss through the unrolled surrogate, ``disc_weight`` times the
  GAN term, ``budget_weight`` times the budget term) against the current ``D``. ``D`` is trained
  even when ``disc_weight == 0`` (its loss then monitors how far the profiles are from real rows).
  The final profiles come from a fresh sample (the fixed one when ``resample`` is False) and take
  the ``filler_size`` items of largest logit plus the targets. Deterministic: the same key gives the
  same result.

  The learning rates and the three weights are traced, so changing them reuses the compiled
  program; the shapes, the networks' sizes, ``loss``, ``surrogate``, ``estimator`` and the
  flags are static (pass the same ``loss`` object to reuse the program).

  Stability (RevAdv's synthetic setting, ``loss = ce_loss`` with ``reduction="mean"``, 100
  steps at ``gen_lr`` 0.01, data seeds 0-2): ``disc_weight`` 0.3 with ``r1_weight`` 1 costs
  0.04-0.06 of target HR@10 and lowers an independent classifier's two-sample accuracy on every
  seed (jaxrec 0.2, simultaneous updates). With jaxrec 0.1's alternating updates, without the R1
  penalty or with ``disc_weight`` 1, the generator oscillated and collapsed (every profile on
  one item set, target HR@10 0.02-0.03, below the initial generator's 0.13-0.15). The weights are
  relative to the scale of ``loss`` (a ``"sum"`` reduction needs weights larger by the
  number of summed terms).

  Args:
    key: PRNG key of the initialisation and of every sample.
    real: ``(U, I)`` floating 0/1 matrix, the real users the surrogate is trained on (also the
      templates and the discriminator's real rows).
    targets: ``(T,)`` distinct item ids to promote (``T >= 1``).
    surrogate: the inner problem (:func:`jaxrec.attacks.poisoning.lfm_surrogate`, or any
      surrogate :func:`jaxrec.attacks.poisoning.bilevel_loss` accepts; static, so hashable).
    loss: the attack loss (e.g. :func:`jaxrec.attacks.poisoning.ce_loss`).
    num_fake: profiles ``F`` per step and in the output, ``1 <= F <= U``.
    filler_size: fillers ``m`` per profile, ``0 <= m <= I - T``.
    num_steps: training steps, ``>= 0`` (0 gives the initial generator's profiles).
    gen_lr: Adam step size of ``G`` (> 0). disc_weight: GAN weight (>= 0).
    disc_lr: Adam step size of ``D`` (> 0). budget_weight: budget-term weight (>= 0).
    r1_weight: R1 penalty of ``D`` (>= 0). noise_dim: ``Z >= 0``.
    hidden, disc_hidden: hidden widths of ``G`` (default none, see :class:`ProfileGenerator`)
      and ``D``.
    template_logit: initial template weight of ``G``.
    estimator: ``"straight_through"`` or ``"relaxed"`` (module docstring).
    resample: fresh templates and noise at every step.
    resample_init: the surrogate starts from ``fold_in(surrogate_key, step)`` instead of
      ``surrogate_key`` at every step.
    disc_batch: real rows per discriminator step, ``1 <= B <= U``; default ``min(U, F)``.
    surrogate_key: the surrogate's initialisation key; default derived from ``key``.

  Returns:
    A :class:`GeneratorResult`.

  Raises:
    ValueError: ``real`` not a non-empty 2-D floating 0/1 matrix; targets not distinct 1-D
      integer ids in range; a count, size or width out of range; a non-positive learning rate;
      a negative or non-finite weight; a non-finite ``template_logit``; an unknown estimator.

  Source:
    Lin et al., "Attacking Recommender Systems with Augmented User Profiles", CIKM 2020
    (generator + discriminator); Goodfellow et al., NeurIPS 2014 (non-saturating loss);
    Mescheder, Geiger, Nowozin, ICML 2018 (R1 penalty).
  """
  real = _checks.matrix("real", real, binary=True, nonempty=True)
  num_users, num_items = real.shape
  t = _checks.ids("targets", targets, num_items, distinct=True, nonempty=True)
  num_fake = _checks.integer("num_fake", num_fake, low=1, high=num_users)
  filler_size = _checks.integer("filler_size", filler_size, low=0, high=num_items - t.size)
  num_steps = _checks.integer("num_steps", num_steps, low=0)
  noise_dim = _checks.integer("noise_dim", noise_dim, low=0)
  disc_batch = _checks.integer("disc_batch", min(num_users, num_fake) if disc_batch is None
                               else disc_batch, low=1, high=num_users)
  for name, v in (("gen_lr", gen_lr), ("disc_lr", disc_lr)):
    _checks.real(name, v, low=0.0, low_open=True)
  for name, v in (("disc_weight", disc_weight), ("budget_weight", budget_weight),
                  ("r1_weight", r1_weight)):
    _checks.real(name, v)
  _checks.choice("estimator", estimator, ESTIMATORS)
  _checks.real("template_logit", template_logit, low=None)
  if not isinstance(surrogate, Victim):
    raise ValueError(f"surrogate must be a jaxrec.training.Victim, got "
                     f"{type(surrogate).__name__}")
  generator = ProfileGenerator(hidden=_widths(hidden, "hidden"),
                               template_logit=float(template_logit))
  discriminator = ProfileDiscriminator(hidden=_widths(disc_hidden, "disc_hidden"))
  if surrogate_key is None:
    key, surrogate_key = jax.random.split(key)
  dt = real.dtype
  return _train(key, surrogate_key, real, t, *(jnp.asarray(v, dt) for v in (
      gen_lr, disc_lr, disc_weight, budget_weight, r1_weight)), surrogate=surrogate,
      loss=loss, generator=generator, discriminator=discriminator,
      num_fake=num_fake, filler_size=filler_size, num_steps=num_steps, noise_dim=noise_dim,
      estimator=estimator, resample=bool(resample), resample_init=bool(resample_init),
      disc_batch=disc_batch)


@functools.partial(jax.jit, static_argnames=("folds", "num_steps"))
def _two_sample(x, y, key, hide, l2, lr, *, folds, num_steps):
  x = jnp.where(hide[None, :], 0.0, x)
  perm = jax.random.permutation(key, x.shape[0])
  x, y = x[perm], y[perm]
  fold = jnp.arange(x.shape[0]) % folds

  def held_out_hits(k):
    train = (fold != k).astype(x.dtype)

    def loss(p, args):
      x, y, train = args
      z = x @ p["w"] + p["b"]
      bce = optax.sigmoid_binary_cross_entropy(z, y)
      return jnp.sum(train * bce) / jnp.sum(train) + l2 * jnp.sum(p["w"] ** 2)

    p0 = {"w": jnp.zeros(x.shape[1], x.dtype), "b": jnp.zeros((), x.dtype)}
    p = run(optax.adam(lr), loss, p0, (x, y, train), num_steps=num_steps).x
    correct = ((x @ p["w"] + p["b"]) > 0) == (y > 0.5)
    return jnp.sum(jnp.where(fold == k, correct, False))

  return jnp.sum(jax.vmap(held_out_hits)(jnp.arange(folds))) / x.shape[0]


def two_sample_accuracy(real_rows: ArrayLike, fake_rows: ArrayLike, key: PRNGKey, *,
                        targets: ArrayLike | None = None, folds: int = 5, num_steps: int = 300,
                        l2: float = 1e-2, learning_rate: float = 0.05) -> float:
  """Classifier two-sample test: cross-validated accuracy of a logistic regression telling real
  rows from fake ones (Lopez-Paz, Oquab, "Revisiting Classifier Two-Sample Tests", ICLR 2017).

  The rows are shuffled by ``key`` and split into ``folds`` folds; for each fold a logistic
  regression (weights from 0, ``num_steps`` full-batch Adam steps at ``learning_rate`` on the mean
  cross-entropy plus ``l2 |w|^2``) is fitted on the other folds and scored on it. With as many
  real as fake rows, about 0.5 means indistinguishable to a linear classifier and 1.0 fully
  separable. The ``targets`` columns (every fake profile holds them) are zeroed first.

  Args:
    real_rows: ``(B, I)`` floating 0/1 rows. fake_rows: ``(F, I)``, same items.
    key: PRNG key of the shuffle. targets: optional ``(T,)`` item ids to hide.
    folds: ``2 <= folds <= B + F``. num_steps: ``>= 1``. l2: ``>= 0``. learning_rate: ``> 0``.

  Returns:
    The held-out accuracy over all ``B + F`` rows, a float in ``[0, 1]``.

  Raises:
    ValueError: non-matrix, non-binary or mismatched rows, bad targets, a count or
      hyper-parameter out of range.
  """
  real_rows = _checks.matrix("real_rows", real_rows, binary=True, nonempty=True)
  fake_rows = _checks.matrix("fake_rows", fake_rows, num_cols=real_rows.shape[1], binary=True,
                             nonempty=True)
  n = real_rows.shape[0] + fake_rows.shape[0]
  folds = _checks.integer("folds", folds, low=2, high=n)
  num_steps = _checks.integer("num_steps", num_steps, low=1)
  _checks.real("l2", l2)
  _checks.real("learning_rate", learning_rate, low=0.0, low_open=True)
  num_items = real_rows.shape[1]
  hide = np.zeros(num_items, bool)
  if targets is not None:
    hide[np.asarray(_checks.ids("targets", targets, num_items, distinct=True))] = True
  dt = jnp.result_type(real_rows.dtype, fake_rows.dtype)
  x = jnp.concatenate([real_rows.astype(dt), fake_rows.astype(dt)])
  y = jnp.concatenate([jnp.ones(real_rows.shape[0], dt), jnp.zeros(fake_rows.shape[0], dt)])
  return float(_two_sample(x, y, key, jnp.asarray(hide), jnp.asarray(l2, dt),
                           jnp.asarray(learning_rate, dt), folds=folds, num_steps=num_steps))
