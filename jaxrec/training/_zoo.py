"""The victim zoo: every model jaxrec can train, by name, with its default recipe.

One place holds each model's default hyper-parameters (``jaxrec audit --model NAME``, the
experiments and the benchmarks all build victims here), so a default changes in one line. The
values and what they measure on MovieLens-100K are in ``docs/models.md``.
"""

from __future__ import annotations

import dataclasses
import math

import optax

from jaxrec.training._victim import Victim, bpr_mf_victim
from jaxrec.training._victim_closed_form import ease_victim, itemknn_victim
from jaxrec.training._victim_lightgcn import lightgcn_victim
from jaxrec.training._victim_neumf import neumf_victim

__all__ = ["MODELS", "ModelDefaults", "make_optimizer", "make_victim", "model_defaults"]

OPTIMIZERS = ("adagrad", "sgd", "adam")


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
    "lightgcn": ModelDefaults(
        dim=64, epochs=200, lr=0.01, reg=1e-4, batch_size=4096, optimizer="adam",
        source="He et al., SIGIR 2020 (64 dims, 3 layers, Adam, lambda 1e-4); lr 0.01 for "
               "jaxrec's fewer, larger batches"),
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

  Raises:
    ValueError: an unknown name.

  Source:
    Duchi, Hazan, Singer, JMLR 2011 (Adagrad); Kingma, Ba, ICLR 2015 (Adam).
  """
  if name == "adagrad":
    return optax.adagrad(lr, initial_accumulator_value=0.1)
  if name == "sgd":
    return optax.sgd(lr)
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
  for key in ("dim", "epochs", "batch_size"):
    value = given[key]
    low = 0 if key == "epochs" else 1
    if value is not None and (isinstance(value, bool) or int(value) != value or value < low):
      raise ValueError(f"{key} must be an integer >= {low}, got {value!r}")
  if lr is not None and not (math.isfinite(lr) and lr > 0):
    raise ValueError(f"lr must be a positive finite number, got {lr!r}")
  if reg is not None and not (math.isfinite(reg) and reg >= 0):
    raise ValueError(f"reg must be a finite number >= 0, got {reg!r}")
  pick = lambda key: getattr(d, key) if given[key] is None else given[key]  # noqa: E731
  if name == "ease":
    return ease_victim(reg=pick("reg"))
  if name == "itemknn":
    return itemknn_victim()
  tx = make_optimizer(pick("optimizer"), pick("lr"))
  common = dict(num_epochs=pick("epochs"), batch_size=pick("batch_size"), reg=pick("reg"), tx=tx)
  if name == "bpr-mf":
    return bpr_mf_victim(dim=pick("dim"), **common)
  if name == "lightgcn":
    return lightgcn_victim(dim=pick("dim"), **common)
  gmf = pick("dim")
  return neumf_victim(gmf_dim=gmf, mlp_dims=(2 * gmf, gmf, max(1, gmf // 2)), **common)
