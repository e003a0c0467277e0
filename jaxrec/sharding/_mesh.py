"""The mesh of :mod:`jaxrec.sharding`."""

from __future__ import annotations

from typing import Sequence

import jax
from jax.sharding import AxisType, Mesh

from jaxrec import _checks

__all__ = ["AXES", "make_mesh"]

AXES = ("cells", "items")
"""Mesh axis names, in mesh order: ``cells`` (grid cells, data parallel) and ``items``
(catalogue rows)."""


def make_mesh(cells: int | None = None, items: int = 1, *,
              devices: Sequence[jax.Device] | None = None) -> Mesh:
  """A ``(cells, items)`` device mesh with explicit axis types.

  Both axes are ``AxisType.Explicit`` (the default of ``jax.make_mesh`` since jax 0.7): an
  array's sharding is part of its type, and an operation that would need an implicit
  all-gather raises at trace time instead of silently moving a catalogue between devices
  (e.g. a plain ``lax.top_k`` over an item-sharded score matrix raises). jaxrec runs every
  sharded computation inside ``jax.shard_map`` (per-device code, explicit collectives), so the
  axis types never change its results: a grid or a top-k gives the same numbers on one device
  and on many.

  Args:
    cells: devices along the ``cells`` axis; default ``len(devices) // items``.
    items: devices along the ``items`` axis (default 1: tables replicated).
    devices: the devices (default ``jax.devices()``, every process's devices under
      ``jax.distributed``); ``cells * items`` of them are used, in order.

  Returns:
    A ``jax.sharding.Mesh`` with axis names :data:`AXES`.

  Raises:
    TypeError: ``devices`` is a string.
    ValueError: ``devices`` empty or repeating a device; ``cells`` or ``items`` not a positive
      integer, or more devices asked for than
      there are (``cells * items > len(devices)``), or ``items`` not dividing the device count
      when ``cells`` is left to its default.

  Source:
    jaxrec; JAX's explicit sharding (``jax.sharding.AxisType``, JAX documentation 2025).
  """
  if isinstance(devices, (str, bytes)):
    raise TypeError(f"devices must be a sequence of jax devices, got {devices!r}")
  devices = list(jax.devices() if devices is None else devices)
  if not devices:
    raise ValueError("devices is empty: a mesh needs at least one device")
  if len(set(devices)) != len(devices):
    raise ValueError("devices lists a device more than once")
  items = _checks.integer("items", items, low=1)
  if cells is None:
    if len(devices) % items:
      raise ValueError(f"items={items} does not divide the {len(devices)} devices; give cells")
    cells = len(devices) // items
  cells = _checks.integer("cells", cells, low=1)
  if cells * items > len(devices):
    raise ValueError(f"a mesh of cells={cells} x items={items} needs {cells * items} devices, "
                     f"there are {len(devices)}")
  return jax.make_mesh((cells, items), AXES, axis_types=(AxisType.Explicit,) * 2,
                       devices=devices[:cells * items])


def cells_devices(mesh: Mesh) -> int:
  """The number of devices along ``mesh``'s ``cells`` axis, for the experiment executor.

  Raises:
    TypeError: ``mesh`` is not a ``jax.sharding.Mesh``.
    ValueError: its axes are not :data:`AXES` (not a :func:`make_mesh` mesh), or its ``items``
      axis is not 1 (the executor replicates what the cells share; a catalogue split by items
      belongs to the item-sharded scorers, not to a grid).

  Source:
    jaxrec.
  """
  if not isinstance(mesh, Mesh):
    raise TypeError(f"mesh must be a jax.sharding.Mesh (jaxrec.sharding.make_mesh), got "
                    f"{type(mesh).__name__}")
  if tuple(mesh.axis_names) != AXES:
    raise ValueError(f"mesh must have the axes {AXES} (jaxrec.sharding.make_mesh), got "
                     f"{tuple(mesh.axis_names)}")
  if mesh.shape["items"] != 1:
    raise ValueError(f"the executor shards grid cells only: the mesh's items axis must be 1, "
                     f"got {mesh.shape['items']} (make_mesh(cells=n))")
  return int(mesh.shape["cells"])
