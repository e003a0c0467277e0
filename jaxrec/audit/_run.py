"""The audit pipeline: split, train, evaluate, write one tidy report.

Sections add rows to the same report: today the clean model (BPR-MF and a most-popular
baseline); attack and defense sections plug in as further functions returning rows.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import time
from typing import Callable

import jax

from jaxrec import metrics, models, training
from jaxrec.audit._config import AuditConfig, make_optimizer, prepare_split
from jaxrec.data import Dataset, PositiveIndex, characteristics, concatenate, index_interactions
from jaxrec.report import build_report, make_row, rows_from_evaluation, write_report

__all__ = ["clean_section", "run_audit", "train_bpr_mf"]


def train_bpr_mf(train: PositiveIndex, config: AuditConfig, *, progress: bool = False):
  """Trains BPR-MF with the hyper-parameters of ``config``.

  Returns:
    ``(params, curve)``: :class:`jaxrec.models.MFParams` and the per-epoch mean loss.
  """
  k_init, k_train = jax.random.split(jax.random.key(config.seed))
  tx = make_optimizer(config.optimizer, config.lr)
  params = models.mf.init(k_init, train.num_users, train.num_items, config.dim)
  state = training.init_state(params, tx, k_train)
  objective = functools.partial(models.mf_bpr_objective, reg=config.reg)
  state, curve = training.train(
      state, train, objective=objective, tx=tx, batch_size=config.batch_size,
      num_epochs=config.epochs, progress="BPR-MF" if progress else False)
  return state.params, curve


def clean_section(train: PositiveIndex, test: PositiveIndex, config: AuditConfig, *,
                  progress: bool = False, echo: Callable[[str], None] = print) -> list[dict]:
  """Accuracy and beyond-accuracy of the clean BPR-MF model and of the most-popular baseline.

  Returns:
    Tidy rows with ``attack="none"``, ``defense="none"``, models ``"bpr-mf"`` and
    ``"most-pop"``, and the BPR-MF final training loss as metric ``"train_loss"``.
  """
  t0 = time.perf_counter()
  params, curve = train_bpr_mf(train, config, progress=progress)
  echo(f"trained BPR-MF: {config.epochs} epochs in {time.perf_counter() - t0:.1f} s")
  evaluate = functools.partial(metrics.evaluate, train=train, test=test, ks=config.ks,
                               chunk_size=config.chunk_size)
  rows = rows_from_evaluation(evaluate(models.mf.score_all, params), model="bpr-mf")
  if len(curve):
    rows.append(make_row(model="bpr-mf", metric="train_loss", value=float(curve[-1])))
  popular = models.fit_popularity(train)
  rows += rows_from_evaluation(evaluate(models.popularity.score_all, popular), model="most-pop")
  return rows


def run_audit(dataset: Dataset, config: AuditConfig, out_dir: str | os.PathLike, *,
              progress: bool = True, echo: Callable[[str], None] = print) -> dict:
  """Runs the audit and writes ``out_dir/report.json`` and ``out_dir/report.md``.

  If a section fails after the data were prepared, a report with ``"status": "partial"``, the
  error message and the rows computed so far is written, then the error is re-raised; if the
  data cannot be prepared, nothing is written.

  Args:
    dataset: the loaded data (with or without a predefined test split).
    config: hyper-parameters.
    out_dir: output folder (created when missing).
    progress: show progress bars.
    echo: where status lines and the final table go.

  Returns:
    The report dict (see :mod:`jaxrec.report`).

  Raises:
    ValueError: bad data (empty, k larger than the catalogue, ids out of range, ...).
  """
  train, test, split_desc = prepare_split(dataset, config)
  stats = characteristics(concatenate([_strip(train), _strip(test)]))
  dataset_section = {
      "name": dataset.name, **stats, "split": split_desc, "train_interactions": len(train),
      "test_interactions": len(test), "notes": list(dataset.notes)}
  config_section = {"model": "bpr-mf", **dataclasses.asdict(config), "ks": list(config.ks)}
  train_idx = index_interactions(train)
  test_idx = index_interactions(test)
  _check_ks(config, train_idx)
  echo(f"dataset {dataset.name!r}: {stats['users']} users, {stats['items']} items, "
       f"{len(train)} train / {len(test)} test interactions ({split_desc})")
  rows: list[dict] = []
  try:
    rows += clean_section(train_idx, test_idx, config, progress=progress, echo=echo)
  except BaseException as e:
    report = build_report(dataset=dataset_section, config=config_section, rows=rows,
                          status="partial", error=f"{type(e).__name__}: {e}")
    json_path, _ = write_report(out_dir, report)
    echo(f"audit failed; partial report written to {json_path}")
    raise
  report = build_report(dataset=dataset_section, config=config_section, rows=rows)
  json_path, md_path = write_report(out_dir, report)
  with open(md_path, encoding="utf-8") as f:
    echo(f.read())
  echo(f"report written to {json_path} and {md_path}")
  return report


def _check_ks(config: AuditConfig, train: PositiveIndex) -> None:
  too_big = [k for k in config.ks if k > train.num_items]
  if too_big:
    raise ValueError(f"k={too_big[0]} is larger than the catalogue (num_items={train.num_items})")


def _strip(inter):
  # characteristics of train+test: timestamps are not needed and may be absent in one part
  return inter.replace(timestamps=None)
