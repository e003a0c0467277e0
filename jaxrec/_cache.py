"""JAX's persistent compilation cache, turned on where a jaxrec program starts.

XLA:CPU compiles one poison -> retrain -> evaluate program in about 1-2 s, as long as the
program then runs on MovieLens-100K; the persistent cache stores the compiled executables on
disk so that the next process with the same program (same shapes, jax and jaxlib) loads them
in milliseconds. Importing jaxrec changes nothing: the ``jaxrec`` command line (unless
``--no-compile-cache``) and the benchmark scripts call :func:`enable_compilation_cache`, and a
user's program may call it too.

Where the cache goes (first match wins): the ``path`` argument; ``$JAX_COMPILATION_CACHE_DIR``
(or ``jax_compilation_cache_dir`` already set by the user: jaxrec then leaves JAX's settings as
they are); ``$JAXREC_COMPILE_CACHE`` when it names a folder; ``$XDG_CACHE_HOME/jaxrec/xla``;
``~/.cache/jaxrec/xla``. ``JAXREC_COMPILE_CACHE=0`` (or ``off``, ``false``, ``no``) turns
jaxrec's cache off for every entry point that has no explicit ``path`` (a cache that JAX's own
``$JAX_COMPILATION_CACHE_DIR`` turns on is JAX's, and stays on). Any other value must be an
absolute folder (``~`` expanded): a value such as ``2`` or ``disable`` is refused with a warning
and the cache stays off, rather than creating a folder of that name in the working directory. A
folder that cannot be created or written leaves the cache off (an ``OSError`` for the caller:
the command line prints one note), instead of one JAX warning per compiled program.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

__all__ = ["compilation_cache_dir", "default_cache_dir", "enable_compilation_cache"]

ENV_VAR = "JAXREC_COMPILE_CACHE"
_OFF = frozenset({"0", "off", "false", "no"})
_ON = frozenset({"", "1", "on", "true", "yes"})
# Every compiled program is cached: reading an entry back takes 1-6 ms on this machine class,
# compiling even the small eager programs (a convert, a gather) 15-40 ms, the poisoning cell 1-2 s.
MIN_COMPILE_TIME_SECS = 0.0


def default_cache_dir() -> Path:
  """The user cache folder of jaxrec's compiled programs: ``$XDG_CACHE_HOME/jaxrec/xla``, or
  ``~/.cache/jaxrec/xla`` when ``XDG_CACHE_HOME`` is unset, empty or relative (the XDG
  specification says a relative value is invalid and must be ignored).

  Returns:
    The path (not created here).

  Raises:
    RuntimeError: no home folder can be determined (``Path.home``).

  Source:
    XDG Base Directory Specification 0.8 (``$XDG_CACHE_HOME``, default ``$HOME/.cache``).
  """
  xdg = os.environ.get("XDG_CACHE_HOME")
  base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
  return base / "jaxrec" / "xla"


def compilation_cache_dir() -> str | None:
  """The folder JAX's persistent compilation cache uses now (``jax_compilation_cache_dir``),
  ``None`` when the cache is off.

  Raises:
    Nothing.

  Source:
    JAX configuration ``jax_compilation_cache_dir`` and ``jax_enable_compilation_cache``.
  """
  import jax  # pylint: disable=import-outside-toplevel
  if not jax.config.jax_enable_compilation_cache:
    return None
  return jax.config.jax_compilation_cache_dir or None


def enable_compilation_cache(path: str | os.PathLike | None = None) -> str | None:
  """Turns on JAX's persistent compilation cache for this process; returns its folder.

  With ``path`` the cache goes there (created if missing), whatever the environment says.
  Without: ``None`` (nothing changed) when ``$JAXREC_COMPILE_CACHE`` is ``0``/``off``/``false``/
  ``no``; the user's own folder when ``$JAX_COMPILATION_CACHE_DIR`` (or the
  ``jax_compilation_cache_dir`` option) is already set, whose settings stay untouched; else
  ``$JAXREC_COMPILE_CACHE`` when it names a folder, else :func:`default_cache_dir`. jaxrec sets
  ``jax_persistent_cache_min_compile_time_secs`` to 0 (every program is cached: an entry is
  read back in 1-6 ms, a small eager program compiles in 15-40 ms on a 2-core CPU) and keeps
  JAX's size rule. Call it before the first compilation: JAX opens its cache once per process,
  at the first compilation after a folder is set; a later call with another folder moves the
  cache (JAX's ``reset_cache``).

  The cache is keyed by the program, its shapes, the backend and the versions of jax and
  jaxlib, so a stale entry is never used; the folder may be deleted at any time.

  Args:
    path: the cache folder; ``None`` for the rule above.

  Returns:
    The folder in use (``str``), or ``None`` when the environment turned the cache off (or
    named no valid folder: a ``UserWarning`` says so).

  Raises:
    OSError: the folder cannot be created or written (the cache stays off).

  Source:
    JAX's persistent compilation cache (``jax.config`` options ``jax_compilation_cache_dir``,
    ``jax_persistent_cache_min_compile_time_secs``; docs "Persistent compilation cache").
  """
  import jax  # pylint: disable=import-outside-toplevel
  if path is None:
    env = os.environ.get(ENV_VAR, "").strip()
    if env.lower() in _OFF:
      return None
    if jax.config.jax_compilation_cache_dir:  # the user's own (JAX_COMPILATION_CACHE_DIR)
      return str(jax.config.jax_compilation_cache_dir)
    if env.lower() in _ON:
      path = default_cache_dir()
    elif not Path(env).expanduser().is_absolute():
      warnings.warn(f"{ENV_VAR}={env!r} is neither 0/1/on/off nor an absolute folder: "
                    "compilation cache off", stacklevel=2)
      return None
    else:
      path = Path(env).expanduser()
  folder = Path(path).expanduser().resolve()
  folder.mkdir(parents=True, exist_ok=True)
  try:  # JAX would warn once per program it fails to write: probe once instead
    with tempfile.NamedTemporaryFile(dir=folder, prefix=".jaxrec-probe-"):
      pass
  except OSError as e:
    raise OSError(f"compilation cache folder {folder} is not writable ({e})") from e
  previous = jax.config.jax_compilation_cache_dir
  jax.config.update("jax_enable_compilation_cache", True)
  jax.config.update("jax_compilation_cache_dir", str(folder))
  jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_TIME_SECS)
  if previous and previous != str(folder):
    from jax.experimental.compilation_cache import (  # pylint: disable=import-outside-toplevel
        compilation_cache)
    compilation_cache.reset_cache()  # reopen at the new folder on the next compilation
  return str(folder)
