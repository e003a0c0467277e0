"""The typed config of a poisoning grid and its expansion into cells."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from jaxrec import _checks
from jaxrec.audit._config import TARGET_STRATEGIES, AuditConfig
from jaxrec.audit._registry import ATTACKS, model_defaults
from jaxrec.experiment import product

__all__ = ["DATASETS", "PoisonGridConfig", "grid_cells"]

DATASETS = ("bundled", "ml-100k", "ml-1m")
# the folder of each MovieLens set under $JAXREC_SHARED_DATA, and the file read in it
_SHARED = {"ml-100k": ("movielens-100k", "u.data"), "ml-1m": ("movielens-1m", "ratings.dat")}
_TRAINING = ("dim", "epochs", "lr", "reg", "batch_size", "optimizer")


@dataclasses.dataclass(frozen=True)
class PoisonGridConfig:
  """A fake-profile poisoning grid: attack x budget x target x seed cells on one dataset.

  Every cell injects one attack's fake profiles against one target item, retrains the victim
  from scratch (seed ``seed``) and measures the target's exposure and the real users'
  accuracy; each seed also has a clean cell (the victim trained on the clean data, attack
  ``"none"``). Read from TOML with :func:`jaxrec.experiment.load_config` (top-level keys are
  these fields); ``jaxrec grid CONFIG --out DIR`` runs it (:func:`jaxrec.grid.run_grid`).

  The training settings (``dim`` to ``optimizer``) default to ``None``: the model's own recipe
  (:func:`jaxrec.audit.model_defaults`); after construction they hold the values used (so the
  config's hash, :func:`jaxrec.experiment.config_hash`, names the settings that ran).

  Attributes:
    dataset: ``"bundled"`` (MovieTweetings 10-core, offline), ``"ml-100k"`` or ``"ml-1m"``.
      MovieLens is read from ``data_path``, else from ``$JAXREC_SHARED_DATA/movielens-100k``
      (``movielens-1m``) when that folder exists, else downloaded once into the user cache
      (:func:`jaxrec.data.load_dataset`).
    data_path: a local copy of the dataset (file, or folder holding it); ``None``: as above.
    threshold: keep ratings ``>= threshold`` as positive feedback; ``None`` keeps every
      interaction.
    model: the victim, one of :data:`jaxrec.audit.MODELS`.
    dim, epochs, lr, reg, batch_size, optimizer: overrides of the model's recipe (units as in
      :class:`jaxrec.audit.AuditConfig`).
    attacks: fake-profile attacks (names in :data:`jaxrec.audit.ATTACKS`), at least one.
    budgets: attack sizes: fractions of the real users in ``(0, 1)`` (floats) or counts of fake
      users (integers); distinct numbers of fake users.
    num_targets: target items, each attacked separately (one cell per target).
    target_strategy: how targets are drawn: ``"unpopular"``, ``"popular"`` or ``"random"``
      (:func:`jaxrec.attacks.poisoning.select_targets`, seeded with ``data_seed``).
    target_ids: explicit raw item ids to attack instead (overrides the two above).
    filler_size: non-target items per fake profile; ``None`` = the mean real profile length.
    num_selected: popular (bandwagon) or disliked (reverse bandwagon) items per profile.
    seeds: victim seeds, each in ``[0, 2**32)``: seed ``s`` initialises and samples the clean
      and the poisoned trainings (the same key, so a cell differs from its clean model by the
      fake profiles only) and draws the attack's profiles (``fold_in(key(s), 1)``).
    data_seed: seed of the split (leave-one-out: random only without timestamps), of the target
      draw and of the learned attacks' crafting.
    ks: cut-offs of the ranking metrics.
    chunk_size: users scored at once during evaluation.
    max_lanes: cells per vmapped program (:func:`jaxrec.experiment.default_lanes` when
      ``None``: 1 on CPU, all on an accelerator).

  Raises:
    ValueError: an unknown dataset, model, attack or strategy; no attack, budget or seed;
      repeated attacks, seeds or budgets; a budget that is neither a fraction in ``(0, 1)``
      nor a count ``>= 1``; a seed outside ``[0, 2**32)``; training settings the model does not
      have or invalid ones (``epochs = 0`` for a model that trains); a non-positive
      ``num_targets``, ``chunk_size`` or ``max_lanes``; an empty ``target_ids``; a
      ``data_path`` that does not exist.

  Source:
    jaxrec (the grid of Mobasher et al., ACM TOIT 2007, Sec. 6: attack, retrain, measure).
  """

  dataset: str = "bundled"
  data_path: str | None = None
  threshold: float | None = None
  model: str = "bpr-mf"
  dim: int | None = None
  epochs: int | None = None
  lr: float | None = None
  reg: float | None = None
  batch_size: int | None = None
  optimizer: str | None = None
  attacks: tuple[str, ...] = ("random", "bandwagon")
  budgets: tuple[int | float, ...] = (0.01, 0.05)
  num_targets: int = 5
  target_strategy: str = "unpopular"
  target_ids: tuple[int | str, ...] | None = None
  filler_size: int | None = None
  num_selected: int = 1
  seeds: tuple[int, ...] = (0, 1)
  data_seed: int = 0
  ks: tuple[int, ...] = (10,)
  chunk_size: int = 256
  max_lanes: int | None = None

  def __post_init__(self):
    _checks.choice("dataset", self.dataset, DATASETS)
    if self.data_path is not None and not Path(self.data_path).expanduser().exists():
      raise ValueError(f"data_path {self.data_path}: no such file or folder")
    attacks = tuple(self.attacks)
    if not attacks:
      raise ValueError(f"attacks must name at least one attack of {ATTACKS}")
    object.__setattr__(self, "attacks", attacks)
    budgets = tuple(self.budgets)
    if not budgets:
      raise ValueError("budgets must name at least one attack size")
    object.__setattr__(self, "budgets", budgets)
    seeds = tuple(_checks.integer("seed", s, low=0, high=2**32 - 1) for s in self.seeds)
    if not seeds:
      raise ValueError("seeds must name at least one seed")
    if len(set(seeds)) != len(seeds):
      raise ValueError(f"seeds repeat a value: {seeds}")
    object.__setattr__(self, "seeds", seeds)
    _checks.integer("data_seed", self.data_seed, low=0, high=2**32 - 1)
    _checks.choice("target_strategy", self.target_strategy, TARGET_STRATEGIES)
    if self.max_lanes is not None:
      _checks.integer("max_lanes", self.max_lanes, low=1)
    if self.target_ids is not None:
      object.__setattr__(self, "target_ids", tuple(self.target_ids))
      if not self.target_ids:
        raise ValueError("target_ids must name at least one raw item id (or leave it out to "
                         "draw num_targets targets)")
    # the audit's config checks the rest (model and recipe, attacks, budgets, ks, ...) and
    # fills in the model's default recipe
    audit = self.audit_config()
    for name in _TRAINING:
      object.__setattr__(self, name, getattr(audit, name))
    if self.epochs == 0 and model_defaults(self.model).epochs:
      raise ValueError(f"epochs must be >= 1 for model {self.model!r}, got 0 (every cell would "
                       "measure an untrained, randomly initialised model)")
    object.__setattr__(self, "ks", audit.ks)
    if len(set(budgets)) != len(budgets):  # equal counts on the data: refused once loaded
      raise ValueError(f"budgets repeat a value: {budgets}")

  def audit_config(self, seed: int | None = None) -> AuditConfig:
    """The :class:`jaxrec.audit.AuditConfig` of the grid's settings with ``seed`` (default
    ``data_seed``): the audit's split, target draw, victim recipe and attack recipes are
    reused as they are.

    Raises:
      ValueError: invalid settings (as :class:`jaxrec.audit.AuditConfig`).
    """
    return AuditConfig(
        model=self.model, **{name: getattr(self, name) for name in _TRAINING},
        seed=self.data_seed if seed is None else seed, ks=tuple(self.ks),
        chunk_size=self.chunk_size, threshold=self.threshold, attacks=self.attacks,
        budgets=self.budgets, num_targets=self.num_targets,
        target_strategy=self.target_strategy, target_ids=self.target_ids,
        filler_size=self.filler_size, num_selected=self.num_selected)

  def data_source(self) -> tuple[str, Path | None]:
    """The registry name of the dataset and the local copy to read (``None``: the bundled file,
    or a download into the user cache).

    Raises:
      Nothing.
    """
    name = "movietweetings-10core" if self.dataset == "bundled" else self.dataset
    if self.data_path is not None:
      return name, Path(self.data_path).expanduser()
    if self.dataset in _SHARED and os.environ.get("JAXREC_SHARED_DATA"):
      folder, file = _SHARED[self.dataset]
      path = Path(os.environ["JAXREC_SHARED_DATA"]) / folder / file
      if path.is_file():
        return name, path
    return name, None


def grid_cells(config: PoisonGridConfig, targets: list[Any]) -> list[dict[str, Any]]:
  """The cells of a grid, in the order they run: one clean cell per seed (``{"attack":
  "none", "seed": s}``), then per attack every ``{"attack", "target", "budget", "seed"}`` in
  ``itertools.product(targets, budgets, seeds)`` order (the order of
  :func:`jaxrec.attacks.poisoning.run_poisoning`).

  Args:
    config: the grid.
    targets: the raw ids of the target items (``int`` or ``str``), resolved on the data.

  Returns:
    ``len(seeds) * (1 + len(attacks) * len(targets) * len(budgets))`` dicts of JSON scalars
    (the keys :func:`jaxrec.results.cell_id` hashes).

  Raises:
    ValueError: no target.

  Source:
    jaxrec.
  """
  if not targets:
    raise ValueError("a grid needs at least one target")
  cells = [{"attack": "none", "seed": s} for s in config.seeds]
  for attack in config.attacks:
    cells += [{"attack": attack, **c} for c in product(target=list(targets),
                                                      budget=list(config.budgets),
                                                      seed=list(config.seeds))]
  return cells
