"""The one experiment executor: axes -> cells -> one jitted ``vmap`` per lane group.

Every grid of jaxrec runs here: the poison -> retrain -> measure cells of
:func:`jaxrec.attacks.poisoning.run_poisoning`, the APR eps x lambda grid, the audit's sections.
A *cell* is a pytree of arrays (keys, targets, budgets, eps, ...); cells of one grid have equal
shapes, so ``lanes`` of them run as one compiled ``jit(vmap(fn))`` program, compiled once per
lane count (the last group is padded by repeating its last cell, so every group has one shape).
Everything the cells share (data, evaluators) is passed once, unbatched, as an argument (never
closed over: no constants baked into the program).

With a mesh (:func:`jaxrec.sharding.make_mesh`) a program spans the mesh's ``cells`` axis: ``n``
devices each run ``lanes`` cells per program, inside ``jax.shard_map`` (per-device code, data
parallel, no collective but the final gather of the outputs); on several hosts
(``jax.distributed``) every process runs the same ``execute`` call and gets every output.
"""

from __future__ import annotations

import itertools
import time
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from jaxrec import _checks
from jaxrec.sharding._mesh import cells_devices

__all__ = ["default_lanes", "execute", "product"]


def default_lanes() -> int | None:
  """Cells per vmapped program by backend: 1 on CPU (the cells run as a loop of one compiled
  program), all cells (``None``) on accelerators.

  On CPU a retraining is bound by gathers and scatters, and vmapping several of them does the
  same work on a working set ``lanes`` times larger: no lane count beat the loop reliably, so the
  default grid is the loop and never slower than it. Measured with ``benchmarks/poison_grid.py``
  on MovieLens-100K (20 poisoning cells of one attack, BPR-MF 30 epochs each, 2 shared cores,
  jax 0.10.2; run time, compile apart, loop / lanes):

  - 2026-11-30, random: 1 lane 10.7 s, 2 lanes 10.3 s, 4 lanes 12.8 s, 10 lanes 16.4 s,
    20 lanes 19.1 s, loop 11.8 s;
  - 2026-12-06, random, load average 7.5-8.6: 1 lane 64.5 s (1.16x), 2 lanes 66.6 s (1.12x),
    4 lanes 85.7 s (0.87x), loop 74.5 s;
  - 2026-12-06, bandwagon, load average 8.9-11.0: 2 lanes 110.5 s (0.64x), 1 lane 83.4 s
    (0.85x), loop 71.0 s;
  - 2026-12-06, random, load 0.1 rising to 3.5 during the loop: 1 lane 13.6 s, 2 lanes 16.1 s,
    4 lanes 32.9 s, loop 24.2 s.

  One lane is the loop's own program (:func:`execute` runs the unbatched ``fn``), so its ratios
  show the noise of these machines (0.85x to 1.16x); 2 lanes gained at most 4% over one lane and
  lost 32% under load. On an accelerator one program over every cell fills the device.

  Raises:
    Nothing.

  Source:
    jaxrec (measured).
  """
  return 1 if jax.default_backend() == "cpu" else None


def product(**axes: Sequence) -> list[dict[str, Any]]:
  """The cells of a full grid: one dict per combination of the axes' values, in
  ``itertools.product`` order of the keyword order (the last axis varies fastest).

  Example: ``product(target=[0, 1], budget=[9, 47])`` gives 4 dicts.

  Raises:
    ValueError: no axis, or an empty axis.

  Source:
    jaxrec.
  """
  if not axes:
    raise ValueError("a grid needs at least one axis")
  for name, values in axes.items():
    if len(values) == 0:
      raise ValueError(f"axis {name!r} has no value")
  names = list(axes)
  return [dict(zip(names, combo)) for combo in itertools.product(*axes.values())]


def _common_dtypes(cells: Sequence[Any]) -> list[Any]:
  """The cells with each leaf at the dtype JAX promotes that leaf's values to across the cells
  (``{"eps": 0}`` and ``{"eps": 0.5}`` share one float program; the vmapped path stacks them
  that way anyway). Cells whose leaves already agree are returned as they are."""
  treedef = jax.tree.structure(cells[0])
  columns = list(zip(*(jax.tree.leaves(c) for c in cells)))
  targets = []
  for column in columns:
    kinds = {(jnp.result_type(x), isinstance(x, (bool, int, float, complex))) for x in column}
    if len(kinds) == 1:
      targets.append(None)
      continue
    dtype = jnp.result_type(*column)
    targets.append(None if jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key) else dtype)
  if all(t is None for t in targets):
    return list(cells)
  return [jax.tree.unflatten(treedef, [x if t is None else jnp.asarray(x, t)
                                       for x, t in zip(leaves, targets)])
          for leaves in zip(*columns)] if columns else list(cells)


def _stack(cells: Sequence[Any]) -> Any:
  return jax.tree.map(lambda *xs: jnp.stack([jnp.asarray(x) for x in xs]), *cells)


def _place(tree: Any, sharding: NamedSharding) -> Any:
  """``tree``'s leaves as global arrays with ``sharding`` (every process passes the same values).

  PRNG key arrays travel as their key data (``device_put`` takes no key array onto devices of
  other processes); a process-local array that another process cannot address enters as its
  host value (a 0-d weak-typed one as a Python scalar, so it stays weakly typed).
  """
  def one(x):
    if isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
      return jax.random.wrap_key_data(one(jax.random.key_data(x)), impl=jax.random.key_impl(x))
    if isinstance(x, jax.Array) and x.is_fully_addressable and not sharding.is_fully_addressable:
      x = x.item() if x.weak_type and x.ndim == 0 else np.asarray(x)
    return jax.device_put(x, sharding)

  return jax.tree.map(one, tree)


def _per_device(fn: Callable, mesh: Mesh, lanes: int) -> Callable:
  """``shard_map`` of the per-device program: ``lanes`` cells of the ``cells`` axis per device,
  ``shared`` replicated; one lane runs the unbatched ``fn`` (the loop's program)."""
  if lanes == 1:
    def local(cell, shared):
      out = fn(jax.tree.map(lambda x: x[0], cell), shared)
      return jax.tree.map(lambda y: y[None], out)
  else:
    local = jax.vmap(fn, in_axes=(0, None))
  # check_vma=False: ``fn`` is ordinary single-device code (scans whose carries start from
  # constants, which the varying-axes check would reject without jax.lax.pcast calls in every
  # model and metric); nothing in it communicates, and every output is split along ``cells``.
  return jax.shard_map(local, mesh=mesh, in_specs=(P("cells"), P()), out_specs=P("cells"),
                       check_vma=False)


def execute(fn: Callable[[Any, Any], Any], cells: Sequence[Any], shared: Any = None, *,
            lanes: int | None = None, vectorize: bool = True,
            timings: dict | None = None,
            progress: Callable[[int], None] | None = None,
            on_output: Callable[[int, Any], None] | None = None,
            mesh: Mesh | None = None) -> list[Any]:
  """Runs ``fn(cell, shared)`` for every cell and returns the outputs on the host.

  With ``vectorize`` (default) the cells run in groups of ``lanes`` as one
  ``jit(vmap(fn, in_axes=(0, None)))`` program per group, compiled once (the last group padded by
  repeating its last cell; the padding's outputs are dropped); without, or with one lane, the
  same jitted ``fn`` runs cell by cell, unbatched (both give the same numbers). Compilation is
  timed apart from execution.

  With ``mesh`` (:func:`jaxrec.sharding.make_mesh`, ``items`` axis 1) each program runs
  ``n = mesh.shape["cells"]`` devices x ``lanes`` cells per device: the group's stacked cells are
  placed with ``NamedSharding(mesh, P("cells"))`` (device ``d`` holds cells ``d * lanes`` to
  ``(d + 1) * lanes - 1`` of the group), ``shared`` is replicated on every device, and
  ``jax.shard_map`` runs per-device code: with one lane (the default on CPU, and always with
  ``vectorize=False``) each device runs the unbatched ``fn`` on its cell, the loop's own program,
  so the numbers equal the one-device loop's; with more, ``vmap(fn)`` over its ``lanes`` cells,
  the program one device runs with that lane count. No collective runs between the cells; the
  outputs are gathered (replicated) at the end of the program, so every process gets every
  output on its host, and ``on_output``/``progress`` are called as without a mesh, on every
  process (a results store writes from process 0 only). Both axes of the mesh are
  ``AxisType.Explicit`` and the per-device code sees plain local arrays, so the axis types
  change nothing here. Under ``jax.distributed`` every process must make the same call with the
  same ``cells`` and ``shared`` (JAX checks that the host values placed are equal).


  Args:
    fn: ``fn(cell, shared) -> pytree of arrays``; traceable (it runs under ``jit``/``vmap``).
    cells: the cells, pytrees of arrays (or numbers) of one structure and equal shapes.
    shared: what every cell reads (data, evaluators), passed unbatched.
    lanes: cells per program (per device with ``mesh``); default :func:`default_lanes` (1 on
      CPU: a loop; all cells on accelerators, spread over the devices with ``mesh``).
    vectorize: vmap the cells (default) or loop over them (with ``mesh``: one cell per device).
    timings: if a dict, filled with ``compile_s`` (tracing and XLA compilation), ``run_s``
      (executing the compiled programs, host-to-device and device-to-host copies included),
      ``programs`` (compiled programs), ``cells`` and ``devices`` (1 without ``mesh``).
    progress: optional ``progress(n)`` called after each program with the number of cells it
      finished (e.g. ``tqdm(...).update``).
    on_output: optional ``on_output(index, output)`` called after each program for each cell it
      finished (``index`` into ``cells``, ``output`` on the host), before ``progress``: a
      results store writes each finished cell here, so a run killed mid-way loses at most the
      program in flight.
    mesh: optional device mesh whose ``cells`` axis the cells are spread over (default: one
      device).

  Returns:
    One output per cell, in order, as NumPy arrays (``jax.device_get``).

  Raises:
    ValueError: no cell, ``lanes < 1``, cells of different structures or shapes; a ``mesh``
      whose axes are not ``("cells", "items")`` or whose ``items`` axis is not 1; under
      ``jax.distributed``, cells or shared values that differ between processes.
    TypeError: ``mesh`` is not a ``jax.sharding.Mesh``.

  Source:
    jaxrec; ``jax.shard_map`` and ``jax.distributed`` (JAX documentation, 2025).
  """
  if len(cells) == 0:
    raise ValueError("execute needs at least one cell")
  if lanes is None:
    lanes = default_lanes()
  size = len(cells) if lanes is None else _checks.integer("lanes", lanes, low=1)
  size = min(size, len(cells))
  shapes = {jax.tree.structure(c) for c in cells}
  if len(shapes) != 1:
    raise ValueError("cells must share one pytree structure")
  leaf_shapes = {tuple(np.shape(x) for x in jax.tree.leaves(c)) for c in cells}
  if len(leaf_shapes) != 1:
    raise ValueError(f"cells must have equal shapes to share a program, got {leaf_shapes}")
  cells = _common_dtypes(cells)
  devices = 1 if mesh is None else cells_devices(mesh)
  compiled: dict[int, Any] = {}
  clock = {"compile_s": 0.0, "run_s": 0.0, "programs": 0, "cells": len(cells),
           "devices": devices}

  def call(program, n, args, **jit_kwargs):
    if n not in compiled:
      t = time.perf_counter()
      compiled[n] = jax.jit(program, **jit_kwargs).lower(*args).compile()
      clock["compile_s"] += time.perf_counter() - t
      clock["programs"] += 1
    t = time.perf_counter()
    out = jax.device_get(compiled[n](*args))
    clock["run_s"] += time.perf_counter() - t
    return out

  def groups(program, size, place, **jit_kwargs):
    for start in range(0, len(cells), size):
      group = list(cells[start:start + size])
      n = len(group)
      group += [group[-1]] * (size - n)
      t = time.perf_counter()
      args = place(_stack(group))
      clock["run_s"] += time.perf_counter() - t
      out = call(program, size, args, **jit_kwargs)
      finished = [jax.tree.map(lambda x, i=i: x[i], out) for i in range(n)]
      if on_output is not None:
        for i, o in enumerate(finished):
          on_output(start + i, o)
      outs.extend(finished)
      if progress is not None:
        progress(n)

  outs: list[Any] = []
  if mesh is not None:
    per_device = -(-len(cells) // devices)  # enough lanes for every cell in one program
    if vectorize and lanes is not None:
      per_device = min(size, per_device)
    elif not vectorize:
      per_device = 1
    t = time.perf_counter()
    placed = _place(shared, NamedSharding(mesh, P()))
    clock["run_s"] += time.perf_counter() - t
    cell_sharding = NamedSharding(mesh, P("cells"))
    groups(_per_device(fn, mesh, per_device), devices * per_device,
           lambda stacked: (_place(stacked, cell_sharding), placed),
           out_shardings=NamedSharding(mesh, P()))
  elif vectorize and size > 1:  # one lane is the loop: the unbatched program, no vmap of size 1
    groups(jax.vmap(fn, in_axes=(0, None)), size, lambda stacked: (stacked, shared))
  else:
    for index, cell in enumerate(cells):
      outs.append(call(fn, 0, (jax.tree.map(jnp.asarray, cell), shared)))
      if on_output is not None:
        on_output(index, outs[-1])
      if progress is not None:
        progress(1)
  if timings is not None:
    timings.update(clock)
  return outs
