"""Grid cells sharded over devices (the ``cells`` mesh axis) and over processes.

The forced-device checks run in subprocesses (``XLA_FLAGS`` must be set before JAX starts): one
process with 4 CPU devices, and two processes of 4 CPU devices joined on the loopback address.
Each subprocess runs many checks (tests/_sharding_worker.py) and the tests below assert its
numbers: every result over a mesh equals the one-device loop exactly.
"""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import AxisType

from jaxrec import experiment, results, sharding

WORKER = Path(__file__).resolve().parent / "_sharding_worker.py"
REPO = WORKER.parents[1]
TIMEOUT_S = 300


def _toy_fn(cell, shared):
  a, b = cell
  return {"sum": a * shared + b, "sq": jnp.sum(jnp.square(b))}


CELLS = [(np.float32(i), np.full((3,), i, np.float32)) for i in range(5)]


def _env(**extra):
  env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
  env.update(JAX_PLATFORMS="cpu", **extra)
  return env


def _tail(text, n=3000):
  return text[-n:] if text else ""


def test_make_mesh_axes_types_and_errors():
  mesh = sharding.make_mesh()
  assert mesh.axis_names == sharding.AXES == ("cells", "items")
  assert dict(mesh.shape) == {"cells": len(jax.devices()), "items": 1}
  assert mesh.axis_types == (AxisType.Explicit, AxisType.Explicit)
  assert list(mesh.devices.ravel()) == jax.devices()
  n = len(jax.devices())
  with pytest.raises(ValueError, match=f"needs {n + 1} devices, there are {n}"):
    sharding.make_mesh(cells=n + 1)
  with pytest.raises(ValueError, match="items must be an integer >= 1"):
    sharding.make_mesh(items=0)
  with pytest.raises(ValueError, match="cells must be an integer >= 1"):
    sharding.make_mesh(cells=0)
  with pytest.raises(ValueError, match="cells must be an integer"):
    sharding.make_mesh(cells=1.5)
  with pytest.raises(ValueError, match=f"items={n + 1} does not divide the {n} devices"):
    sharding.make_mesh(items=n + 1)
  with pytest.raises(ValueError, match="devices is empty"):
    sharding.make_mesh(devices=[])
  with pytest.raises(ValueError, match="more than once"):
    sharding.make_mesh(devices=[jax.devices()[0]] * 2)
  with pytest.raises(TypeError, match="sequence of jax devices"):
    sharding.make_mesh(devices="abc")


@pytest.mark.parametrize("lanes,vectorize", [(1, True), (2, True), (None, False)])
def test_execute_over_a_one_device_mesh_equals_the_loop(lanes, vectorize):
  looped = experiment.execute(_toy_fn, CELLS, np.float32(2.0), vectorize=False)
  timings = {}
  meshed = experiment.execute(_toy_fn, CELLS, np.float32(2.0), lanes=lanes, vectorize=vectorize,
                              mesh=sharding.make_mesh(1), timings=timings)
  assert timings["devices"] == 1 and timings["programs"] == 1 and timings["cells"] == 5
  for i, (a, b) in enumerate(zip(looped, meshed)):
    np.testing.assert_array_equal(b["sum"], np.full(3, 3.0 * i))  # a * 2 + b with a = b = i
    np.testing.assert_array_equal(a["sum"], b["sum"])
    np.testing.assert_array_equal(a["sq"], b["sq"])
    assert isinstance(b["sum"], np.ndarray)


def test_execute_rejects_meshes_it_cannot_use():
  with pytest.raises(TypeError, match="mesh must be a jax.sharding.Mesh"):
    experiment.execute(_toy_fn, CELLS, np.float32(1.0), mesh=jax.devices())
  other = jax.make_mesh((1,), ("data",))
  with pytest.raises(ValueError, match=r"mesh must have the axes \('cells', 'items'\)"):
    experiment.execute(_toy_fn, CELLS, np.float32(1.0), mesh=other)
  with pytest.raises(ValueError, match="lanes must be an integer >= 1"):
    experiment.execute(_toy_fn, CELLS, np.float32(1.0), lanes=0, mesh=sharding.make_mesh())


@pytest.mark.parametrize("kwargs,match", [
    (dict(coordinator="localhost"), "host:port"),
    (dict(coordinator="localhost:http"), "integer port"),
    (dict(coordinator=":1234"), "integer port"),
    (dict(coordinator="localhost:70000"), r"coordinator port must be an integer in \[1, 65535\]"),
    (dict(num_processes=0), "num_processes must be an integer >= 1"),
    (dict(process_id=2), r"process_id must be an integer in \[0, 1\]"),
    (dict(process_id=-1), r"process_id must be an integer in \[0, 1\]"),
    (dict(cpu_devices=0), "cpu_devices must be an integer >= 1"),
    (dict(timeout_s=0), "timeout_s must be an integer >= 1"),
])
def test_initialize_validates_before_joining(kwargs, match):
  args = dict(coordinator="127.0.0.1:1234", num_processes=2, process_id=0) | kwargs
  with pytest.raises(ValueError, match=match):
    sharding.initialize(args.pop("coordinator"), args.pop("num_processes"),
                        args.pop("process_id"), **args)


TINY_GRID = """\
epochs = 2
attacks = ["random"]
budgets = [0.01, 0.05]
num_targets = 1
seeds = [0]
"""


def _free_port():
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


@pytest.fixture(scope="module")
def workers(tmp_path_factory):
  """Starts the three worker processes at once (each compiles on about one core, so they
  share the CI machine's cores): one process with 4 forced CPU devices, and two processes of
  4 CPU devices joined on 127.0.0.1. Returns the folder and each process's exit status."""
  tmp = tmp_path_factory.mktemp("sharding")
  (tmp / "grid.toml").write_text(TINY_GRID)
  port = _free_port()
  commands = {
      "forced": (["forced", str(tmp / "forced.json"), str(tmp / "grid.toml"), str(tmp / "grid")],
                 _env(XLA_FLAGS="--xla_force_host_platform_device_count=4")),
      **{f"process{i}": (["multi", str(port), str(i), str(tmp / f"process{i}.json")], _env())
         for i in range(2)}}
  procs = {}
  try:
    for name, (args, env) in commands.items():
      with open(tmp / f"{name}.log", "w") as log:
        procs[name] = subprocess.Popen([sys.executable, str(WORKER), *args], cwd=REPO, env=env,
                                       stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + TIMEOUT_S
    for proc in procs.values():
      proc.wait(timeout=max(1.0, deadline - time.monotonic()))
  finally:
    for proc in procs.values():  # on a timeout or a failed start; a process left waiting for
      if proc.poll() is None:    # its peer is killed
        proc.kill()
        proc.wait()
  return tmp, {name: proc.returncode for name, proc in procs.items()}


def _finished(workers, name):
  tmp, codes = workers
  assert codes[name] == 0, _tail((tmp / f"{name}.log").read_text())
  return tmp


@pytest.fixture(scope="module")
def forced(workers):
  """One process with 4 forced CPU devices: the worker's JSON, and the folder of the two
  results stores of a tiny ``jaxrec.grid`` run (``one``: one device; ``mesh``: 4 devices)."""
  tmp = _finished(workers, "forced")
  return json.loads((tmp / "forced.json").read_text()), tmp / "grid"


@pytest.fixture(scope="module")
def two_processes(workers):
  """The JSON of each of the two processes (4 CPU devices each) joined on 127.0.0.1."""
  tmp = [_finished(workers, f"process{i}") for i in range(2)][0]
  return [json.loads((tmp / f"process{i}.json").read_text()) for i in range(2)]


def test_meshes_on_four_devices(forced):
  forced = forced[0]
  assert forced["devices"] == 4
  explicit = ["AxisType.Explicit"] * 2
  want = {"default": ({"cells": 4, "items": 1}, [0, 1, 2, 3]),
          "cells2": ({"cells": 2, "items": 1}, [0, 1]),
          "items2": ({"cells": 2, "items": 2}, [0, 1, 2, 3]),
          "cells1_items4": ({"cells": 1, "items": 4}, [0, 1, 2, 3])}
  for name, (shape, ids) in want.items():
    got = forced["meshes"][name]
    assert got["shape"] == shape and got["device_ids"] == ids and got["axis_types"] == explicit
  errors = forced["mesh_errors"]
  assert errors["items3"] == "ValueError: items=3 does not divide the 4 devices; give cells"
  assert errors["too_many"] == "ValueError: a mesh of cells=3 x items=2 needs 6 devices, there are 4"
  assert errors["execute_items2"].startswith(
      "ValueError: the executor shards grid cells only: the mesh's items axis must be 1, got 2")


@pytest.mark.parametrize("num_cells", [5, 7])
@pytest.mark.parametrize("lanes", [1, 2])
def test_execute_over_four_devices_equals_the_loop_exactly(forced, num_cells, lanes):
  toy = forced[0]["toy"]
  loop = toy[f"loop{num_cells}"]
  run = toy[f"mesh{num_cells}_lanes{lanes}"]
  assert run["outs"] == loop  # exact: JSON floats round-trip float32 values
  assert [o["sum"] for o in loop] == [[3.0 * i] * 3 for i in range(num_cells)]
  assert [o["sq"] for o in loop] == [3.0 * i * i for i in range(num_cells)]
  assert [o["shared_only"] for o in loop] == [6.0] * num_cells
  assert len({tuple(o["draw"]) for o in loop}) == num_cells  # each cell its own key
  assert run["timings"] == {"programs": 1, "cells": num_cells, "devices": 4}
  # on_output per finished cell (padding never reported), then progress(n) per program
  size = 4 * min(lanes, -(-num_cells // 4))
  want = []
  for start in range(0, num_cells, size):
    done = list(range(start, min(start + size, num_cells)))
    want += done + [-len(done)]
  assert run["events"] == want
  assert toy["mesh5_no_vectorize"] == toy["loop5"]


def _records(store):
  df = results.load(store)
  cols = sorted(df.columns)
  df = df[cols].astype(object).where(df[cols].notna(), None)
  return cols, sorted(map(tuple, df.itertuples(index=False)), key=repr)


def test_a_grid_over_four_devices_writes_the_one_device_rows(forced):
  """``jaxrec.grid.run_grid(mesh=)``: a clean cell and two poisoned cells (run_poisoning over
  the 4-device mesh, 2 cells padded to 4) write exactly the one-device run's rows."""
  store = forced[1]
  cols, one = _records(store / "one")
  mesh_cols, mesh = _records(store / "mesh")
  assert mesh_cols == cols and len(one) > 40
  assert mesh == one  # every column of every row, provenance included, exactly
  df = results.load(store / "mesh")
  assert sorted(df["attack"].unique()) == ["none", "random"]
  assert sorted(df.loc[df["metric"] == "prediction_shift", "budget"]) == [0.01, 0.05]
  assert (df.loc[df["attack"] == "random", "num_fake"] > 0).all()
  assert df["value"].notna().all() and df["value"].nunique() > 20


def test_two_processes_on_loopback_equal_one_process(two_processes):
  """Two processes of 4 CPU devices (8 in all) on 127.0.0.1 run a 6-cell poisoning grid (two
  padding cells); both get every row, equal to process 0's run on one device."""
  got = two_processes
  reference = got[0]["grid_loop"]
  assert len(reference) == 6
  assert [(r["targets"], r["num_fake"], r["seed"]) for r in reference] == [
      ([37], 3, 0), ([37], 6, 0), ([38], 3, 0), ([38], 6, 0), ([39], 3, 0), ([39], 6, 0)]
  assert [sum(r["active"]) for r in reference] == [3, 6] * 3
  assert all(r["train_loss"] > 0 for r in reference)
  assert len({r["target_rank"] for r in reference}) > 1  # the cells differ
  for i, run in enumerate(got):
    assert run["process_index"] == i and run["process_count"] == 2
    assert run["devices"] == 8 and run["local_devices"] == 4
    assert run["mesh"] == {"cells": 8, "items": 1}
    assert run["timings"] == {"programs": 1, "cells": 6, "devices": 8}
    assert run["grid_mesh"] == reference  # every number of every row, exactly
    assert run["grid_mesh_cells"] == [[c, b] for c, b in enumerate([3, 6] * 3)]
    assert run["toy"] == got[0]["toy_loop"]
    assert [o["sum"] for o in run["toy"]] == [[3.0 * c] * 3 for c in range(5)]
