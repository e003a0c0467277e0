"""The audit pipeline: split, train, evaluate, write one tidy report.

Sections are generators of tidy rows, so a failure keeps the rows already produced: the clean
model (``config.model`` and a most-popular baseline), then the attack and defense sections, then
(with item images) the content section.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import time
from typing import Any, Callable, Iterator, Mapping, Sequence

import jax
import numpy as np

from jaxrec import metrics, models, training
from jaxrec.audit._attack_section import attack_section, preflight_attacks
from jaxrec.audit._config import (_CONTENT_OWN, IMPLICIT_DEFAULT_ATTACKS, AuditConfig,
                                  ItemContent, item_content, prepare_split)
from jaxrec.audit._content_section import ContentSettings, check_image_size, content_section
from jaxrec.audit._defense_benchmark import defense_benchmark
from jaxrec.audit._defense_section import apr_section
from jaxrec.audit._output import check_out_dir, save_report
from jaxrec.audit._registry import model_defaults
from jaxrec.audit._summary import Condition, key_table, summarize
from jaxrec.data import (Dataset, ItemImages, PositiveIndex, characteristics, concatenate,
                         deduplicate, index_interactions)
from jaxrec.report import build_report, make_row, rows_from_evaluation, to_markdown, versions
from jaxrec.report._provenance import (attach_provenance, finish_provenance, start_provenance,
                                       timed)

__all__ = ["TrainingDiverged", "clean_section", "run_audit", "train_victim"]


class TrainingDiverged(FloatingPointError):
  """Training produced a non-finite loss or parameters (learning rate too large?)."""


def train_victim(train: PositiveIndex, config: AuditConfig, *, progress: bool = False):
  """Trains ``config.model`` with its recipe (the same recipe and key,
  ``jax.random.key(config.seed)``, as the poisoned retrainings of the attack section).

  Returns:
    ``(params, curve)``: the model's parameters and the per-epoch mean loss (empty for the
    closed-form models, whose ``init`` solves them).

  Raises:
    TrainingDiverged: the loss or the parameters became NaN or infinite.
    ValueError: data BPR cannot sample from (see :func:`jaxrec.data.check_sampleable`).

  Source:
    the victim's own (:func:`jaxrec.training.model_defaults`).
  """
  victim = config.victim()
  state, curve = training.train(victim, training.init_state(victim, train,
                                                            jax.random.key(config.seed)),
                                train, progress=victim.name if progress else False)
  finite = all(bool(np.all(np.isfinite(leaf))) for leaf in jax.tree.leaves(state.params))
  if not finite or not np.all(np.isfinite(curve)):
    bad = np.flatnonzero(~np.isfinite(curve))
    when = f" from epoch {int(bad[0]) + 1}" if bad.size else ""
    raise TrainingDiverged(
        f"{victim.name} training diverged: non-finite loss or parameters{when} (optimizer "
        f"{config.optimizer}, lr {config.lr}, reg {config.reg}); lower the learning rate")
  return state.params, curve


def clean_section(train: PositiveIndex, test: PositiveIndex, config: AuditConfig, *,
                  progress: bool = False, echo: Callable[[str], None] = print,
                  state: dict | None = None) -> Iterator[dict]:
  """Accuracy and beyond-accuracy of the clean model (``config.model``) and of the most-popular
  baseline.

  Yields:
    Tidy rows with ``attack="none"``, ``defense="none"``, models ``"most-pop"`` (first: it needs
    no training) and ``config.model``, plus the final training loss as metric ``"train_loss"``
    (trainable models). When ``state`` is a dict, the trained parameters and the evaluation are
    stored in it (``"params"``, ``"evaluation"``) for later sections.
  """
  evaluate = functools.partial(metrics.evaluate, train=train, test=test, ks=config.ks,
                               chunk_size=config.chunk_size)
  popular = models.popularity()
  yield from rows_from_evaluation(evaluate(popular, popular.init(None, train)),
                                  model=popular.name)
  t0 = time.perf_counter()
  params, curve = train_victim(train, config, progress=progress)
  how = ("closed form" if model_defaults(config.model).epochs == 0
         else f"{config.epochs} epochs" + (" (untrained: evaluated at its initialisation)"
                                            if config.epochs == 0 else ""))
  echo(f"trained {config.model}: {how} in {time.perf_counter() - t0:.1f} s")
  if len(curve):
    yield make_row(model=config.model, metric="train_loss", value=float(curve[-1]))
  evaluation = evaluate(config.victim().model, params)
  if state is not None:
    state.update(params=params, evaluation=evaluation)
  yield from rows_from_evaluation(evaluation, model=config.model)


def run_audit(dataset: Dataset, config: AuditConfig, out_dir: str | os.PathLike, *,
              progress: bool = True, echo: Callable[[str], None] = print,
              fail_on: Sequence[Condition] = (), verbose: bool = False,
              overwrite: bool = False, provenance: Mapping[str, Any] | None = None,
              images: ItemImages | None = None, categories: Any = None,
              category_names: Sequence[str] | None = None) -> dict:
  """Runs the audit and writes ``out_dir/report.json`` and ``out_dir/report.md``.

  Everything that can be checked before training is checked first (and then nothing is
  written): the threshold and split, ids, ``k`` against the catalogue, a test user to evaluate,
  users with every item (BPR cannot sample a negative for them), and that ``out_dir`` can be
  written. If a section fails later (e.g. training diverges), a report with
  ``"status": "partial"``, the error and the rows computed so far is written, and the error is
  re-raised.

  Results are never destroyed (:func:`jaxrec.audit._output.save_report`): a folder that holds a
  complete report is refused before training unless ``overwrite``; a partial report never
  replaces a complete one (it goes to ``report.partial.json`` beside it); a complete report
  replaces the previous run's files (``report.*``, ``apr.png``, ``content.png``, what its
  ``provenance["outputs"]`` names) and no others; when ``out_dir`` cannot be written at the end,
  the report goes to a new folder, the tables are printed, and an ``OSError`` saying where the
  results are is raised.
  The report records its ``provenance`` (:mod:`jaxrec.report._provenance`): ``provenance``
  given here (the command line, the inputs), start time and duration of the run and of each
  section (``clean``, ``attack``, ``defense``, ``defense_benchmark``, ``content``), the device,
  and the files written.

  With ``images`` and ``categories`` the content section runs last
  (:mod:`jaxrec.audit._content_section`, settings :meth:`AuditConfig.content_settings`): VBPR on
  the features of a CNN trained on the item categories, attacked through the item images at
  ``config.content_eps`` under ``config.content_defenses``; its rows have
  ``surface="content"``, and ``out_dir/content.png`` shows clean and perturbed images of the
  first pushed items. The images and categories are checked before training
  (:func:`jaxrec.audit._config.item_content`); items without an image are kept and counted. When
  fewer long-tail items with an image can be pushed than ``num_push_items`` and
  ``config.content_options`` does not set it, all of them are pushed, with a note. The settings
  used are recorded in the report's ``config["content_options"]``.

  Args:
    dataset: the loaded data (with or without a predefined test split).
    config: hyper-parameters.
    out_dir: output folder (created when missing).
    progress: show progress bars (only on a terminal).
    echo: where status lines, the summary and the key tables go.
    fail_on: conditions on the verdict's quantities (:func:`jaxrec.audit.parse_condition`);
      those that hold are listed in the report's ``verdict["failed"]``.
    verbose: print every table (all but the per-target rows), not only the key tables.
    overwrite: replace a complete report in ``out_dir``.
    provenance: extra provenance to record, e.g. ``{"argv": [...], "inputs":
      describe_inputs(...)}``.
    images: one image per item (:func:`jaxrec.data.load_image_folder`), for the content section.
    categories: with ``images``: ``(I, C)`` multi-hot categories
      (:func:`jaxrec.data.read_categories`; single-label when every item with an image has
      exactly one) or ``(I,)`` integer categories.
    category_names: the categories' names, for the report.

  Returns:
    The report dict (see :mod:`jaxrec.report`), with the optional sections ``summary`` (the
    verdict, at most 40 lines, as printed), ``warnings`` and ``verdict`` (``{"fail_on": [...],
    "failed": [...]}``, conditions as text).

  Raises:
    ValueError: bad data (empty, k larger than the catalogue, ids out of range, a user with
      every item, no test user, images or categories that do not fit the catalogue, ...).
    FileExistsError: ``out_dir`` holds a complete report and ``overwrite`` is false (before
      training).
    OSError: ``out_dir`` cannot be written (before training, or at the end, after printing the
      results; the message says where they went).
    TrainingDiverged: non-finite loss or parameters (after writing a partial report).
  """
  check_out_dir(out_dir, overwrite=overwrite)
  versions()  # read before any section, so that a report after an interrupt needs no JAX call
  prov = start_provenance(provenance)
  train, test, split_desc, split_notes = prepare_split(dataset, config)
  everything, _ = deduplicate(concatenate([train.replace(timestamps=None),
                                           test.replace(timestamps=None)]))
  stats = characteristics(everything)
  notes = list(dataset.notes) + split_notes
  if config.threshold is None and config.attacks == IMPLICIT_DEFAULT_ATTACKS:
    notes.append("the default attacks omit average: the victim counts every interaction, so "
                 "average would inject the same interactions as random (it differs only in "
                 "ratings); pass a threshold to make ratings matter")
  if config.threshold is None and {"random", "average"} <= set(config.attacks):
    notes.append("the victim counts every interaction, so the random and average attacks "
                 "inject the same interactions (they differ only in ratings, and draw the same "
                 "fillers); pass a threshold to make ratings matter")
  dataset_section = {
      "name": dataset.name, **stats, "split": split_desc, "train_interactions": len(train),
      "test_interactions": len(test), "notes": notes}
  if "U" in (np.asarray(dataset.user_ids).dtype.kind, np.asarray(dataset.item_ids).dtype.kind):
    # string ids (names, ASINs): the rows name them; the maps give each dense id's raw id
    dataset_section["id_maps"] = {"users": np.asarray(dataset.user_ids).tolist(),
                                  "items": np.asarray(dataset.item_ids).tolist()}
  config_section = {k: list(v) if isinstance(v, tuple) else v
                    for k, v in dataclasses.asdict(config).items()}
  if dataset.test is not None:
    config_section.update(split="predefined", test_ratio=None)
  train_idx = index_interactions(train)
  test_idx = metrics.relevant_index(test)
  _preflight(train_idx, test_idx, config, dataset)
  content, settings = None, None
  if (images is None) != (categories is None):
    raise ValueError("the content section needs both images and categories")
  if images is not None:
    content = item_content(images, categories, num_items=train_idx.num_items,
                           item_ids=dataset.item_ids, category_names=category_names)
    settings = _content_settings(config, content, train_idx, notes)
    check_image_size(content.images.shape[1:3], settings)
    h, w, c = content.images.shape[1:]
    dataset_section["images"] = {
        "summary": content.summary, "with_image": int(content.has_image.sum()),
        "height": int(h), "width": int(w), "channels": int(c),
        "categories": (None if content.category_names is None
                       else list(content.category_names)),
        "labels": "multi-hot" if content.multi_label else "single"}
    config_section["content_options"] = {
        f.name: list(v) if isinstance(v, tuple) else v
        for f in dataclasses.fields(ContentSettings) if f.name not in _CONTENT_OWN
        for v in [getattr(settings, f.name)]}
  echo(f"dataset {dataset.name!r}: {stats['users']} users, {stats['items']} items, "
       f"{len(train)} train / {len(test)} test interactions ({split_desc})")
  if content is not None:
    num = (content.labels.shape[1] if content.multi_label
           else int(content.labels[content.has_image].max()) + 1)
    if content.category_names is not None:
      num = len(content.category_names)
    echo(f"images: {content.summary}; {num} categories"
         + (" (multi-label: the CNN predicts genres)" if content.multi_label else ""))
  for note in notes:
    echo(f"note: {note}")
  rows: list[dict] = []
  try:
    clean: dict = {}
    with timed(prov, "clean"):
      rows.extend(clean_section(train_idx, test_idx, config, progress=progress, echo=echo,
                                state=clean))
    if config.attacks:
      with timed(prov, "attack"):
        rows.extend(attack_section(dataset, train, test, train_idx, test_idx, clean["params"],
                                   clean["evaluation"], config, echo=echo, progress=progress))
    if "apr" in config.defense:
      with timed(prov, "defense"):
        rows.extend(apr_section(train_idx, test_idx, config, echo=echo, progress=progress))
    if config.attacks and config.defense != ("none",):
      with timed(prov, "defense_benchmark"):
        rows.extend(defense_benchmark(dataset, train, test, train_idx, test_idx, config,
                                      echo=echo, progress=progress))
    artifacts: dict = {}
    if content is not None:
      with timed(prov, "content"):
        rows.extend(content_section(
            train=train_idx, test=test_idx, images=content.images, labels=content.labels,
            has_image=content.has_image, settings=settings, progress=progress, echo=echo,
            artifacts=artifacts, category_names=content.category_names,
            dataset=dataset.name))
    report = _with_verdict(build_report(dataset=dataset_section, config=config_section,
                                        rows=rows), config, fail_on)
  except BaseException as e:
    report = _with_verdict(build_report(dataset=dataset_section, config=config_section,
                                        rows=rows, status="partial",
                                        error=f"{type(e).__name__}: {e}"), config, fail_on)
    saved = save_report(out_dir, attach_provenance(report, finish_provenance(prov)),
                        overwrite=overwrite, echo=echo)
    where = saved.json_path or "the terminal (above)"
    kept = f"; the complete report {saved.kept} of an earlier run is kept" if saved.kept else ""
    echo(f"audit failed; partial report ({len(rows)} rows) written to {where}{kept}")
    if saved.error is not None:
      echo(f"note: {saved.error}")
    raise
  files = {}
  if "apr" in config.defense:
    from jaxrec.report import plot_apr_grid  # pylint: disable=import-outside-toplevel
    files["apr.png"] = lambda path: plot_apr_grid(rows, path, k=config.ks[0])
  if artifacts.get("figure_images"):
    files["content.png"] = functools.partial(_content_figure, artifacts["figure_images"],
                                             item_ids=dataset.item_ids)
  saved = save_report(out_dir, attach_provenance(report, finish_provenance(prov)),
                      overwrite=overwrite, files=files, echo=echo)
  if saved.json_path is None:  # nothing could be written; the report was printed
    raise saved.error
  report, json_path, md_path = saved.report, saved.json_path, saved.md_path
  for note in saved.notes:
    echo(f"note: {note}")
  if saved.removed:
    echo(f"replaced the previous report in {json_path.parent} (removed its "
         f"{', '.join(saved.removed)})")
  if "apr.png" in report["provenance"]["outputs"]:
    echo(f"APR figure written to {json_path.parent / 'apr.png'}")
  if "content.png" in report["provenance"]["outputs"]:
    echo(f"content figure (clean, perturbed, amplified difference) written to "
         f"{json_path.parent / 'content.png'}")
  echo("")
  for line in report["summary"]:
    echo(line)
  echo("")
  if verbose:
    shown = dict(report, rows=[r for r in rows if r.get("target") is None], summary=[],
                 warnings=[])
    echo(to_markdown(shown, legend=False))
    hidden = len(rows) - len(shown["rows"])
    more = f" ({hidden} per-target rows are in the files only)" if hidden else ""
  else:
    echo("\n".join(key_table(rows, model=config.model, ks=config.ks)))
    more = " (all tables, per target, with a legend)"
  echo("")
  echo(f"report written to {json_path} and {md_path}{more}")
  if saved.error is not None:
    raise saved.error
  return report


def _content_settings(config: AuditConfig, content: ItemContent, train: PositiveIndex,
                      notes: list[str]) -> ContentSettings:
  """The content section's settings for this catalogue: when fewer items can be pushed than
  ``num_push_items`` and ``config.content_options`` does not set it, all of them (with a note).

  The items score-push may push are the section's: long-tail items (outside the 20% most
  popular, :func:`jaxrec.metrics.long_tail_items`) with an image and a training interaction.

  Raises:
    ValueError: no such item, or fewer than an explicit ``num_push_items``.
  """
  settings = config.content_settings()
  degrees = np.asarray(train.item_degrees())
  tail = np.asarray(metrics.long_tail_items(degrees), bool)
  available = int(np.sum(tail & content.has_image & (degrees > 0)))
  if available < settings.num_push_items:
    what = (f"{available} long-tail items (outside the 20% most popular) have an image and a "
            "training interaction")
    if available == 0 or "num_push_items" in config.content_options:
      raise ValueError(f"only {what}; the content section's score-push attack needs "
                       f"{settings.num_push_items}")
    notes.append(f"only {what}: the content section's score-push attack pushes all "
                 f"{available} instead of {settings.num_push_items}")
    settings = dataclasses.replace(settings, num_push_items=available)
  return settings


def _content_figure(figure: dict, path, *, item_ids) -> None:
  from jaxrec.report import perturbation_figure  # pylint: disable=import-outside-toplevel
  eps, attack = figure["eps"], figure["attack"]
  titles = [f"item {np.asarray(item_ids)[i].item()}" for i in figure["items"]]
  perturbation_figure(figure["clean"], figure["perturbed"], path, titles=titles,
                      suptitle=f"{attack} at {eps:g}/255 (defense {figure.get('defense', 'none')})")


def _with_verdict(report: dict, config: AuditConfig, fail_on: Sequence[Condition]) -> dict:
  """Adds the summary, warnings and ``--fail-on`` verdict computed from the report's rows."""
  s = summarize(report["rows"], model=config.model, dataset=report["dataset"]["name"],
                ks=config.ks, epochs=config.epochs, attacks=config.attacks,
                threshold=config.threshold, fail_on=fail_on)
  report["summary"] = s.lines
  report["warnings"] = s.warnings
  report["verdict"] = {"fail_on": [str(c) for c in fail_on],
                       "failed": [str(c) for c, _ in s.failed]}
  return report


def _preflight(train: PositiveIndex, test: PositiveIndex, config: AuditConfig,
               dataset: Dataset) -> None:
  too_big = [k for k in config.ks if k > train.num_items]
  if too_big:
    raise ValueError(f"k={too_big[0]} is larger than the catalogue (num_items={train.num_items})")
  if int(np.sum(np.asarray(test.degrees()) > 0)) == 0:
    raise ValueError("no user has a test item: nothing to evaluate")
  if int(train.num_valid) == 0:
    raise ValueError("the training split is empty")
  if config.attacks:
    preflight_attacks(dataset, train, config)
  full = np.flatnonzero(np.asarray(train.degrees()) >= train.num_items)
  if full.size:
    raise ValueError(
        f"user {dataset.user_ids[full[0]]} (raw id) interacted with all {train.num_items} items "
        "in training: BPR has no negative item to sample for them; remove such users")
