"""Typed experiment configs: frozen dataclasses, read from TOML files, hashed for provenance."""

from __future__ import annotations

import collections.abc
import dataclasses
import hashlib
import json
import os
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, Mapping, TypeVar

__all__ = ["config_from_dict", "config_hash", "config_to_dict", "load_config"]

C = TypeVar("C")


def load_config(path: str | os.PathLike, cls: type[C]) -> C:
  """Reads a TOML file into the frozen dataclass ``cls`` (flax-examples style configs).

  Top-level keys are ``cls``'s fields; a TOML table fills a field whose type is a dataclass
  (keys it leaves out keep the values of that field's default in ``cls``); arrays become
  tuples. Fields absent from the file keep their defaults. Types are checked
  (``int`` accepts integers only, ``float`` integers and floats, a union such as ``int | float``
  keeps an integer an integer, ``X | None`` also accepts absence; TOML has no null).

  Args:
    path: the ``.toml`` file.
    cls: a dataclass type (its ``__post_init__`` may validate values further).

  Returns:
    The config, an instance of ``cls``.

  Raises:
    FileNotFoundError: no such file.
    ValueError: the file is not valid TOML (with tomllib's line and column), or a key that is
      not a field of ``cls`` (the message lists the fields), or a value of the wrong type, or
      what ``cls.__post_init__`` raises; every message starts with the file's path and names the
      key (dotted for nested tables).

  Source:
    jaxrec (TOML: tomllib, Python 3.11 standard library).
  """
  path = Path(path)
  if not path.is_file():
    raise FileNotFoundError(f"config file {path} not found")
  try:
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
  except tomllib.TOMLDecodeError as e:
    raise ValueError(f"{path}: not valid TOML: {e}") from e
  except UnicodeDecodeError as e:
    raise ValueError(f"{path}: not UTF-8 text: {e}") from e
  return config_from_dict(cls, raw, source=str(path))


def config_from_dict(cls: type[C], values: Mapping[str, Any], *, source: str = "config") -> C:
  """Builds the frozen dataclass ``cls`` from a mapping (as :func:`load_config` does).

  Raises:
    TypeError: ``cls`` is not a dataclass type.
    ValueError: unknown keys, values of the wrong type, or what ``cls`` raises; messages start
      with ``source``.

  Source:
    jaxrec.
  """
  if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
    raise TypeError(f"cls must be a dataclass type, got {cls!r}")
  return _build(cls, values, source, "")


def config_to_dict(config: Any) -> dict[str, Any]:
  """The config as plain JSON-able data (tuples as lists, nested dataclasses as dicts).

  Raises:
    TypeError: ``config`` is not a dataclass instance.

  Source:
    jaxrec.
  """
  if not dataclasses.is_dataclass(config) or isinstance(config, type):
    raise TypeError(f"config must be a dataclass instance, got {type(config).__name__}")
  return json.loads(json.dumps(dataclasses.asdict(config)))


def config_hash(config: Any) -> str:
  """A short, stable hash of a config's values (16 hex digits of sha256 of its sorted JSON):
  the same values give the same hash on every machine and Python version.

  Raises:
    TypeError: ``config`` is not a dataclass instance.

  Source:
    jaxrec.
  """
  blob = json.dumps(config_to_dict(config), sort_keys=True, separators=(",", ":"))
  return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _build(cls, values, source, prefix):
  if not isinstance(values, Mapping):
    raise ValueError(f"{source}: {prefix.rstrip('.') or 'the config'} must be a table, got "
                     f"{type(values).__name__}")
  hints = typing.get_type_hints(cls)
  fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
  unknown = sorted(set(values) - set(fields))
  if unknown:
    raise ValueError(f"{source}: unknown key(s) {', '.join(prefix + u for u in unknown)}; "
                     f"{cls.__name__} has {', '.join(fields)}")
  kwargs = {}
  for name, value in values.items():
    default = _default(fields[name])
    if (isinstance(value, Mapping) and dataclasses.is_dataclass(default)
        and not isinstance(default, type)):
      # a partial table overrides the outer config's default instance, not the class defaults
      value = {**{f.name: getattr(default, f.name) for f in dataclasses.fields(default)
                  if f.init}, **value}
    kwargs[name] = _convert(hints[name], value, source, prefix + name)
  try:
    return cls(**kwargs)
  except TypeError as e:  # a field without default missing
    raise ValueError(f"{source}: {e}") from e
  except ValueError as e:
    raise ValueError(f"{source}: {e}") from e


def _default(field: dataclasses.Field) -> Any:
  if field.default is not dataclasses.MISSING:
    return field.default
  if field.default_factory is not dataclasses.MISSING:
    return field.default_factory()
  return None


def _convert(tp, value, source, key):
  if isinstance(tp, type) and dataclasses.is_dataclass(tp) and isinstance(value, tp):
    return value  # an outer default's nested instance, already typed
  origin = typing.get_origin(tp)
  if origin in (typing.Union, types.UnionType):
    if value is None and type(None) in typing.get_args(tp):
      return None  # a default of None (TOML itself has no null)
    options = [a for a in typing.get_args(tp) if a is not type(None)]
    # an integer stays an integer when the union allows one (``float | int`` keeps 47 as 47)
    options.sort(key=lambda a: a is not int)
    errors = []
    for option in options:
      try:
        return _convert(option, value, source, key)
      except ValueError as e:
        errors.append(str(e))
    raise ValueError(errors[0] if len(errors) == 1 else
                     f"{source}: key {key!r}: {value!r} matches none of {tp}")
  if dataclasses.is_dataclass(tp):
    return _build(tp, value, source, key + ".")
  if origin is tuple:
    args = typing.get_args(tp)
    if not isinstance(value, (list, tuple)):
      raise ValueError(f"{source}: key {key!r} must be an array, got {value!r}")
    if len(args) == 2 and args[1] is Ellipsis:
      return tuple(_convert(args[0], v, source, f"{key}[{i}]") for i, v in enumerate(value))
    if len(args) != len(value):
      raise ValueError(f"{source}: key {key!r} must have {len(args)} entries, got {value!r}")
    return tuple(_convert(a, v, source, f"{key}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
  if origin in (dict, collections.abc.Mapping):
    if not isinstance(value, Mapping):
      raise ValueError(f"{source}: key {key!r} must be a table, got {value!r}")
    _, value_type = typing.get_args(tp) or (str, Any)
    return {str(k): _convert(value_type, v, source, f"{key}.{k}") for k, v in value.items()}
  if origin is typing.Literal:
    if value not in typing.get_args(tp):
      raise ValueError(f"{source}: key {key!r} must be one of {typing.get_args(tp)}, got "
                       f"{value!r}")
    return value
  if tp is Any:
    return value
  if tp is bool:
    ok = isinstance(value, bool)
  elif tp is int:
    ok = isinstance(value, int) and not isinstance(value, bool)
  elif tp is float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    value = float(value) if ok else value
  elif tp is str:
    ok = isinstance(value, str)
  else:
    raise TypeError(f"config field {key!r} has a type {tp} that configs do not support")
  if not ok:
    raise ValueError(f"{source}: key {key!r} must be {tp.__name__}, got {value!r}")
  return value
