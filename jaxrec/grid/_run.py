"""``run_grid``: a poisoning grid run cell by cell into a resumable results store."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import time
from pathlib import Path
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxrec import data, metrics
from jaxrec.attacks import poisoning
from jaxrec.audit._attack_section import (DELTA_METRICS, _exposure_rows, attack_recipe,
                                          knowledge_of, raw_id, resolve_targets)
from jaxrec.audit._config import prepare_split
from jaxrec.audit._progress import bar
from jaxrec.audit._run import _preflight, clean_section
from jaxrec.experiment import config_hash, config_to_dict
from jaxrec.grid._config import PoisonGridConfig, grid_cells
from jaxrec.report import build_report, make_row, versions, write_report
from jaxrec.report._provenance import (attach_provenance, describe_inputs, finish_provenance,
                                       start_provenance, timed)
from jaxrec.results import ResultsStore, load_rows

__all__ = ["GridRun", "data_fingerprint", "run_grid"]


@dataclasses.dataclass(frozen=True)
class GridRun:
  """What :func:`run_grid` did.

  Attributes:
    out_dir: the store folder.
    report: the path of ``report.json`` (written by process 0 only).
    config_hash: the config's hash (:func:`jaxrec.experiment.config_hash`).
    cells: the number of the grid's cells (:func:`jaxrec.grid.grid_cells`).
    ran: cells computed by this run.
    skipped: cells found finished (their parts kept as they were).
    seconds: wall time of the run (s).

  Raises:
    Nothing (a record).

  Source:
    jaxrec.
  """

  out_dir: Path
  report: Path
  config_hash: str
  cells: int
  ran: int
  skipped: int
  seconds: float


def data_fingerprint(dataset: data.Dataset) -> str:
  """The sha256 (64 hex digits) of a loaded dataset's contents: the sizes of its id spaces,
  its interaction arrays (users, items, ratings, timestamps, and the predefined test split's),
  and its raw user and item ids. Equal for the same data however it was reached (a path, a
  copy elsewhere, ``$JAXREC_SHARED_DATA``, the download cache); different when a single
  interaction, rating or id differs. The grid records it in its store (``store.json``) and
  refuses to resume a store computed on other data.

  Args:
    dataset: the loaded dataset (:func:`jaxrec.data.load_dataset`).

  Returns:
    The hex digest.

  Raises:
    Nothing.

  Source:
    jaxrec.
  """
  h = hashlib.sha256()

  def add(tag: str, array) -> None:
    if array is None:
      h.update(f"{tag}:none;".encode())
      return
    a = np.asarray(array)
    if a.dtype.kind in "OUS":  # raw string ids: their text, one per line
      blob = "\n".join(map(str, a.tolist())).encode()
      h.update(f"{tag}:str:{a.shape}:{len(blob)};".encode())
      h.update(blob)
    else:
      a = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))
      h.update(f"{tag}:{a.dtype.str}:{a.shape};".encode())
      h.update(a.tobytes())

  for part, inter in (("train", dataset.interactions), ("test", dataset.test)):
    if inter is None:
      h.update(f"{part}:none;".encode())
      continue
    h.update(f"{part}:{inter.num_users}x{inter.num_items};".encode())
    for field in ("users", "items", "ratings", "timestamps"):
      add(f"{part}.{field}", getattr(inter, field))
  add("user_ids", dataset.user_ids)
  add("item_ids", dataset.item_ids)
  return h.hexdigest()


def load_grid_dataset(config: PoisonGridConfig) -> tuple[data.Dataset, dict[str, Any]]:
  """The grid's dataset and its data options (for the report's provenance inputs).

  Raises:
    ValueError, OSError, DataFormatError, DownloadError: from
    :func:`jaxrec.data.load_dataset`.
  """
  name, path = config.data_source()
  dataset = data.load_dataset(name, path=path)
  return dataset, {"dataset": name, "data": None if path is None else str(path),
                   "threshold": config.threshold}


def run_grid(config: PoisonGridConfig, out_dir: str | os.PathLike, *, mesh=None,
             progress: bool = True, echo: Callable[[str], None] = print) -> GridRun:
  """Runs a poisoning grid into the results store ``out_dir``, resuming a killed run.

  Loads the data and opens the store (:class:`jaxrec.results.ResultsStore`, recording the
  config's hash and the data's :func:`data_fingerprint`), splits the data once (the audit's split, :func:`jaxrec.audit.prepare_split`),
  resolves the targets (:func:`jaxrec.audit._attack_section.resolve_targets`), trains the clean
  model once per seed (clean cell: the most-popular baseline's and the model's accuracy, and
  the targets' clean exposure; attack ``"none"``), then runs each attack's unfinished cells
  with :func:`jaxrec.attacks.poisoning.run_poisoning` (the full grid's program and numbers),
  writing each cell's rows to the store as it finishes. Cells whose part exists in ``out_dir``
  are skipped; a clean cell that is finished is read back instead of retrained. At the end,
  ``out_dir/report.json`` and ``report.md`` (the report schema, :func:`jaxrec.report.
  build_report`) hold every row of the store, and ``out_dir/target_hr.png`` the targets'
  HR@k (first k) under the grid's model against the budget (the number of fake users when the
  budgets mix fractions and counts), one line per attack, the clean model's dashed.

  A poisoned cell's rows (grid keys ``target`` (raw id), ``num_fake``, ``seed``): the target's
  ``target_hr``/``target_ndcg`` @k, ``target_rank``, ``target_score``, ``prediction_shift``
  (attacked minus clean target score), and the real users' ``ndcg``, ``recall``,
  ``coverage``, ``gini``, ``arp`` @k with ``delta_<metric>`` against the clean model of the same
  seed. Every row also has the store's provenance columns (:data:`jaxrec.results.
  PROVENANCE_COLUMNS`).

  Args:
    config: the grid.
    out_dir: the store folder (created when missing; ``jaxrec.results.load(out_dir)`` reads it).
    mesh: optional device mesh (:func:`jaxrec.sharding.make_mesh`), passed on to
      :func:`jaxrec.attacks.poisoning.run_poisoning` to spread the cells over devices. Under
      ``jax.distributed`` (several processes) every process calls ``run_grid`` with the same
      arguments and computes every cell with the others; process 0 alone writes the store and
      the report (the others return after the last cell).
    progress: tqdm bars with an ETA (one per attack, advanced per program of cells; shown on a
      terminal only).
    echo: where status lines go.

  Returns:
    A :class:`GridRun` (how many cells ran and how many were skipped).

  Raises:
    ValueError: ``out_dir`` holds finished cells of another config or of other data (its
      ``store.json`` records another :func:`data_fingerprint`), or a finished clean cell of
      other targets, or is a non-empty folder that is not a results store (each refused
      before any cell is computed), bad data or settings for this data (unknown target ids,
      budgets that mean equal numbers of fake users or not fewer fake users than real ones,
      ``k`` larger than the catalogue, ...).
    TypeError: ``mesh`` is not a ``jax.sharding.Mesh`` (from
      :func:`jaxrec.attacks.poisoning.run_poisoning`).
    OSError: ``out_dir`` cannot be written (checked before any cell is computed); the data
      cannot be read.
    jaxrec.audit.TrainingDiverged: a clean training diverged (finished cells are kept).

  Source:
    jaxrec (Mobasher et al., ACM TOIT 2007, Sec. 6: attack, retrain, measure).
  """
  t_start = time.perf_counter()
  chash = config_hash(config)
  # several processes (jax.distributed) compute every cell together; process 0 alone writes
  writer = jax.process_index() == 0
  versions()
  dataset, options = load_grid_dataset(config)
  # the store's identity: the config and the data it ran on (a resume on changed data would
  # compare new poisoned cells with a clean model trained on the old data)
  store = ResultsStore(out_dir, chash, config=config_to_dict(config), data={
      "fingerprint": data_fingerprint(dataset), "dataset": dataset.name,
      "path": options["data"]})
  prov = start_provenance({"argv": None, "inputs": describe_inputs(
      {k: v for k, v in options.items() if k != "threshold"}, dataset_name=dataset.name)})
  base = config.audit_config()
  train, test, split_desc, notes = prepare_split(dataset, base)
  train_idx = data.index_interactions(train)
  test_idx = metrics.relevant_index(test)
  _preflight(train_idx, test_idx, base, dataset)
  targets = resolve_targets(dataset, train_idx, base)
  raw_targets = [raw_id(t) for t in np.asarray(dataset.item_ids)[targets]]
  cells = grid_cells(config, raw_targets)
  done = store.finished()
  ids = [store.cell_id(c) for c in cells]
  todo = sum(cid not in done for cid in ids)
  echo(f"grid {chash}: {len(cells)} cells ({len(config.seeds)} clean, "
       f"{len(cells) - len(config.seeds)} poisoned) on {dataset.name!r} ({split_desc}), "
       f"targets {raw_targets} (raw ids); {len(cells) - todo} finished in {out_dir}, "
       f"{todo} to run")
  counts = [poisoning.num_fake_users(b, train.num_users) for b in config.budgets]
  ran = 0

  with timed(prov, "clean"):
    clean = {}
    for seed in config.seeds:
      keys = {"attack": "none", "seed": seed}
      cid = store.cell_id(keys)
      if cid in done:
        rows = store.read(cid)
        stored = {r["target"] for r in rows if r["metric"] == "target_score"
                  and r.get("target") is not None}
        if stored != set(raw_targets):
          raise ValueError(
              f"the finished clean cell {cid} of seed {seed} in {out_dir} scores the targets "
              f"{sorted(stored, key=str)}, but this run's targets are {raw_targets} (the data "
              "or the target draw changed since it was written): refusing to compare with it; "
              "use another --out folder")
      else:
        rows = _clean_rows(config, seed, train_idx, test_idx, targets, raw_targets, echo,
                           progress)
        if writer:
          store.write(keys, rows, seed=seed)
        ran += 1
      clean[seed] = _clean_values(rows, config)

  with timed(prov, "attacks"):
    knowledge = knowledge_of(dataset, test, base)
    filler = (config.filler_size if config.filler_size is not None
              else poisoning.default_filler_size(train))
    victim = base.victim()
    evaluator = metrics.make_evaluator(train_idx, test_idx, ks=config.ks,
                                       chunk_size=config.chunk_size)
    target_ev = metrics.make_target_evaluator(train_idx, ks=config.ks,
                                              chunk_size=config.chunk_size)
    budget_of = dict(zip(counts, config.budgets))
    for name in config.attacks:
      mine = [c for c, cid in zip(cells, ids) if c["attack"] == name and cid not in done]
      if not mine:
        echo(f"  {name}: every cell finished already")
        continue
      recipe = attack_recipe(name, train_index=train_idx, knowledge=knowledge,
                             target_sets=targets[:, None], counts=counts, filler=filler,
                             config=base, echo=echo, progress=progress)
      subset = [{"targets": raw_targets.index(c["target"]),
                 "num_fake": counts[config.budgets.index(c["budget"])], "seed": c["seed"]}
                for c in mine]

      def on_cell(index, result, name=name, subset=subset):
        c = subset[index]
        keys = {"attack": name, "target": raw_targets[c["targets"]],
                "budget": budget_of[c["num_fake"]], "seed": c["seed"]}
        rows = _poisoned_rows(result, keys, num_fake=c["num_fake"], model=config.model,
                              ks=config.ks, clean=clean[c["seed"]])
        if writer:
          store.write(keys, rows, seed=c["seed"])

      t0 = time.perf_counter()
      retraining = bar(len(subset), f"{name}: poisoned retrainings", progress)
      extra = {} if mesh is None else {"mesh": mesh}
      try:
        poisoning.run_poisoning(
            recipe, knowledge=knowledge, clean=train_idx, victim=victim, evaluator=evaluator,
            target_evaluator=target_ev, target_sets=targets[:, None], budgets=counts,
            seeds=list(config.seeds), max_lanes=config.max_lanes, progress=retraining.update,
            cells=subset, on_cell=on_cell, **extra)
      finally:
        retraining.close()
      ran += len(subset)
      echo(f"  {name}: {len(subset)} poisoned retrainings in {time.perf_counter() - t0:.1f} s")

  if not writer:
    seconds = time.perf_counter() - t_start
    echo(f"process {jax.process_index()}: ran {ran} cell(s); process 0 writes {out_dir}")
    return GridRun(out_dir=Path(out_dir), report=Path(out_dir) / "report.json",
                   config_hash=chash, cells=len(cells), ran=ran, skipped=len(cells) - ran,
                   seconds=seconds)
  rows = load_rows(out_dir, ids)
  stats = data.characteristics(train)
  dataset_section = {"name": dataset.name, **stats, "split": split_desc,
                     "train_interactions": len(train), "test_interactions": len(test),
                     "targets": raw_targets, "num_fake": dict(zip(map(str, config.budgets),
                                                                  counts)),
                     "filler_size": filler, "notes": list(dataset.notes) + notes}
  figure = Path(out_dir) / "target_hr.png"
  _figure(rows, figure, config)
  prov["grid"] = {"config_hash": chash, "cells": len(cells), "ran": ran,
                  "skipped": len(cells) - ran}
  prov["outputs"] = ["report.json", "report.md", figure.name]
  report = build_report(dataset=dataset_section,
                        config={**config_to_dict(config), "config_hash": chash}, rows=rows)
  json_path, _ = write_report(out_dir, attach_provenance(report, finish_provenance(prov)))
  seconds = time.perf_counter() - t_start
  echo(f"ran {ran} cell(s), skipped {len(cells) - ran} finished; {len(rows)} rows; report "
       f"written to {json_path} ({seconds:.1f} s)")
  return GridRun(out_dir=Path(out_dir), report=json_path, config_hash=chash, cells=len(cells),
                 ran=ran, skipped=len(cells) - ran, seconds=seconds)


def _clean_rows(config, seed, train_idx, test_idx, targets, raw_targets, echo, progress):
  """The clean cell of ``seed``: accuracy of most-popular and of the model, and the targets'
  exposure under the clean model (per target)."""
  audit = config.audit_config(seed)
  state: dict = {}
  rows = list(clean_section(train_idx, test_idx, audit, progress=progress, echo=echo,
                            state=state))
  victim = audit.victim()
  target_ev = metrics.make_target_evaluator(train_idx, ks=config.ks,
                                            chunk_size=config.chunk_size)
  exposure = target_ev.summarize(jax.jit(target_ev.raw)(victim.model, state["params"],
                                                         jnp.asarray(targets, jnp.int32)))
  rows += [r for r in _exposure_rows(exposure, np.asarray(raw_targets, dtype=object),
                                     model=config.model) if r["target"] is not None]
  return [{**r, "seed": seed} for r in rows]


def _clean_values(rows: list[dict], config: PoisonGridConfig) -> dict:
  """From a clean cell's rows: the clean target scores by raw target id and the model's
  accuracy by ``(metric, k)``."""
  scores = {r["target"]: r["value"] for r in rows
            if r["metric"] == "target_score" and r.get("target") is not None}
  accuracy = {(r["metric"], r["k"]): r["value"] for r in rows
              if r["model"] == config.model and r["metric"] in DELTA_METRICS
              and r.get("target") is None}
  return {"scores": scores, "accuracy": accuracy}


def _poisoned_rows(result: poisoning.CellResult, keys: dict, *, num_fake: int, model: str,
                   ks: tuple[int, ...], clean: dict) -> list[dict]:
  """The rows of one poisoned cell (:func:`run_grid`)."""
  target = keys["target"]
  common = dict(model=model, attack=keys["attack"], budget=keys["budget"], num_fake=num_fake,
                seed=keys["seed"])
  rows = [r for r in _exposure_rows(result.exposure, np.asarray([target], dtype=object),
                                    **common) if r["target"] is not None]
  shift = result.exposure[0]["target_score"][None] - clean["scores"][target]
  rows.append(make_row(metric="prediction_shift", value=shift, target=target, **common))
  for metric in DELTA_METRICS:
    for k in ks:
      attacked = result.evaluation[metric][k]
      rows.append(make_row(metric=metric, value=attacked, k=k, target=target, **common))
      rows.append(make_row(metric=f"delta_{metric}",
                           value=attacked - clean["accuracy"][(metric, k)], k=k, target=target,
                           **common))
  return rows


def _figure(rows: list[dict], path: Path, config: PoisonGridConfig) -> None:
  """The targets' HR@k (first k) of the grid's model against the budget, one line per attack
  and the clean model's as a dashed line; against the number of fake users when the budgets
  mix fractions and counts (one axis would misplace them)."""
  import pandas as pd  # pylint: disable=import-outside-toplevel

  from jaxrec.results import plot  # pylint: disable=import-outside-toplevel
  k = config.ks[0]
  mixed = (any(isinstance(b, float) for b in config.budgets)
           and any(isinstance(b, int) for b in config.budgets))
  x = "num_fake" if mixed else "budget"
  plot(pd.DataFrame(rows), metric="target_hr", k=k, x=x, hue="attack",
       where={"model": config.model}, path=path,
       title=f"{config.model}: targets' HR@{k} (mean of targets, seeds)")
