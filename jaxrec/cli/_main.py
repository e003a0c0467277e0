"""The ``jaxrec`` command line: ``jaxrec audit``, ``jaxrec characteristics``, ``jaxrec grid``
and ``jaxrec stats``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Sequence

DEFAULT_DATASET = "movietweetings-10core"
FORMATS = ("ml-100k", "ml-1m", "delimited", "parquet")
SEPARATORS = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|",
              "space": " "}
_FORMAT_LAYOUT = {"ml-100k": "user<TAB>item<TAB>rating<TAB>timestamp (u.data)",
                  "ml-1m": "user::item::rating::timestamp (ratings.dat)"}


def _add_data_args(p: argparse.ArgumentParser) -> None:
  g = p.add_argument_group("data (default: the bundled MovieTweetings 10-core set, offline)")
  g.add_argument("--dataset", metavar="NAME",
                 help="a registered dataset: movietweetings-10core (bundled), ml-100k, ml-1m "
                      "(downloaded once into the user cache; with --data, read that local copy "
                      "instead)")
  g.add_argument("--data", metavar="FILE", help="a local interaction file (see --format), or "
                 "the local copy of a --dataset")
  g.add_argument("--format", choices=FORMATS, default="delimited",
                 help="format of --data: ml-100k (u.data), ml-1m (ratings.dat), a delimited "
                      "text file described by --sep/--columns/--header (default), or parquet "
                      "(columns by name: --columns, or guessed from common names; needs "
                      "pyarrow: pip install 'jaxrec[parquet]')")
  g.add_argument("--sep", default="\t", type=_separator,
                 help="field separator of a delimited file: a string, or tab (also '\\t'), "
                      "comma, semicolon, pipe, space (default TAB)")
  g.add_argument("--columns", default=None, metavar="U,I[,R[,T]]",
                 help="0-based column indices (or names with --header, and for parquet) of "
                      "user, item, and optionally rating and timestamp; '-' skips one (default: "
                      "with --header or parquet, columns with common names such as userId, "
                      "user_id, item_id, movieId, asin, rating, timestamp; else user, item, "
                      "rating, timestamp in the first 2 to 4 columns)")
  g.add_argument("--header", action="store_true", help="the delimited file has a header line")
  g.add_argument("--ids", choices=("auto", "int", "str"), default="auto",
                 help="user and item ids of a delimited, parquet or --train/--test file: auto "
                      "(default: integers when the first row's id is one, else strings such as "
                      "ASINs), int, or str (keeps numeric-looking ids such as ISBN-style ASINs "
                      "as text)")
  g.add_argument("--train", metavar="FILE", help="training file of a predefined split "
                 "(user<TAB>item<TAB>score<TAB>timestamp)")
  g.add_argument("--test", metavar="FILE", help="test file of a predefined split")
  g.add_argument("--threshold", type=float, default=None,
                 help="keep only ratings >= THRESHOLD as positive feedback (drop the rest)")


def _add_cache_arg(p: argparse.ArgumentParser) -> None:
  p.add_argument("--no-compile-cache", action="store_true",
                 help="do not use JAX's persistent compilation cache (default: compiled programs "
                      "are kept in $XDG_CACHE_HOME/jaxrec/xla or ~/.cache/jaxrec/xla, or in "
                      "$JAX_COMPILATION_CACHE_DIR when set, so the next run skips compiling "
                      "them; JAXREC_COMPILE_CACHE=0 also turns it off, =DIR moves it)")


def _enable_cache(args) -> None:
  """Turns on the persistent compilation cache (:func:`jaxrec.enable_compilation_cache`) unless
  ``--no-compile-cache``; a folder that cannot be created leaves the cache off, with a note on
  stderr (the cache only saves time)."""
  if getattr(args, "no_compile_cache", False):
    return
  from jaxrec._cache import enable_compilation_cache  # pylint: disable=import-outside-toplevel
  try:
    enable_compilation_cache()
  except OSError as e:
    print(f"jaxrec {args.command}: note: compilation cache off ({e})", file=sys.stderr)


def _add_image_args(p: argparse.ArgumentParser):
  """The item-content data options (recorded with the data options; all three or none);
  returns their group."""
  g = p.add_argument_group(
      "item images: the content surface (VBPR on the features of a CNN trained on the item "
      "categories, attacked through the pixels; docs/audit.md 'Item images'). --images, "
      "--image-map and --categories go together")
  g.add_argument("--images", metavar="DIR",
                 help="folder of item image files (any format Pillow reads; converted to RGB by "
                      "the rule of jaxrec.data.load_image_folder)")
  g.add_argument("--image-map", metavar="FILE",
                 help="which file shows which item: item_id,filename per line (comma or tab; an "
                      "optional header), raw item ids as in the interaction data, file names "
                      "relative to --images; an empty file name means no image (the item keeps "
                      "the mean image and is counted, never dropped)")
  g.add_argument("--categories", metavar="FILE",
                 help="item categories: item_id,category per line, several as cat1|cat2 "
                      "(raw item ids); every item with an image needs one. One category per "
                      "item: the CNN classifies; several: it predicts genres (multi-label)")
  return g


def _load(args):
  from jaxrec import data  # pylint: disable=import-outside-toplevel
  if args.train or args.test:
    if not (args.train and args.test):
      raise ValueError("--train and --test go together")
    if args.dataset or args.data:
      raise ValueError("give either --train/--test or --dataset/--data, not both")
    return data.load_tsv_split(args.train, args.test, ids=args.ids)
  if args.dataset:
    return data.load_dataset(args.dataset, path=args.data)
  if args.data:
    if args.format in _FORMAT_LAYOUT:
      load = data.load_movielens_100k if args.format == "ml-100k" else data.load_movielens_1m
      try:
        return load(args.data)
      except data.DataFormatError as e:
        raise data.DataFormatError(
            f"{e}\n(--format {args.format} expects {_FORMAT_LAYOUT[args.format]}; for another "
            "layout use --format delimited with --sep/--columns/--header)") from None
    if args.format == "parquet":
      return _load_parquet(args)
    return _load_delimited(args)
  return data.load_dataset(DEFAULT_DATASET)


def _separator(text: str) -> str:
  """``--sep``: a literal separator or a name (tab, '\\t', comma, semicolon, pipe, space)."""
  if text == "":
    raise argparse.ArgumentTypeError("the separator is empty")
  return SEPARATORS.get(text.lower() if len(text) > 2 else text, text)


def _load_parquet(args):
  from jaxrec import data  # pylint: disable=import-outside-toplevel
  if args.columns is None:
    cols = None
  else:
    cols = [c.strip() for c in args.columns.split(",")]
    cols += ["-"] * (4 - len(cols))
  try:
    return data.load_parquet(args.data, columns=None if cols is None else
                             [None if c == "-" else c for c in cols[:4]], ids=args.ids)
  except ImportError as e:
    raise ValueError(str(e)) from None


def _load_delimited(args):
  from jaxrec import data  # pylint: disable=import-outside-toplevel
  first = _first_line(args.data)
  if args.sep not in first:
    seen = [name for name, sep in (("tab", "\t"), ("comma", ","), ("semicolon", ";"),
                                   ("pipe", "|"), ("'::'", "::")) if sep in first]
    looks = f" (it looks {seen[0]}-separated: --sep {seen[0]})" if seen else ""
    raise ValueError(f"{args.data}:1: the separator {args.sep!r} does not occur in the first line "
                     f"{first[:60]!r}{looks}; pass --sep (e.g. --sep , for CSV)")
  if args.columns is None:
    n = len(first.split(args.sep))
    if args.header:
      names = [c.strip() for c in first.split(args.sep)]
      guessed = data.guess_columns(names)
      cols = ([c or "-" for c in guessed] if guessed is not None
              else [str(c) for c in range(min(n, 4))])
    else:
      cols = [str(c) for c in range(min(n, 4))]
  else:
    cols = [c.strip() for c in args.columns.split(",")]
  if len(cols) < 2 or len(cols) > 4 or "-" in cols[:2]:
    raise ValueError(f"--columns needs user and item columns (then optionally rating, "
                     f"timestamp), got {args.columns!r}")
  cols += ["-"] * (4 - len(cols))

  def conv(c):
    if c == "-":
      return None
    if c.isdigit():
      return int(c)
    if not args.header:
      raise ValueError(f"column {c!r} is a name: names need --header (or give 0-based indices)")
    return c

  picked = [c for c in cols if c != "-"]
  if len(set(picked)) != len(picked):
    raise ValueError(f"--columns names a column twice: {args.columns!r}")
  return data.load_delimited(
      args.data, sep=args.sep, user_col=conv(cols[0]), item_col=conv(cols[1]),
      rating_col=conv(cols[2]), timestamp_col=conv(cols[3]), header=args.header, ids=args.ids)


def _first_line(path: str) -> str:
  import gzip  # pylint: disable=import-outside-toplevel
  opener = gzip.open if str(path).endswith(".gz") else open
  if os.path.isdir(path):
    raise IsADirectoryError(f"--data {path} is a directory, not a data file")
  with opener(path, "rt", encoding="utf-8-sig", errors="replace") as f:  # -sig: drop a BOM
    line = f.readline()
  if not line:
    raise ValueError(f"{path} is empty")
  if line.startswith("PAR1"):  # Parquet's magic number
    raise ValueError(f"{path} is a Parquet file, not delimited text: pass --format parquet")
  return line.rstrip("\r\n")


def _budget(text: str) -> float | int:
  """``0.05`` -> a fraction of the real users; ``10`` -> a count of fake users."""
  try:
    value = float(text)
  except ValueError:
    raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
  if value >= 1 and value == int(value) and "." not in text:
    return int(value)
  return value


def _recipe_help() -> str:
  from jaxrec.audit import MODELS, model_defaults  # pylint: disable=import-outside-toplevel
  parts = []
  for name in MODELS:
    r = model_defaults(name)
    if r.epochs:
      parts.append(f"{name}: dim {r.dim}, {r.epochs} epochs, {r.optimizer} lr {r.lr}, reg {r.reg}, "
                   f"batch {r.batch_size}")
    else:
      parts.append(f"{name}: closed form" + (f", reg {r.reg}" if r.reg is not None else ""))
  return "; ".join(parts)


def _parser() -> argparse.ArgumentParser:
  # pylint: disable=import-outside-toplevel
  from jaxrec.audit import AuditConfig
  from jaxrec.audit._config import (DEFAULT_ATTACKS, DEFENSES, IMPLICIT_DEFAULT_ATTACKS, SPLITS,
                                    TARGET_STRATEGIES)
  from jaxrec.audit._content_section import CONTENT_DEFENSES
  from jaxrec.audit._registry import (HEURISTIC_ATTACKS, LEARNED_ATTACKS, MODELS, NUKE_ATTACKS,
                                      OPTIMIZERS)
  from jaxrec.audit._summary import QUANTITIES
  from jaxrec.robustness import StudyConfig
  # pylint: enable=import-outside-toplevel
  d = AuditConfig()
  push = [a for a in HEURISTIC_ATTACKS if a not in NUKE_ATTACKS]
  import jaxrec  # pylint: disable=import-outside-toplevel
  p = argparse.ArgumentParser(prog="jaxrec", description=__doc__)
  p.add_argument("--version", action="version", version=f"jaxrec {jaxrec.__version__}")
  sub = p.add_subparsers(dest="command", required=True)

  a = sub.add_parser("audit", help="train a recommender and write a robustness report",
                     description="Train a recommender (default BPR-MF), evaluate it (accuracy "
                                 "and beyond-accuracy, next "
                                 "to a most-popular baseline), attack it with fake profiles "
                                 "(target exposure, side effects, detectability), with --images "
                                 "also through the item images (the content surface), and write "
                                 "DIR/report.json, DIR/report.md and a summary table to the "
                                 "terminal.")
  _add_data_args(a)
  _add_cache_arg(a)
  content = _add_image_args(a)
  content.add_argument(
      "--image-size", type=int, nargs=2, default=None, metavar=("H", "W"),
      help="resize every image to H x W pixels (bilinear), the CNN's input resolution (default: "
           "the images' own size when they all share one, e.g. 28 x 28; images of mixed sizes "
           "need it; 64 64 is a good choice for photos or posters)")
  content.add_argument(
      "--content-eps", type=float, nargs="+", default=None, metavar="EPS",
      help="pixel budgets of the image attacks in /255 steps (8 = every pixel moves by at most "
           "8/255, L-infinity), each in [0, 255] (default "
           f"{' '.join(f'{e:g}' for e in d.content_eps)})")
  content.add_argument(
      "--content-defenses", nargs="+", default=None, metavar="NAME",
      choices=CONTENT_DEFENSES,
      help="content defenses to compare: none (plain VBPR), amr (adversarial training of VBPR "
           "on the features), robust-extractor (a PGD-trained CNN) (default: all three)")
  m = a.add_argument_group(
      "model and training (defaults: the model's own recipe, see docs/models.md; "
      f"{_recipe_help()})")
  m.add_argument("--model", choices=MODELS, default=d.model,
                 help=f"the victim model (default {d.model})")
  m.add_argument("--dim", type=int, default=None,
                 help="factors (NeuMF: GMF size d, MLP tower (2d, d, d/2))")
  m.add_argument("--epochs", type=int, default=None, help="training epochs")
  m.add_argument("--lr", type=float, default=None, help="learning rate")
  m.add_argument("--reg", type=float, default=None,
                 help="L2 coefficient (EASE: its ridge lambda)")
  m.add_argument("--batch-size", type=int, default=None, help="BPR triples per step")
  m.add_argument("--optimizer", choices=OPTIMIZERS, default=None)
  m.add_argument("--seed", type=int, default=d.seed, help="seed of init, sampling and split")
  t = a.add_argument_group("fake-profile attacks (retrain the model on poisoned data, measure, "
                           "detect)")
  t.add_argument("--attacks", nargs="+", default=None, metavar="NAME",
                 choices=[*HEURISTIC_ATTACKS, *LEARNED_ATTACKS, "none"],
                 help=f"attacks to run, or 'none': {' '.join(push)} (push) "
                      f"{' '.join(NUKE_ATTACKS)} (nuke) {' '.join(LEARNED_ATTACKS)} (push, "
                      "profiles learned by gradients through a surrogate's training; "
                      f"MovieLens-100K-size data) (default: {' '.join(DEFAULT_ATTACKS)} with "
                      f"--threshold, {' '.join(IMPLICIT_DEFAULT_ATTACKS)} without: average "
                      "injects the same interactions as random when every interaction counts)")
  t.add_argument("--budgets", nargs="+", type=_budget, default=list(d.budgets), metavar="B",
                 help="attack sizes: fractions of the real users (0.05 = 5%%) or counts of fake "
                      "users (default 0.01 0.05)")
  t.add_argument("--targets", type=int, default=d.num_targets, metavar="N",
                 help=f"number of target items, each attacked separately (default "
                      f"{d.num_targets})")
  t.add_argument("--target-strategy", choices=TARGET_STRATEGIES,
                 default=d.target_strategy, help="how targets are drawn (default unpopular: the "
                 "long tail outside the 20%% most popular items)")
  t.add_argument("--target-ids", nargs="+", default=None, metavar="ID",
                 type=lambda t: int(t) if t.lstrip("-").isdigit() and str(int(t)) == t else t,
                 help="raw item ids to attack instead of drawn targets (integers, or text such "
                      "as ASINs for a file with string item ids)")
  t.add_argument("--filler-size", type=int, default=None,
                 help="non-target items per fake profile (default: mean real profile length)")
  t.add_argument("--num-selected", type=int, default=d.num_selected,
                 help="popular (bandwagon) or disliked (reverse bandwagon) items per profile, "
                      f"part of the filler budget (default {d.num_selected})")
  f = a.add_argument_group("defences: the defense benchmark, and APR's side effects")
  f.add_argument("--defense", nargs="+", choices=DEFENSES, default=list(d.defense),
                 metavar="NAME",
                 help="defenses to compare with no defense against every attack (the targets "
                      "pushed together, --num-seeds seeds): apr, vat, pamacf (adversarial "
                      "training of BPR-MF), sharpcf (trajectory loss), detect (detect the fake "
                      "users, remove, retrain), pore (certified bagged ensemble); apr also adds its side-effects section: BPR "
                      "pre-training, then APR over --apr-eps x --apr-lambda next to BPR, with "
                      "robustness to FGSM/PGD and DIR/apr.png (default none)")
  f.add_argument("--num-seeds", type=int, default=d.num_seeds, metavar="N",
                 help=f"seeds of the defense benchmark (default {d.num_seeds})")
  f.add_argument("--apr-eps", type=float, nargs="+", default=list(d.apr_eps), metavar="EPS",
                 help="APR radii per embedding row (default 0.01 0.1 1.0)")
  f.add_argument("--apr-lambda", type=float, nargs="+", default=list(d.apr_lambda),
                 metavar="L", help="APR adversarial weights (default 0.01 0.1 1.0)")
  f.add_argument("--apr-pretrain-epochs", type=int, default=None,
                 help="BPR epochs before APR (default: half of --epochs)")
  f.add_argument("--robustness-eps", type=float, nargs="+", default=list(d.robustness_eps),
                 metavar="EPS", help="test-time FGSM/PGD budgets on the factors, per-row L2 "
                 "(default 0.1 0.5 1.0)")
  f.add_argument("--pgd-num-steps", type=int, default=d.pgd_num_steps,
                 help=f"PGD iterations (default {d.pgd_num_steps})")
  e = a.add_argument_group("evaluation and output")
  e.add_argument("--k", type=int, nargs="+", default=list(d.ks), metavar="K",
                 help=f"cut-offs (default {' '.join(map(str, d.ks))})")
  e.add_argument("--split", choices=SPLITS, default=d.split,
                 help="leave-one-out (latest per user) or per-user random hold-out")
  e.add_argument("--test-ratio", type=float, default=d.test_ratio,
                 help=f"held-out share per user for --split ratio (default {d.test_ratio})")
  e.add_argument("--chunk-size", type=int, default=d.chunk_size,
                 help=f"users scored at once (default {d.chunk_size})")
  e.add_argument("--out", default=None, metavar="DIR",
                 help="output folder; one that holds a complete report is refused unless "
                      "--overwrite (default: a new folder ./jaxrec-audit/<date>T<time>/ per run)")
  e.add_argument("--overwrite", action="store_true",
                 help="replace the complete report in --out DIR (and the files of its run); a "
                      "run that fails then writes DIR/report.partial.json and keeps the old one")
  e.add_argument("--config", metavar="REPORT",
                 help="re-run the audit recorded in a report.json (or its folder): same "
                      "settings, same data (checked by sha256); only --out, --overwrite, "
                      "--no-progress, --fail-on and --verbose may be given with it")
  e.add_argument("--no-progress", action="store_true", help="no progress bar")
  v = a.add_argument_group("verdict (the summary printed first and written first in report.md)")
  v.add_argument("--fail-on", nargs="+", action="extend", default=[], metavar="COND",
                 help="conditions NAME OP NUMBER (OP one of > >= < <= ==) on the verdict's "
                      "quantities, e.g. 'target_hr_lift>5' 'ndcg_vs_popularity<1'; exit status "
                      "3 when one holds for any finding (a CI gate). Quantities: "
                      f"{', '.join(QUANTITIES)} (docs/audit.md)")
  v.add_argument("--verbose", action="store_true",
                 help="print every table (default: the summary and the key tables; all tables "
                      "are always in report.md)")

  c = sub.add_parser(
      "characteristics", help="explain robustness by dataset characteristics (regression)",
      description="Sample sub-datasets of the data (varying users, items and density), attack "
                  "each with fake profiles at a fixed relative budget, and regress the attack's "
                  "effect (change of target HR@k; prediction shift) on the sub-datasets' "
                  "characteristics (Deldjoo et al., SIGIR 2020). Writes DIR/report.json, "
                  "DIR/report.md and DIR/characteristics.png. See docs/characteristics.md.")
  _add_data_args(c)
  _add_cache_arg(c)
  sd = StudyConfig()
  cm = c.add_argument_group("victim (trained on each sub-dataset whole; no test split)")
  cm.add_argument("--model", choices=MODELS, default=sd.model,
                  help=f"the victim model (default {sd.model})")
  cm.add_argument("--dim", type=int, default=sd.dim, help=f"factors (default {sd.dim})")
  cm.add_argument("--epochs", type=int, default=sd.epochs,
                  help=f"training epochs (default {sd.epochs})")
  cm.add_argument("--lr", type=float, default=None, help="learning rate (default: the model's)")
  cm.add_argument("--reg", type=float, default=None, help="L2 coefficient (default: the model's)")
  cm.add_argument("--batch-size", type=int, default=None, help="BPR triples per step")
  cm.add_argument("--optimizer", choices=OPTIMIZERS, default=None)
  cs = c.add_argument_group("study")
  cs.add_argument("--samples", type=int, default=sd.num_samples,
                  help=f"sub-datasets (default {sd.num_samples})")
  cs.add_argument("--attacks", nargs="+", default=list(sd.attacks), metavar="NAME",
                  choices=[*push, *LEARNED_ATTACKS],
                  help=f"push attacks, each run on the same sub-datasets: {' '.join(push)} "
                       f"{' '.join(LEARNED_ATTACKS)} (default {' '.join(sd.attacks)})")
  cs.add_argument("--budget", type=_budget, default=sd.budget,
                  help="fake users: a fraction of each sub-dataset's users (default 0.01) or a "
                       "count")
  cs.add_argument("--targets", type=int, default=sd.num_targets, metavar="N",
                  help=f"target items per sub-dataset, attacked together (default "
                       f"{sd.num_targets})")
  cs.add_argument("--k", type=int, default=sd.k, help=f"HR cut-off (default {sd.k})")
  cs.add_argument("--user-fractions", type=float, nargs="+", default=list(sd.user_fractions),
                  metavar="F", help="shares of the users a sub-dataset keeps (default "
                  f"{' '.join(map(str, sd.user_fractions))})")
  cs.add_argument("--item-fractions", type=float, nargs="+", default=list(sd.item_fractions),
                  metavar="F", help="shares of the items (default "
                  f"{' '.join(map(str, sd.item_fractions))})")
  cs.add_argument("--keep", type=float, nargs=2, default=list(sd.keep), metavar=("LOW", "HIGH"),
                  help="range of the share of interactions kept (default "
                  f"{sd.keep[0]} {sd.keep[1]})")
  cs.add_argument("--learned-steps", type=int, default=sd.learned_steps,
                  help=f"outer steps of revadv (default {sd.learned_steps})")
  cs.add_argument("--lanes", type=int, default=None,
                  help="sub-datasets per vmapped program (default: 1 on CPU, a loop; all on GPU)")
  cs.add_argument("--seed", type=int, default=sd.seed, help="seed of sampling, training, attacks")
  cs.add_argument("--out", default="jaxrec-characteristics", metavar="DIR",
                  help="output folder (default ./jaxrec-characteristics)")
  cs.add_argument("--no-progress", action="store_true", help="no progress bar")

  g = sub.add_parser(
      "grid", help="run an experiment grid from a TOML config into a resumable results store",
      description="Run the poisoning grid of a TOML config (jaxrec.grid.PoisonGridConfig: "
                  "attacks x budgets x targets x seeds, docs/grid.md) into DIR: each finished "
                  "cell's rows go to DIR/cells/<cell id>.parquet at once, DIR/report.json and "
                  "report.md at the end. Rerunning with the same DIR resumes (finished cells "
                  "are skipped); a DIR of another config is refused. Read the rows with "
                  "jaxrec.results.load(DIR).")
  g.add_argument("config", metavar="CONFIG", help="the grid's TOML file")
  g.add_argument("--out", required=True, metavar="DIR",
                 help="the results store (created when missing; resumed when it holds this "
                      "config's finished cells)")
  g.add_argument("--no-progress", action="store_true", help="no progress bars")
  g.add_argument("--devices", default="all", metavar="N|all",
                 help="devices on the grid's cells axis (jaxrec.sharding.make_mesh): 'all' "
                      "(default: every device JAX sees, every process's with --coordinator; "
                      "one on a plain CPU) or a number; 1 runs without a mesh. Rows are the "
                      "same on 1 or N devices")
  g.add_argument("--coordinator", default=None, metavar="HOST:PORT",
                 help="several processes (hosts): process 0's address; with --num-processes "
                      "and --process-id (jaxrec.sharding.initialize); process 0 writes DIR")
  g.add_argument("--num-processes", type=int, default=None, metavar="P")
  g.add_argument("--process-id", type=int, default=None, metavar="I")
  _add_cache_arg(g)

  s = sub.add_parser("stats", help="print dataset characteristics",
                     description="Print size, shape, density, Gini of user and item degrees "
                                 "and rating spread (Deldjoo et al., SIGIR 2020).")
  _add_data_args(s)
  _add_cache_arg(s)
  s.add_argument("--json", action="store_true", help="print JSON instead of a table")
  return p


# options that may be given with ``jaxrec audit --config`` (they change no number of the audit)
_WITH_CONFIG = frozenset({"config", "out", "overwrite", "no_progress", "fail_on", "verbose",
                          "no_compile_cache"})


def _audit(args) -> int:
  # pylint: disable=import-outside-toplevel
  from jaxrec.audit import parse_condition, run_audit
  from jaxrec.audit._output import DEFAULT_ROOT, new_run_dir
  from jaxrec.report._provenance import check_same_inputs, describe_inputs
  # pylint: enable=import-outside-toplevel
  recorded = None
  if args.config is not None:
    config, recorded = _rerun(args)
  else:
    config = _audit_config(args)
  fail_on = [parse_condition(c) for c in args.fail_on]
  _check_image_options(args)
  dataset = _load(args)
  content = {}
  if args.images is not None:
    dataset, content = _load_content(args, dataset, config)
  inputs = describe_inputs({name: getattr(args, name) for name in _data_options()},
                           dataset_name=dataset.name)
  provenance = {"argv": getattr(args, "argv", None), "inputs": inputs}
  if recorded is not None:
    check_same_inputs(recorded, inputs)
    provenance["rerun_of"] = str(os.path.abspath(args.config))
  out = args.out if args.out is not None else new_run_dir(DEFAULT_ROOT)
  report = run_audit(dataset, config, out, progress=not args.no_progress, fail_on=fail_on,
                     verbose=args.verbose, overwrite=args.overwrite, provenance=provenance,
                     **content)
  return 3 if report["verdict"]["failed"] else 0


def _data_options() -> list[str]:
  """Names (argparse destinations) of the data options (:func:`_add_data_args`) and of the
  item-content files (:func:`_add_image_args`)."""
  probe = argparse.ArgumentParser(add_help=False)
  _add_data_args(probe)
  _add_image_args(probe)
  return list(vars(probe.parse_args([])))


_IMAGE_FILES = (("images", "--images"), ("image_map", "--image-map"),
                ("categories", "--categories"))
_CONTENT_SETTINGS = (("image_size", "--image-size"), ("content_eps", "--content-eps"),
                     ("content_defenses", "--content-defenses"))


def _check_image_options(args) -> None:
  """``--images``, ``--image-map`` and ``--categories`` go together; the content settings need
  them (checked before anything is read or trained)."""
  given = [flag for dest, flag in _IMAGE_FILES if getattr(args, dest, None)]
  if given and len(given) < len(_IMAGE_FILES):
    missing = [flag for dest, flag in _IMAGE_FILES if not getattr(args, dest, None)]
    raise ValueError(f"{' and '.join(given)} given without {' and '.join(missing)}: the content "
                     "surface needs --images DIR, --image-map FILE and --categories FILE "
                     "together")
  settings = [flag for dest, flag in _CONTENT_SETTINGS if getattr(args, dest, None) is not None]
  if settings and not given:
    raise ValueError(f"{', '.join(settings)} set the content surface, which needs --images, "
                     "--image-map and --categories")


def _load_content(args, dataset, config):
  """Reads the item images and categories of ``--images``/``--image-map``/``--categories``
  (raw item ids of the interaction data); returns the dataset (with notes on skipped rows and
  large images) and the ``run_audit`` keyword arguments.

  Raises:
    ValueError, OSError: a missing file or folder, a malformed line (file:line), an image that
      is missing or cannot be decoded (named, with its image-map line), images of differing
      sizes without --image-size, no item with an image.
  """
  import dataclasses  # pylint: disable=import-outside-toplevel
  import warnings  # pylint: disable=import-outside-toplevel

  from jaxrec import data  # pylint: disable=import-outside-toplevel
  if not os.path.isdir(args.images):
    raise FileNotFoundError(f"--images {args.images}: no such folder")
  for dest, flag in _IMAGE_FILES[1:]:
    path = getattr(args, dest)
    if os.path.isdir(path):
      raise IsADirectoryError(f"{flag} {path} is a folder, not a file")
    if not os.path.isfile(path):
      raise FileNotFoundError(f"{flag} {path}: no such file")
  num_items = len(dataset.item_ids)
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always", UserWarning)
    image_map = data.read_image_map(args.image_map, num_items, item_ids=dataset.item_ids)
    labels, names = data.read_categories(args.categories, num_items,
                                         item_ids=dataset.item_ids, missing="zero")
  notes = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
  if not image_map:
    raise ValueError(f"--image-map {args.image_map} names no image for any item of the "
                     "interaction data (are its ids the raw item ids of the interaction file?)")
  try:
    images = data.load_image_folder(args.images, image_map, num_items, size=config.image_size)
  except data.DataFormatError as e:
    if config.image_size is None and "differ in size" in str(e):
      raise ValueError(str(e).replace("pass size=(height, width) to resize them",
                                      "pass --image-size HEIGHT WIDTH (e.g. 64 64) to resize "
                                      "them")) from None
    raise
  h, w = images.images.shape[1:3]
  if config.image_size is None and h * w > 128 * 128:
    notes.append(f"the images are {h}x{w} pixels and the CNN runs at that size; --image-size "
                 "64 64 is much faster")
  if notes:
    dataset = dataclasses.replace(dataset, notes=tuple(dataset.notes) + tuple(notes))
  return dataset, {"images": images, "categories": labels, "category_names": names}


def _rerun(args):
  """``jaxrec audit --config REPORT``: the recorded config, and the recorded data options set on
  ``args``; returns ``(config, recorded_inputs)``.

  Raises:
    ValueError: options other than :data:`_WITH_CONFIG` given with ``--config``; a report
      without recorded data options, or with settings this version does not know.
    OSError: the report cannot be read.
  """
  # pylint: disable=import-outside-toplevel
  from jaxrec.audit._output import rerun_settings
  from jaxrec.report import load_report
  # pylint: enable=import-outside-toplevel
  extra = sorted(set(getattr(args, "given", ())) - _WITH_CONFIG)
  if extra:
    raise ValueError(
        f"--config re-runs the audit recorded in {args.config} (its settings and data); "
        f"{', '.join('--' + d.replace('_', '-') for d in extra)} cannot be combined with it "
        "(only --out, --overwrite, --no-progress, --fail-on, --verbose, --no-compile-cache "
        "can)")
  old = load_report(args.config)
  config, options = rerun_settings(old)
  unknown = sorted(set(options) - set(_data_options()))
  if unknown:
    raise ValueError(f"{args.config} records data options this jaxrec does not know: {unknown}")
  for name, value in options.items():
    setattr(args, name, value)
  return config, old["provenance"]["inputs"]


def _given(parser: argparse.ArgumentParser, argv: Sequence[str]) -> set[str]:
  """Destinations of the options given on the command line ``argv`` (sub-command options
  included), whatever their values: ``argv`` parsed again with every default suppressed."""
  # pylint: disable=protected-access
  actions = [a for sub in parser._actions if isinstance(sub, argparse._SubParsersAction)
             for p in sub.choices.values() for a in p._actions]
  saved = [(a, a.default) for a in actions]
  try:
    for a in actions:
      a.default = argparse.SUPPRESS
    return set(vars(parser.parse_args(argv))) - {"command"}
  finally:
    for a, default in saved:
      a.default = default


def _audit_config(args):
  """The :class:`AuditConfig` of the command-line options."""
  from jaxrec.audit import AuditConfig  # pylint: disable=import-outside-toplevel
  if args.attacks and "none" in args.attacks and len(args.attacks) > 1:
    raise ValueError("--attacks: 'none' runs no attack and cannot be combined with attacks "
                     f"(got {' '.join(args.attacks)})")
  return AuditConfig(
      model=args.model, dim=args.dim, epochs=args.epochs, lr=args.lr, reg=args.reg,
      batch_size=args.batch_size, optimizer=args.optimizer, seed=args.seed, ks=tuple(args.k),
      chunk_size=args.chunk_size,
      split=args.split, test_ratio=args.test_ratio, threshold=args.threshold,
      attacks=(None if args.attacks is None else () if args.attacks == ["none"]
               else tuple(args.attacks)),
      budgets=tuple(args.budgets), num_targets=args.targets,
      target_strategy=args.target_strategy,
      target_ids=None if args.target_ids is None else tuple(args.target_ids),
      filler_size=args.filler_size, num_selected=args.num_selected,
      defense=tuple(args.defense), num_seeds=args.num_seeds,
      apr_eps=tuple(args.apr_eps),
      apr_lambda=tuple(args.apr_lambda), apr_pretrain_epochs=args.apr_pretrain_epochs,
      robustness_eps=tuple(args.robustness_eps), pgd_num_steps=args.pgd_num_steps,
      **{name: tuple(getattr(args, name)) for name, _ in _CONTENT_SETTINGS
         if getattr(args, name) is not None})


def _all_interactions(dataset, threshold):
  """Every interaction of a dataset (a predefined test split included), deduplicated, and
  binarised at ``threshold`` when given."""
  from jaxrec import data  # pylint: disable=import-outside-toplevel
  parts = [dataset.interactions] + ([dataset.test] if dataset.test is not None else [])
  inter, _ = data.deduplicate(data.concatenate([p.replace(timestamps=None) for p in parts]))
  return inter if threshold is None else data.binarize(inter, threshold)


def _characteristics(args) -> int:
  from jaxrec.robustness import StudyConfig, run_study  # pylint: disable=import-outside-toplevel
  config = StudyConfig(
      model=args.model, dim=args.dim, epochs=args.epochs, lr=args.lr, reg=args.reg,
      batch_size=args.batch_size, optimizer=args.optimizer, attacks=tuple(args.attacks),
      num_samples=args.samples, budget=args.budget, num_targets=args.targets, k=args.k,
      seed=args.seed, user_fractions=tuple(args.user_fractions),
      item_fractions=tuple(args.item_fractions), keep=tuple(args.keep),
      learned_steps=args.learned_steps, lanes=args.lanes)
  dataset = _load(args)
  run_study(_all_interactions(dataset, args.threshold), config, args.out, name=dataset.name,
            progress=not args.no_progress)
  return 0


def _grid(args) -> int:
  # pylint: disable=import-outside-toplevel
  from jaxrec.experiment import load_config
  from jaxrec.grid import PoisonGridConfig, run_grid
  import jax

  from jaxrec import sharding
  # pylint: enable=import-outside-toplevel
  multi = (args.coordinator, args.num_processes, args.process_id)
  if any(m is not None for m in multi):
    if any(m is None for m in multi):
      raise ValueError("--coordinator, --num-processes and --process-id go together")
    sharding.initialize(args.coordinator, args.num_processes, args.process_id)
  config = load_config(args.config, PoisonGridConfig)
  if args.devices == "all":
    devices = jax.device_count()
  else:
    try:
      devices = int(args.devices)
    except ValueError:
      raise ValueError(f"--devices must be 'all' or a whole number, got {args.devices!r}") \
          from None
    if devices < 1:
      raise ValueError(f"--devices must be at least 1, got {devices}")
  if devices > 1 and jax.process_count() > 1:
    # the mesh takes the first N devices of all processes; a process with none of them could
    # not read the cells' results back
    first: dict[int, int] = {}
    for i, d in enumerate(jax.devices()):
      first.setdefault(d.process_index, i)
    needed = max(first.values()) + 1
    if devices < needed:
      left = sorted(p for p, i in first.items() if i >= devices)
      raise ValueError(f"--devices {devices} takes the first {devices} of the "
                       f"{jax.device_count()} devices of {jax.process_count()} processes, which "
                       f"leaves process(es) {left} without a device: give --devices {needed} "
                       "or more, or 'all'")
  mesh = sharding.make_mesh(cells=devices) if devices > 1 else None
  run_grid(config, args.out, mesh=mesh, progress=not args.no_progress)
  return 0


def _stats(args) -> int:
  from jaxrec import data  # pylint: disable=import-outside-toplevel
  dataset = _load(args)
  stats = data.characteristics(_all_interactions(dataset, args.threshold))
  stats = {"name": dataset.name, **stats}
  if args.json:
    print(json.dumps(stats, indent=1))
  else:
    width = max(map(len, stats))
    for key, value in stats.items():
      shown = f"{value:.6g}" if isinstance(value, float) else str(value)
      print(f"{key:<{width}}  {shown}")
    for note in dataset.notes:
      print(f"note: {note}")
  return 0


def main(argv: Sequence[str] | None = None) -> int:
  """Entry point of the ``jaxrec`` console script; returns the exit status.

  Exit status: 0 success; 3 the audit ran but a ``--fail-on`` condition holds; 2 bad
  arguments, bad data, an unwritable/unreachable path, an ``--out`` folder that holds a complete
  report (without ``--overwrite``), a ``jaxrec grid --out`` folder of another config, or a
  report that could not be written where asked (the message names the problem, the file and
  line for data files, and where the results went); 1
  any other failure (e.g. training diverged: a partial report is written); 130 interrupted
  (Ctrl-C: a partial report is written, never over a complete one; ``jaxrec grid`` keeps the
  cells that finished, and the next run with the same ``--out`` resumes).

  Every command turns on JAX's persistent compilation cache
  (:func:`jaxrec.enable_compilation_cache`: ``~/.cache/jaxrec/xla`` by default) unless
  ``--no-compile-cache`` or ``JAXREC_COMPILE_CACHE=0``.
  """
  parser = _parser()
  from_command_line = argv is None
  argv = list(sys.argv[1:] if argv is None else argv)
  args = parser.parse_args(argv)
  args.argv = ["jaxrec", *argv]
  if args.command == "audit" and args.config is not None:
    args.given = _given(parser, argv)
  _enable_cache(args)
  try:
    run = {"audit": _audit, "characteristics": _characteristics, "grid": _grid,
           "stats": _stats}
    return run[args.command](args)
  except (ValueError, OSError) as e:
    print(f"jaxrec {args.command}: error: {e}", file=sys.stderr)
    return 2
  except FloatingPointError as e:  # training diverged; a partial report was written
    print(f"jaxrec {args.command}: error: {e}", file=sys.stderr)
    return 1
  except KeyboardInterrupt:
    print(f"jaxrec {args.command}: interrupted", file=sys.stderr)
    if from_command_line:
      # An interrupt can leave an XLA compilation running on a worker thread; it crashes
      # (SIGSEGV) when the interpreter tears the backend down. The partial report is written:
      # leave at once, with the status of an interrupt.
      sys.stdout.flush()
      sys.stderr.flush()
      os._exit(130)
    return 130


if __name__ == "__main__":
  sys.exit(main())
