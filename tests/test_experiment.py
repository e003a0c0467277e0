"""The one grid executor: cells, lane groups, one compile per lane count, same numbers as a loop."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrec import experiment


def _cell_fn(cell, shared):
  a, b = cell
  return {"sum": a * shared + b, "sq": jnp.sum(jnp.square(b))}


CELLS = [(np.float32(i), np.full((3,), i, np.float32)) for i in range(5)]


def test_product_order_and_errors():
  grid = experiment.product(target=[0, 1], budget=[9, 47])
  assert grid == [{"target": 0, "budget": 9}, {"target": 0, "budget": 47},
                  {"target": 1, "budget": 9}, {"target": 1, "budget": 47}]
  with pytest.raises(ValueError, match="axis 'budget' has no value"):
    experiment.product(target=[0], budget=[])
  with pytest.raises(ValueError, match="at least one axis"):
    experiment.product()


@pytest.mark.parametrize("lanes", [1, 2, 3, 5, 8])
def test_vectorized_equals_loop_for_every_lane_count(lanes):
  looped = experiment.execute(_cell_fn, CELLS, np.float32(2.0), vectorize=False)
  batched = experiment.execute(_cell_fn, CELLS, np.float32(2.0), lanes=lanes)
  assert len(batched) == len(CELLS)
  for i, (a, b) in enumerate(zip(looped, batched)):
    np.testing.assert_allclose(a["sum"], 2.0 * i + i)  # hand value: a * 2 + b, a = b = i
    np.testing.assert_allclose(a["sq"], 3.0 * i * i)
    np.testing.assert_allclose(a["sum"], b["sum"])
    np.testing.assert_allclose(a["sq"], b["sq"])


def test_one_compile_per_lane_count_and_padding_dropped():
  traces = []

  def fn(cell, shared):
    traces.append(1)
    return cell[0] + shared

  timings = {}
  out = experiment.execute(fn, CELLS, np.float32(1.0), lanes=2, timings=timings)
  # 5 cells in groups of 2: three groups, the last padded by repeating its cell -> one program
  assert timings["programs"] == 1 and timings["cells"] == 5
  assert len(traces) == 1
  assert [float(x) for x in out] == [1.0, 2.0, 3.0, 4.0, 5.0]
  assert timings["compile_s"] > 0 and timings["run_s"] > 0


@pytest.mark.parametrize("lanes,vectorize", [(1, True), (2, True), (3, False)])
def test_on_output_sees_every_cell_once_in_order_before_progress(lanes, vectorize):
  events = []
  out = experiment.execute(_cell_fn, CELLS, np.float32(2.0), lanes=lanes, vectorize=vectorize,
                           on_output=lambda i, o: events.append(("out", i, float(o["sq"]))),
                           progress=lambda n: events.append(("progress", n)))
  got = [e for e in events if e[0] == "out"]
  assert [e[1] for e in got] == list(range(5))  # padding of the last group never reported
  assert [e[2] for e in got] == [float(o["sq"]) for o in out] == [3.0 * i * i for i in range(5)]
  size = 1 if not vectorize else lanes
  assert sum(e[1] for e in events if e[0] == "progress") == 5
  assert events[size][0] == "progress"  # a group's outputs come before its progress


def test_shared_arguments_are_arguments():
  """What the cells share enters the program as an argument (read at run time)."""
  out1 = experiment.execute(_cell_fn, CELLS[:2], np.float32(1.0), lanes=2)
  out2 = experiment.execute(_cell_fn, CELLS[:2], np.float32(10.0), lanes=2)
  np.testing.assert_array_equal(out1[1]["sum"], [2.0, 2.0, 2.0])
  np.testing.assert_array_equal(out2[1]["sum"], [11.0, 11.0, 11.0])


def test_keys_as_cells():
  cells = [jax.random.key(s) for s in range(3)]
  out = experiment.execute(lambda k, _: jax.random.uniform(k, (2,)), cells, None, lanes=2)
  for k, o in zip(cells, out):
    np.testing.assert_array_equal(o, jax.random.uniform(k, (2,)))


def test_bad_grids():
  with pytest.raises(ValueError, match="at least one cell"):
    experiment.execute(_cell_fn, [], 1.0)
  with pytest.raises(ValueError, match="lanes must be an integer >= 1"):
    experiment.execute(_cell_fn, CELLS, 1.0, lanes=0)
  with pytest.raises(ValueError, match="equal shapes"):
    experiment.execute(_cell_fn, [CELLS[0], (np.float32(1), np.zeros(4, np.float32))], 1.0)
  with pytest.raises(ValueError, match="one pytree structure"):
    experiment.execute(_cell_fn, [CELLS[0], (np.float32(1),)], 1.0)


def test_default_lanes_by_backend():
  assert experiment.default_lanes() == (1 if jax.default_backend() == "cpu" else None)


@pytest.mark.parametrize("lanes,vectorize,batched", [(1, True, False), (None, False, False),
                                                     (2, True, True)])
def test_one_lane_runs_the_loops_unbatched_program(lanes, vectorize, batched):
  """One lane is the loop itself (no vmap of size 1), so a default CPU grid is the loop."""
  vmapped = []

  @jax.custom_batching.custom_vmap
  def double(x):
    return 2 * x

  @double.def_vmap
  def _(axis_size, in_batched, x):  # runs only when vmap reaches it
    vmapped.append(axis_size)
    return 2 * x, in_batched[0]

  out = experiment.execute(lambda cell, _: double(cell[1]), CELLS, None, lanes=lanes,
                           vectorize=vectorize)
  assert vmapped == ([2] if batched else [])
  np.testing.assert_allclose(np.stack(out), 2 * np.stack([c[1] for c in CELLS]))


@pytest.mark.parametrize("lanes,vectorize", [(1, True), (2, True), (None, False)])
def test_cells_mixing_ints_and_floats_share_one_float_program(lanes, vectorize):
  """``{"eps": 0}`` next to ``{"eps": 0.5}``: promoted once (float32), one program, at one lane
  too (it used to fail there with 'Argument types differ')."""
  timings = {}
  out = experiment.execute(lambda c, s: c["eps"] * s, [{"eps": 0}, {"eps": 0.5}, {"eps": 2}],
                           np.float32(2.0), lanes=lanes, vectorize=vectorize, timings=timings)
  assert [float(o) for o in out] == [0.0, 1.0, 4.0]
  assert timings["programs"] == 1
