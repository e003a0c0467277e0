"""Whole-process latency: what ``import jaxrec`` loads, the persistent compilation cache, and one
compiled program per lane-group shape of a poisoning grid (issue 13, part 4)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import optax
import pytest

from jaxrec import data, metrics, models, training
from jaxrec.attacks import poisoning

HEAVY = ("matplotlib", "pandas", "pyarrow", "scipy", "tqdm", "PIL", "sklearn", "torch")


def _python(code: str, env: dict, cwd: Path) -> str:
  """Runs ``code`` in a fresh interpreter with ``env`` added to a copy of the environment from
  which the cache variables are removed; returns its stdout."""
  base = {k: v for k, v in os.environ.items()
          if k not in ("JAXREC_COMPILE_CACHE", "JAX_COMPILATION_CACHE_DIR", "XDG_CACHE_HOME")}
  done = subprocess.run([sys.executable, "-c", code], env={**base, **env}, cwd=cwd,
                        capture_output=True, text=True, timeout=120, check=False)
  assert done.returncode == 0, done.stderr
  return done.stdout


def test_import_loads_no_heavy_optional_module_and_writes_no_cache(tmp_path):
  out = _python(
      "import json, sys, jax, jaxrec\n"
      f"print(json.dumps([[m for m in {HEAVY!r} if m in sys.modules],"
      " jax.config.jax_compilation_cache_dir]))",
      {"HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "xdg")}, tmp_path)
  loaded, cache_dir = json.loads(out)
  assert loaded == [], f"import jaxrec loads {loaded}: import them where they are used"
  assert cache_dir is None and not (tmp_path / "xdg").exists()


# what enable_compilation_cache() picks, each in a fresh process (JAX's cache is per process)
_PROBE = ("import json, jax, jaxrec\n"
          "path = jaxrec.enable_compilation_cache({arg})\n"
          "jax.jit(lambda x: x * 2 + 1)(jax.numpy.arange(3.0)).block_until_ready()\n"
          "print(json.dumps([path, jax.config.jax_compilation_cache_dir,"
          " jax.config.jax_persistent_cache_min_compile_time_secs]))")


@pytest.mark.parametrize("case", ["default", "off", "jaxrec_dir", "user_jax_dir", "explicit",
                                  "relative_value", "relative_xdg"])
def test_enable_compilation_cache_folder_rules(tmp_path, case):
  xdg, mine, user, explicit = (tmp_path / n for n in ("xdg", "mine", "user", "explicit"))
  env = {"HOME": str(tmp_path / "home"), "XDG_CACHE_HOME": str(xdg)}
  arg, expected = "", None
  if case == "default":
    expected = xdg / "jaxrec" / "xla"
  elif case == "off":
    env["JAXREC_COMPILE_CACHE"] = "off"
  elif case == "jaxrec_dir":
    env["JAXREC_COMPILE_CACHE"], expected = str(mine), mine
  elif case == "user_jax_dir":
    env["JAX_COMPILATION_CACHE_DIR"], expected = str(user), user
  elif case == "explicit":  # an explicit folder wins over the variable that turns it off
    env["JAXREC_COMPILE_CACHE"], arg, expected = "0", repr(str(explicit)), explicit
  elif case == "relative_value":  # a typo of off/on is not a folder name: warned, cache off
    env["JAXREC_COMPILE_CACHE"] = "2"
  else:  # XDG: a relative $XDG_CACHE_HOME is ignored, the home folder's .cache is used
    env["XDG_CACHE_HOME"], expected = "rel", tmp_path / "home" / ".cache" / "jaxrec" / "xla"
  path, configured, min_time = json.loads(_python(_PROBE.format(arg=arg), env, tmp_path))
  if expected is None:
    assert path is None and configured is None and not xdg.exists()
    assert not (tmp_path / "2").exists()
    return
  assert not (tmp_path / "rel").exists()
  assert case == "relative_xdg" or not (tmp_path / "home").exists()
  if case == "user_jax_dir":  # the user's own folder and settings (JAX's 1 s minimum) stay
    assert path == configured == str(user) and min_time == 1.0
    return
  assert path == configured == str(expected.resolve()) and min_time == 0.0
  entries = list(expected.iterdir())  # jaxrec's caches every program, even a 1 ms one
  assert any(e.name.startswith("jit__lambda") for e in entries), entries


def test_unwritable_folder_is_refused_once(tmp_path, monkeypatch):
  import tempfile

  import jaxrec

  def refuse(*args, **kwargs):
    raise PermissionError(13, "Permission denied")

  before = jax.config.jax_compilation_cache_dir
  monkeypatch.setattr(tempfile, "NamedTemporaryFile", refuse)
  with pytest.raises(OSError, match="not writable"):
    jaxrec.enable_compilation_cache(tmp_path / "ro")
  assert jax.config.jax_compilation_cache_dir == before  # nothing turned on


def test_second_process_reads_the_compiled_program_from_the_cache(tmp_path):
  code = ("import json, jax, jaxrec\n"
          f"jaxrec.enable_compilation_cache({str(tmp_path / 'c')!r})\n"
          "events = []\n"
          "jax.monitoring.register_event_listener(lambda name, **kw: events.append(name))\n"
          "jax.jit(lambda x: (x @ x.T).sum())(jax.numpy.ones((8, 8))).block_until_ready()\n"
          "print(json.dumps(events))")
  first = json.loads(_python(code, {}, tmp_path))
  second = json.loads(_python(code, {}, tmp_path))
  assert "/jax/compilation_cache/cache_misses" in first
  assert "/jax/compilation_cache/cache_hits" in second
  assert "/jax/compilation_cache/cache_misses" not in second


@pytest.mark.parametrize("flag", [False, True])
def test_cli_turns_the_cache_on_unless_no_compile_cache(tmp_path, flag):
  rows = tmp_path / "u.tsv"
  rows.write_text("".join(f"{u}\t{i}\t1\n" for u in range(6) for i in range(u % 3, u % 3 + 4)))
  argv = ["stats", "--data", str(rows), "--json", *(["--no-compile-cache"] if flag else [])]
  out = _python(f"import sys; from jaxrec.cli._main import main; sys.exit(main({argv!r}))",
                {"HOME": str(tmp_path / "home"), "XDG_CACHE_HOME": str(tmp_path / "xdg")},
                tmp_path)
  assert json.loads(out)["users"] == 6
  assert (tmp_path / "xdg" / "jaxrec" / "xla").is_dir() is not flag


# ---------------------------------------------------------------------------------------------
# one trace and one compiled program per lane-group shape, whatever the number of cells
# ---------------------------------------------------------------------------------------------

NUM_USERS, NUM_ITEMS, CAPACITY = 60, 40, 6


def _grid_problem():
  rng = np.random.default_rng(0)
  users = np.repeat(np.arange(NUM_USERS), 6)
  items = np.concatenate([rng.choice(20, 6, replace=False) + 20 * (u % 2)
                          for u in range(NUM_USERS)])
  inter = data.from_arrays(users, items, num_users=NUM_USERS, num_items=NUM_ITEMS)
  train, test = data.leave_one_out(inter, seed=0)
  tr, te = data.index_interactions(train), data.index_interactions(test)
  victim = training.Victim(models.mf(dim=4, reg=0.01), optax.sgd(0.05), num_epochs=2,
                           batch_size=64)
  return dict(knowledge=poisoning.attacker_knowledge(train), clean=tr, victim=victim,
              evaluator=metrics.make_evaluator(tr, te, ks=(5,)),
              target_evaluator=metrics.make_target_evaluator(tr, ks=(5,)))


def _counted_run(problem, *, target_sets, budgets, seeds, **kw):
  """Runs the grid from empty in-memory caches; returns (recipe traces, backend compiles,
  executor timings)."""
  traces, compiles = [], []

  def recipe(key, knowledge, targets, num_fake):
    traces.append(1)  # Python runs only while JAX traces
    return poisoning.random_attack(key, knowledge, targets, num_fake, capacity=CAPACITY,
                                   filler_size=5)

  def listener(name, _duration, **_):
    if name == "/jax/core/compile/backend_compile_duration":
      compiles.append(1)

  jax.clear_caches()
  timings = {}
  jax.monitoring.register_event_duration_secs_listener(listener)
  try:
    cells = poisoning.run_poisoning(recipe, target_sets=target_sets, budgets=budgets,
                                    seeds=seeds, timings=timings, **problem, **kw)
  finally:
    jax.monitoring.unregister_event_duration_listener(listener)
  return cells, len(traces), len(compiles), timings


@pytest.mark.parametrize("lanes,vectorize", [(2, True), (3, True), (1, True), (None, False)])
def test_a_poisoning_grid_traces_and_compiles_its_cell_once(lanes, vectorize):
  problem = _grid_problem()
  small = dict(target_sets=[[3], [25]], budgets=[2, 6], seeds=[0])  # 4 cells
  large = dict(target_sets=[[3], [25], [30]], budgets=[2, 4, 6], seeds=[0, 1])  # 18 cells
  runs = [_counted_run(problem, **grid, max_lanes=lanes, vectorize=vectorize)
          for grid in (small, large)]
  for (cells, traces, _, timings), n in zip(runs, (4, 18)):
    assert len(cells) == n and timings["cells"] == n
    # one trace to probe the recipe's shapes (jax.eval_shape), one per compiled program: the
    # groups are padded to one shape (lanes 3 over 4 cells: 3 + 1 padded to 3)
    assert timings["programs"] == 1, timings
    assert traces == 1 + timings["programs"], (traces, timings)
  # 4 or 18 cells compile the same number of XLA programs (a per-cell recompile would not)
  assert runs[0][2] == runs[1][2], (runs[0][2], runs[1][2])

