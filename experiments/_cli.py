"""The command line shared by the experiment scripts: ``--config TOML``, ``--out DIR`` and flags
that override single settings of the config.

Every script of ``experiments/`` reads its settings from a TOML file into a frozen dataclass
(:func:`jaxrec.experiment.load_config`; by default ``experiments/configs/<script>.toml``, which
holds the study's published settings). The script's older flags (``--epochs``, ``--seed``, ...)
still work: each overrides the config fields it names, and the config is checked again with the
new values. The report records the config actually run (:func:`config_section`: its values,
:func:`jaxrec.experiment.config_hash` and the file read).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from pathlib import Path
from typing import Any, Mapping, TypeVar

from jaxrec import experiment, report

__all__ = ["CONFIGS", "SHARED_DATA", "config_section", "default_config", "load", "override",
           "parser", "stamp_report"]

C = TypeVar("C")

CONFIGS = Path(__file__).resolve().parent / "configs"
# the read-only real-data folder beside the repository (never shipped; see its README.md)
SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def default_config(script: str, variant: str = "") -> Path:
  """``experiments/configs/<script><variant>.toml`` (``script``: a file name or path).

  Raises:
    Nothing.

  Source:
    jaxrec.
  """
  return CONFIGS / f"{Path(script).stem}{variant}.toml"


def parser(script: str, doc: str) -> argparse.ArgumentParser:
  """An ``argparse`` parser with ``--config TOML`` (default :func:`default_config`) and
  ``--out DIR`` (required); add the script's flags with :func:`override` or plainly.

  Raises:
    Nothing.

  Source:
    jaxrec.
  """
  p = argparse.ArgumentParser(description=doc.split("\n")[0])
  p.add_argument("--config", default=str(default_config(script)), metavar="TOML",
                 help="the settings (default: %(default)s)")
  p.add_argument("--out", required=True, metavar="DIR", help="output folder")
  p.set_defaults(_config_fields={})
  return p


def override(p: argparse.ArgumentParser, flag: str, *fields: str, **kwargs: Any) -> None:
  """Adds ``flag`` (default ``None``: the config's value) that sets the config ``fields``
  (dotted for a nested dataclass, e.g. ``"settings.pore_models"``) when given.

  Raises:
    ValueError: no field named.

  Source:
    jaxrec.
  """
  if not fields:
    raise ValueError(f"{flag} must name the config field(s) it sets")
  action = p.add_argument(flag, default=None, **kwargs)
  action.help = (action.help + "; " if action.help else "") + "overrides " + ", ".join(fields)
  p.get_default("_config_fields")[action.dest] = fields


def load(args: argparse.Namespace, cls: type[C], path: str | os.PathLike | None = None) -> C:
  """The config of ``cls`` from ``path`` (default ``args.config``), with the values of the
  :func:`override` flags given on the command line.

  Raises:
    FileNotFoundError, ValueError: from :func:`jaxrec.experiment.load_config` (naming the file
      and the key); ValueError: an overridden value the config refuses (naming the flag).

  Source:
    jaxrec.
  """
  path = args.config if path is None else path
  config = experiment.load_config(path, cls)
  given = {}
  for dest, fields in vars(args)["_config_fields"].items():
    value = getattr(args, dest)
    if value is not None:
      for name in fields:
        given[name] = (tuple(value) if isinstance(value, list) else value, dest)
  try:
    return _replace(config, {k: v for k, (v, _) in given.items()})
  except (TypeError, ValueError) as e:
    flags = ", ".join(sorted({"--" + d.replace("_", "-") for _, d in given.values()}))
    raise ValueError(f"{path} with {flags} from the command line: {e}") from e


def config_section(config: Any, path: str | os.PathLike, **extra: Any) -> dict[str, Any]:
  """The report's ``config`` section: the config's values
  (:func:`jaxrec.experiment.config_to_dict`), ``config_hash``, ``config_file`` and ``extra``
  (what the run derived from them, e.g. the targets drawn).

  Raises:
    ValueError: an ``extra`` key that is a config field.

  Source:
    jaxrec.
  """
  section = experiment.config_to_dict(config)
  clash = sorted(set(extra) & set(section))
  if clash:
    raise ValueError(f"extra report settings {clash} clash with config fields")
  return {**section, "config_hash": experiment.config_hash(config),
          "config_file": str(Path(path).resolve()), **extra}


def stamp_report(out: str | os.PathLike, config: Any, path: str | os.PathLike) -> Path:
  """Adds ``config_hash`` and ``config_file`` to the ``config`` section of ``out/report.json``
  written by a library routine (``run_audit``, ``run_study``), atomically; ``report.md`` shows
  no config and is left as it is.

  Raises:
    OSError: the report cannot be read or written. ValueError: it is not a valid report.

  Source:
    jaxrec.
  """
  json_path = Path(out) / "report.json"
  rep = report.load_report(json_path)
  rep["config"] = {**rep["config"], "config_hash": experiment.config_hash(config),
                   "config_file": str(Path(path).resolve())}
  report.validate_report(rep)
  tmp = json_path.with_name(f".{json_path.name}.{os.getpid()}.tmp")
  tmp.write_text(json.dumps(rep, indent=1) + "\n", encoding="utf-8")
  os.replace(tmp, json_path)
  return json_path


def _replace(config: Any, values: Mapping[str, Any]) -> Any:
  """``dataclasses.replace`` with dotted names reaching into nested dataclasses."""
  if not values:
    return config
  own, nested = {}, {}
  for name, value in values.items():
    head, _, rest = name.partition(".")
    if rest:
      nested.setdefault(head, {})[rest] = value
    else:
      own[name] = value
  for head, sub in nested.items():
    own[head] = _replace(getattr(config, head), sub)
  return dataclasses.replace(config, **own)
