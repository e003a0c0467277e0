"""Subprocess side of tests/test_sharding.py (not a test module: pytest collects ``test_*.py``).

Usage::

  XLA_FLAGS=--xla_force_host_platform_device_count=4 \
      python tests/_sharding_worker.py forced OUT CONFIG DIR
  python tests/_sharding_worker.py multi PORT PROCESS_ID OUT    # two of these, ids 0 and 1

``forced`` (one process, 4 CPU devices) writes to the JSON file OUT: meshes built on 4 devices
and their errors, and a toy grid run by the executor on one device (the loop) and over the
4-device cells mesh (1 and 2 lanes per device, 5 and 7 cells); then it runs the poisoning grid
of the TOML CONFIG with ``jaxrec grid --devices 1`` and ``--devices all`` into the stores
``DIR/one`` (one device) and ``DIR/mesh`` (the 4-device cells mesh). ``multi`` joins a two-process run on
127.0.0.1:PORT with 4 CPU devices per process (:func:`jaxrec.sharding.initialize`) and writes a
tiny poisoning grid's rows over the 8-device mesh as this process received them, and (process 0)
the same grid run on one local device without a mesh. Numbers are written as JSON floats
(float32 and float64 values round-trip exactly), so the test compares them exactly.
"""

from __future__ import annotations

import functools
import json
import sys

import numpy as np

TOY_LANES = (1, 2)
TOY_SIZES = (5, 7)


def _toy_fn(cell, shared):
  import jax
  import jax.numpy as jnp
  a, b, key = cell
  return {"sum": a * shared + b, "sq": jnp.sum(jnp.square(b)),
          "draw": jax.random.uniform(key, (2,)), "shared_only": shared * 3}


def _toy_cells(n):
  import jax
  return [(np.float32(i), np.full((3,), i, np.float32), jax.random.key(i)) for i in range(n)]


def _plain(tree):
  import jax
  return jax.tree.map(lambda x: np.asarray(x).tolist(), tree)


def _grid(**kwargs):
  """The tiny poisoning grid: 60 users x 40 items, BPR-MF (dim 8) 2 epochs, 3 targets x
  2 budgets x 1 seed = 6 cells (not a multiple of 4 or 8: the last group is padded)."""
  import optax

  from jaxrec import data, metrics, models, training
  from jaxrec.attacks import poisoning
  rng = np.random.default_rng(0)
  users = np.repeat(np.arange(60), 8)
  items = np.concatenate([rng.choice(35, 8, replace=False) for _ in range(60)])
  inter = data.from_arrays(users, items, num_users=60, num_items=40)
  train, test = data.leave_one_out(inter, seed=0)
  tr, te = data.index_interactions(train), data.index_interactions(test)
  victim = training.Victim(models.mf(dim=8, reg=0.01),
                           optax.adagrad(0.05, initial_accumulator_value=0.1),
                           num_epochs=2, batch_size=64)
  recipe = functools.partial(poisoning.random_attack, capacity=6, filler_size=5)
  results = poisoning.run_poisoning(
      recipe, knowledge=poisoning.attacker_knowledge(train), clean=tr, victim=victim,
      evaluator=metrics.make_evaluator(tr, te, ks=(5,)),
      target_evaluator=metrics.make_target_evaluator(tr, ks=(5,)),
      target_sets=np.asarray(((37,), (38,), (39,))), budgets=[3, 6], seeds=[0], **kwargs)
  return [_row(r) for r in results]


def _row(r):
  e = r.exposure[0]
  return {"targets": r.targets.tolist(), "num_fake": r.num_fake, "seed": r.seed,
          "target_rank": float(e["target_rank"][None]),
          "target_score": float(e["target_score"][None]), "target_hr": float(e["target_hr"][5]),
          "ndcg": float(r.evaluation["ndcg"][5]), "recall": float(r.evaluation["recall"][5]),
          "coverage": float(r.evaluation["coverage"][5]), "train_loss": float(r.train_loss),
          "profile_items": np.asarray(r.profiles.items).tolist(),
          "active": np.asarray(r.profiles.active).tolist()}


def _error(fn):
  try:
    fn()
  except (ValueError, TypeError) as e:
    return f"{type(e).__name__}: {e}"
  return None


def forced(out, config, grid_dir):
  from pathlib import Path

  import jax

  from jaxrec import experiment
  from jaxrec.sharding import make_mesh
  result = {"devices": len(jax.devices())}
  meshes = {"default": make_mesh(), "cells2": make_mesh(2), "items2": make_mesh(items=2),
            "cells1_items4": make_mesh(1, 4)}
  result["meshes"] = {
      name: {"shape": dict(m.shape), "axis_types": [str(t) for t in m.axis_types],
             "device_ids": np.asarray(m.device_ids).ravel().tolist()}
      for name, m in meshes.items()}
  result["mesh_errors"] = {
      "items3": _error(lambda: make_mesh(items=3)),
      "too_many": _error(lambda: make_mesh(cells=3, items=2)),
      "execute_items2": _error(lambda: experiment.execute(
          _toy_fn, _toy_cells(2), np.float32(1), mesh=meshes["items2"]))}
  mesh = meshes["default"]
  toy = {}
  for n in TOY_SIZES:
    cells = _toy_cells(n)
    toy[f"loop{n}"] = _plain(experiment.execute(_toy_fn, cells, np.float32(2.0),
                                                vectorize=False))
    for lanes in TOY_LANES:
      events, timings = [], {}
      outs = experiment.execute(_toy_fn, cells, np.float32(2.0), lanes=lanes, mesh=mesh,
                                timings=timings, on_output=lambda i, o: events.append(i),
                                progress=lambda k: events.append(-k))
      toy[f"mesh{n}_lanes{lanes}"] = {"outs": _plain(outs), "events": events,
                                      "timings": {k: timings[k] for k in
                                                  ("programs", "cells", "devices")}}
  toy["mesh5_no_vectorize"] = _plain(experiment.execute(_toy_fn, _toy_cells(5), np.float32(2.0),
                                                        vectorize=False, mesh=mesh))
  result["toy"] = toy
  with open(out, "w") as f:
    json.dump(result, f)
  # the command line, as a user runs it: --devices 1 (no mesh) and the default, every device
  from jaxrec.cli._main import main
  for sub, devices in (("one", "1"), ("mesh", "all")):
    code = main(["grid", str(config), "--out", str(Path(grid_dir) / sub), "--devices", devices,
                 "--no-progress", "--no-compile-cache"])
    assert code == 0, f"jaxrec grid --devices {devices} exited with {code}"


def multi(port, process_id, out):
  from jaxrec.sharding import initialize
  initialize(f"127.0.0.1:{port}", 2, int(process_id), cpu_devices=4, timeout_s=60)
  import jax

  from jaxrec import experiment
  from jaxrec.sharding import make_mesh
  mesh = make_mesh()
  timings, seen = {}, []
  # process 0 also runs the grid on one local device, no mesh: the one-process reference
  first = jax.process_index() == 0
  loop = _grid(vectorize=False) if first else None
  toy_loop = (_plain(experiment.execute(_toy_fn, _toy_cells(5), np.float32(2.0),
                                        vectorize=False)) if first else None)
  toy = experiment.execute(_toy_fn, _toy_cells(5), np.float32(2.0), mesh=mesh)
  result = {"process_index": jax.process_index(), "process_count": jax.process_count(),
            "devices": len(jax.devices()), "local_devices": len(jax.local_devices()),
            "mesh": dict(mesh.shape), "toy": _plain(toy), "toy_loop": toy_loop,
            "grid_mesh": _grid(mesh=mesh, timings=timings,
                               on_cell=lambda i, r: seen.append([i, r.num_fake])),
            "grid_loop": loop, "grid_mesh_cells": seen,
            "timings": {k: timings[k] for k in ("programs", "cells", "devices")}}
  with open(out, "w") as f:
    json.dump(result, f)


if __name__ == "__main__":
  {"forced": forced, "multi": multi}[sys.argv[1]](*sys.argv[2:])
