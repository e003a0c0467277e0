"""The string registries of jaxrec: model names and attack names, for the audit and the CLI.

The library itself exports plain functions and classes (``jaxrec.models.mf``,
``jaxrec.attacks.poisoning.bandwagon_attack``); names live here only, where a user types them
(``jaxrec audit --model NAME --attacks NAME...``; the CLI builds its choices from these tables).
One place holds each model's default recipe (the audit, the experiments and the benchmarks all
build victims here), so a default changes in one line. The values and what they measure on
MovieLens-100K are in ``docs/models.md``.
"""

from __future__ import annotations

import dataclasses

import optax

from jaxrec import _checks, models, optim
from jaxrec.attacks import poisoning
from jaxrec.training import Victim

__all__ = ["ATTACKS", "HEURISTIC_ATTACKS", "LEARNED_ATTACKS", "MODELS", "ModelDefaults",
           "NUKE_ATTACKS", "OPTIMIZERS", "make_optimizer", "make_victim", "model_defaults"]

OPTIMIZERS = ("adagrad", "sgd", "adam")
HEURISTIC_ATTACKS = {  # name -> recipe
    "random": poisoning.random_attack,
    "average": poisoning.average_attack,
    "bandwagon": poisoning.bandwagon_attack,
    "power_user": poisoning.power_user_attack,
    "love_hate": poisoning.love_hate_attack,
    "reverse_bandwagon": poisoning.reverse_bandwagon_attack,
}
LEARNED_ATTACKS = {  # name -> crafter factory (gradients through a surrogate, dense matrices)
    "revadv": poisoning.bilevel_crafter,
    "generator": lambda: poisoning.generator_crafter(disc_weight=0.3),
}
ATTACKS = tuple(HEURISTIC_ATTACKS) + tuple(LEARNED_ATTACKS)
NUKE_ATTACKS = ("love_hate", "reverse_bandwagon")
SELECTED_ATTACKS = ("bandwagon", "reverse_bandwagon")  # take num_selected


@dataclasses.dataclass(frozen=True)
class ModelDefaults:
  """A model's default training recipe (``None``: the setting does not apply to the model).

  Attributes:
    dim: embedding size (NeuMF: the GMF size; its MLP tower is ``(2 dim, dim, dim / 2)``).
    epochs: training epochs (0 for closed-form models).
    lr: learning rate of ``optimizer``.
    reg: L2 coefficient (EASE: the ridge ``lambda``, in interactions).
    batch_size: BPR triples per step.
    optimizer: one of ``OPTIMIZERS``.
    source: where the recipe comes from.
  """

  dim: int | None
  epochs: int
  lr: float | None
  reg: float | None
  batch_size: int | None
  optimizer: str | None
  source: str


_DEFAULTS = {
    "bpr-mf": ModelDefaults(
        dim=64, epochs=200, lr=0.05, reg=0.01, batch_size=4096, optimizer="adagrad",
        source="Anelli, Di Noia, Merra, RecSys 2021 (64 factors, Adagrad 0.05, 200 epochs); "
               "batches of 4096 and L2 0.01 measured in docs/training.md"),
    # batch 16384: every step propagates the whole graph, so an epoch costs steps x one
    # propagation; 7 steps per ML-100K epoch instead of 25 halved the clean training (86 s
    # against 173 s on 2 loaded cores) and did not lower accuracy on the audit's ML-100K
    # leave-one-out split (HR@10 0.152 against 0.137, NDCG@10 0.080 against 0.073), so that
    # `jaxrec audit --model lightgcn` (21 trainings) fits in minutes
    "lightgcn": ModelDefaults(
        dim=64, epochs=200, lr=0.01, reg=1e-4, batch_size=16384, optimizer="adam",
        source="He et al., SIGIR 2020 (64 dims, 3 layers, Adam, lambda 1e-4); lr 0.01 and "
               "batches of 16384 (full-graph propagation per step) measured on ML-100K"),
    "neumf": ModelDefaults(
        dim=32, epochs=50, lr=1e-3, reg=0.0, batch_size=1024, optimizer="adam",
        source="He et al., WWW 2017 (Adam 1e-3, no pre-training), trained with BPR"),
    "ease": ModelDefaults(
        dim=None, epochs=0, lr=None, reg=500.0, batch_size=None, optimizer=None,
        source="Steck, WWW 2019 (closed form, lambda 500)"),
    "itemknn": ModelDefaults(
        dim=None, epochs=0, lr=None, reg=None, batch_size=None, optimizer=None,
        source="Sarwar et al., WWW 2001 (cosine), 100 neighbours per item"),
}
MODELS = tuple(_DEFAULTS)


def model_defaults(name: str) -> ModelDefaults:
  """The default recipe of model ``name`` (one of :data:`MODELS`).

  Raises:
    ValueError: an unknown name.

  Source:
    each entry's ``source`` field.
  """
  if name not in _DEFAULTS:
    raise ValueError(f"unknown model {name!r}; choose from {MODELS}")
  return _DEFAULTS[name]


def make_optimizer(name: str, lr: float) -> optax.GradientTransformation:
  """The optax optimiser ``name`` (Adagrad starts its accumulator at 0.1, as Keras).

  ``"sgd"`` is the row-sparse :func:`jaxrec.optim.sparse_sgd` (on models with the row-sparse
  protocol, BPR-MF, each step touches only the batch's rows; the same steps as ``optax.sgd`` up
  to float summation order). ``"adagrad"`` stays the dense ``optax.adagrad``: the row-sparse
  :func:`jaxrec.optim.sparse_adagrad` accumulates repeated rows differently and shifted the
  audit's beyond-accuracy metrics (coverage@10 0.62 -> 0.45 on the bundled dataset), so it is
  opt-in.

  Raises:
    ValueError: an unknown name; a non-positive or non-finite learning rate.

  Source:
    Duchi, Hazan, Singer, JMLR 2011 (Adagrad); Kingma, Ba, ICLR 2015 (Adam).
  """
  _checks.real("lr", lr, low=0.0, low_open=True)
  if name == "adagrad":
    return optax.adagrad(lr, initial_accumulator_value=0.1)
  if name == "sgd":
    return optim.sparse_sgd(lr)
  if name == "adam":
    return optax.adam(lr)
  raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {name!r}")


def make_victim(name: str, *, dim: int | None = None, epochs: int | None = None,
                lr: float | None = None, reg: float | None = None,
                batch_size: int | None = None, optimizer: str | None = None) -> Victim:
  """Victim ``name`` with its default recipe, overridden where an argument is given.

  Args:
    name: one of :data:`MODELS`: ``"bpr-mf"``, ``"lightgcn"``, ``"neumf"``, ``"ease"``,
      ``"itemknn"``.
    dim, epochs, lr, reg, batch_size, optimizer: overrides of :func:`model_defaults`
      (``None`` keeps the default). Units as in :class:`ModelDefaults`.

  Returns:
    A :class:`jaxrec.training.Victim` named ``name``.

  Raises:
    ValueError: an unknown model or optimiser, an override of a setting the model does not
      have (e.g. a learning rate for the closed-form EASE), or an invalid value.

  Source:
    the recipes' sources are listed per model in :class:`ModelDefaults` (``source``).
  """
  d = model_defaults(name)
  given = dict(dim=dim, epochs=epochs, lr=lr, reg=reg, batch_size=batch_size,
               optimizer=optimizer)
  for key, value in given.items():
    if value is not None and getattr(d, key) is None:
      raise ValueError(f"model {name!r} has no {key} setting (it is closed-form or has no "
                       f"such hyper-parameter); got {key}={value!r}")
  if epochs is not None and d.epochs == 0 and epochs != 0:
    raise ValueError(f"model {name!r} is closed-form: it trains no epochs, got epochs={epochs}")
  pick = lambda key: getattr(d, key) if given[key] is None else given[key]  # noqa: E731
  if name == "ease":
    return Victim(models.ease(reg=pick("reg")))
  if name == "itemknn":
    return Victim(models.itemknn())
  recipe = dict(tx=make_optimizer(pick("optimizer"), pick("lr")),
                num_epochs=_checks.integer("epochs", pick("epochs"), low=0),
                batch_size=_checks.integer("batch_size", pick("batch_size"), low=1))
  dim, reg = pick("dim"), pick("reg")
  if name == "bpr-mf":
    return Victim(models.mf(dim=dim, reg=reg), **recipe)
  if name == "lightgcn":
    return Victim(models.lightgcn(dim=dim, reg=reg), **recipe)
  dim = _checks.integer("dim", dim, low=1)
  return Victim(models.neumf(gmf_dim=dim, mlp_dims=(2 * dim, dim, max(1, dim // 2)), reg=reg),
                **recipe)
