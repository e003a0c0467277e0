"""Several hosts: :func:`initialize` wraps ``jax.distributed.initialize``."""

from __future__ import annotations

import jax

from jaxrec import _checks

__all__ = ["initialize"]


def initialize(coordinator: str, num_processes: int, process_id: int, *,
               cpu_devices: int | None = None, timeout_s: int = 300) -> None:
  """Joins this process to a multi-process JAX run (one process per host, or several on one).

  Call it first thing, before any JAX computation, in every process with the same
  ``coordinator`` and ``num_processes`` and its own ``process_id``. Afterwards
  ``jax.devices()`` (and so :func:`make_mesh`) lists the devices of every process, and
  :func:`jaxrec.experiment.execute` / :func:`jaxrec.attacks.poisoning.run_poisoning` with
  ``mesh=make_mesh()`` spread a grid over all of them, every process getting every output.
  On CPU the processes exchange data through JAX's CPU collectives (gloo, the default of
  ``jax_cpu_collectives_implementation`` since jax 0.10); ``cpu_devices`` splits each
  process's CPU into that many devices (``jax_num_cpu_devices``, the configuration form of
  ``XLA_FLAGS=--xla_force_host_platform_device_count``), which is how the tests run two
  processes of four devices on one machine.

  Args:
    coordinator: ``"host:port"`` of process 0, reachable from every process (e.g.
      ``"10.0.0.1:1234"``; ``"127.0.0.1:PORT"`` for processes on one machine).
    num_processes: the number of processes (``>= 1``).
    process_id: this process's index in ``[0, num_processes)``; process 0 runs the
      coordinator and, by jaxrec's convention, writes the results.
    cpu_devices: optional number of CPU devices of this process (CPU backend only).
    timeout_s: seconds to wait for every process to join (s).

  Raises:
    ValueError: ``coordinator`` not ``"host:port"`` with an integer port in ``[1, 65535]``,
      ``num_processes < 1``, ``process_id`` outside ``[0, num_processes)``, ``cpu_devices < 1``
      or ``timeout_s < 1``.
    RuntimeError: JAX has already run a computation in this process (raised by JAX), or the
      processes did not all join within ``timeout_s``.

  Source:
    jaxrec; ``jax.distributed.initialize`` (JAX documentation, multi-process, 2025).
  """
  if not isinstance(coordinator, str) or coordinator.count(":") < 1:
    raise ValueError(f"coordinator must be 'host:port', got {coordinator!r}")
  host, _, port = coordinator.rpartition(":")
  if not host or not port.isdigit():
    raise ValueError(f"coordinator must be 'host:port' with an integer port, got "
                     f"{coordinator!r}")
  _checks.integer("coordinator port", int(port), low=1, high=65535)
  num_processes = _checks.integer("num_processes", num_processes, low=1)
  process_id = _checks.integer("process_id", process_id, low=0, high=num_processes - 1)
  timeout_s = _checks.integer("timeout_s", timeout_s, low=1)
  if cpu_devices is not None:
    jax.config.update("jax_num_cpu_devices",
                      _checks.integer("cpu_devices", cpu_devices, low=1))
  jax.distributed.initialize(coordinator, num_processes=num_processes, process_id=process_id,
                             initialization_timeout=timeout_s)
