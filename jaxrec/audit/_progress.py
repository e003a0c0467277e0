"""Progress bars of the audit's long phases (tqdm: rate and ETA; shown on a terminal only)."""

from __future__ import annotations


def bar(total: float, desc: str, enabled: bool):
  """A tqdm bar of ``total`` units (cells, settings, profile sets) described by ``desc``;
  silent when ``enabled`` is false or stderr is not a terminal. Use its ``update(n)`` as the
  ``progress`` callback of the executor and close it when done."""
  from tqdm.auto import tqdm  # pylint: disable=import-outside-toplevel
  return tqdm(total=total, desc=desc, unit="cell", disable=None if enabled else True,
              leave=False)
