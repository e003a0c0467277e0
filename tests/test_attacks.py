"""Fake-profile recipes, target selection and the poison -> retrain -> measure pipeline."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxrec
from jaxrec import data, metrics, models, training
from jaxrec.attacks import poisoning as attacks


def _bpr_mf(num_epochs):
  return training.Victim(models.mf(dim=8, reg=0.01),
                         optax.adagrad(0.05, initial_accumulator_value=0.1),
                         num_epochs=num_epochs, batch_size=64)


NUM_USERS, NUM_ITEMS = 60, 40


def _toy(ratings=True, seed=0):
  rng = np.random.default_rng(seed)
  users = np.repeat(np.arange(NUM_USERS), 8)
  items = np.concatenate([rng.choice(NUM_ITEMS - 5, 8, replace=False) for _ in range(NUM_USERS)])
  r = rng.integers(1, 6, users.size).astype(float) if ratings else None
  return data.from_arrays(users, items, num_users=NUM_USERS, num_items=NUM_ITEMS, ratings=r)


KNOW = attacks.attacker_knowledge(_toy())
TARGETS = jnp.array([37, 38])
SEGMENT = np.zeros(NUM_ITEMS, bool)
SEGMENT[:12] = True

RECIPES = {
    "random": attacks.random_attack,
    "average": attacks.average_attack,
    "bandwagon": functools.partial(attacks.bandwagon_attack, num_selected=3),
    "segment": functools.partial(attacks.segment_attack, segment=SEGMENT, num_selected=4),
    "love_hate": functools.partial(attacks.love_hate_attack, intent="nuke"),
    "reverse_bandwagon": functools.partial(attacks.reverse_bandwagon_attack, num_selected=2,
                                           intent="nuke"),
    "power_user": attacks.power_user_attack,
}


def _make(name, key=0, num_fake=7, capacity=10, filler_size=12, knowledge=KNOW, **kw):
  return RECIPES[name](jax.random.key(key), knowledge, TARGETS, num_fake, capacity=capacity,
                       filler_size=filler_size, **kw)


@pytest.mark.parametrize("name", list(RECIPES))
def test_profile_invariants(name):
  p = _make(name)
  items = np.asarray(p.items)
  assert items.shape == (10, 2 + 12)  # exact slot budget: targets + filler_size
  np.testing.assert_array_equal(p.active, np.arange(10) < 7)
  for row in items:
    assert len(set(row.tolist())) == row.size, "a profile repeats an item"
    np.testing.assert_array_equal(row[:2], TARGETS)
    assert not set(row[2:].tolist()) & {37, 38}, "a filler is a target"
  r = np.asarray(p.ratings)
  assert r.min() >= 1 and r.max() <= 5 and np.all(r == np.round(r))
  nuke = name in ("love_hate", "reverse_bandwagon")
  np.testing.assert_array_equal(r[:, :2], 1.0 if nuke else 5.0)
  np.testing.assert_array_equal(np.asarray(p.negative)[:, :2], nuke)


@pytest.mark.parametrize("name", list(RECIPES))
def test_same_key_same_profiles(name):
  a, b, c = _make(name, key=3), _make(name, key=3), _make(name, key=4)
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_array_equal(x, y)
  if name not in ("segment",):  # segment: fixed selected items, fillers differ
    assert not np.array_equal(a.items, c.items) or name == "power_user"


def test_recipe_specifics():
  pop = np.asarray(KNOW.item_count)
  b = _make("bandwagon")
  top3 = set(np.argsort(-pop, kind="stable")[:3].tolist())
  assert set(np.asarray(b.items)[0, 2:5].tolist()) == top3
  np.testing.assert_array_equal(np.asarray(b.ratings)[:, 2:5], 5.0)
  s = _make("segment")
  assert SEGMENT[np.asarray(s.items)[:, 2:6]].all()
  np.testing.assert_array_equal(np.asarray(s.ratings)[:, 6:], 1.0)  # fillers rated min
  assert np.asarray(s.negative)[:, 6:].all()
  lh = _make("love_hate")
  np.testing.assert_array_equal(np.asarray(lh.ratings)[:, 2:], 5.0)
  with pytest.raises(ValueError, match="nuke attack"):
    _make("love_hate", intent="push")


def test_power_users_are_copied():
  inter = _toy()
  p = _make("power_user", filler_size=8)
  deg = np.bincount(inter.users, minlength=NUM_USERS)
  power0 = np.lexsort((np.arange(NUM_USERS), -deg))[0]
  own = set(np.asarray(inter.items)[np.asarray(inter.users) == power0].tolist()) - {37, 38}
  assert set(np.asarray(p.items)[0, 2:].tolist()) == own


def test_feedback_rule_decides_the_interactions():
  implicit = attacks.attacker_knowledge(_toy(ratings=False))
  p = _make("love_hate", knowledge=implicit)
  mask = np.asarray(p.mask())
  assert not mask[:, :2].any(), "an implicit victim cannot receive a dislike: target left out"
  assert mask[:7, 2:].all() and not mask[7:].any()
  p = _make("random")  # explicit data, every interaction positive
  assert np.asarray(p.mask()).sum() == 7 * 14  # exact interaction budget
  thresholded = attacks.attacker_knowledge(_toy(), positive_threshold=4.0)
  p = _make("random", knowledge=thresholded)
  np.testing.assert_array_equal(np.asarray(p.mask()),
                                (np.asarray(p.ratings) >= 4) & (np.arange(10) < 7)[:, None])


def test_concrete_targets_and_budgets_are_checked():
  rec = functools.partial(attacks.random_attack, jax.random.key(0), KNOW, capacity=4,
                          filler_size=5)
  with pytest.raises(ValueError, match=r"targets must lie in \[0, 40\)"):
    rec(jnp.array([40]), 3)
  with pytest.raises(ValueError, match="repeat"):
    rec(jnp.array([3, 3]), 3)
  with pytest.raises(ValueError, match="targets must not be empty"):
    rec(jnp.zeros((0,), jnp.int32), 3)
  with pytest.raises(ValueError, match="num_fake"):
    rec(TARGETS, 5)
  with pytest.raises(ValueError, match="filler_size"):
    attacks.random_attack(jax.random.key(0), KNOW, TARGETS, 3, capacity=4, filler_size=40)
  # under jit: the empty list is static (always an error); traced ids and counts are checkify
  # checks, raised by jaxrec.checked
  f = jax.jit(lambda t, n: rec(t, n).items)
  with pytest.raises(ValueError, match="targets must not be empty"):
    f(jnp.zeros((0,), jnp.int32), 3)
  f(jnp.array([40]), 3)  # plain jit: no host check (the pipeline validates before vmapping)
  with pytest.raises(ValueError, match=r"targets must lie in \[0, 40\)"):
    jaxrec.checked(f)(jnp.array([40]), 3)
  with pytest.raises(ValueError, match="targets repeats"):
    jaxrec.checked(f)(jnp.array([3, 3]), 3)
  with pytest.raises(ValueError, match="num_fake must lie"):
    jaxrec.checked(f)(TARGETS, 5)
  # a segment of 3 non-target items suffices for num_selected=3 when the target is outside it
  seg = np.arange(NUM_ITEMS) < 3
  p = attacks.segment_attack(jax.random.key(0), KNOW, jnp.array([30]), 2, capacity=2,
                             filler_size=5, segment=seg, num_selected=3)
  assert set(np.asarray(p.items)[0, 1:4].tolist()) == {0, 1, 2}


@pytest.mark.parametrize("name", list(RECIPES))
def test_every_recipe_checks_targets_and_num_fake_eagerly_and_under_checked_jit(name):
  rec = functools.partial(RECIPES[name], jax.random.key(0), KNOW, capacity=4, filler_size=5)
  if name == "love_hate":
    rec = functools.partial(rec, intent="nuke")
  for t, n, match in [(jnp.array([40]), 3, r"targets must lie in \[0, 40\)"),
                      (jnp.array([-1]), 3, r"targets must lie in \[0, 40\)"),
                      (jnp.array([3, 3]), 3, "targets repeats an id"),
                      (TARGETS, 5, r"num_fake must .*\[0, (capacity=)?4\]"),
                      (TARGETS, -1, r"num_fake must .*\[0, (capacity=)?4\]")]:
    with pytest.raises(ValueError, match=match):
      rec(t, n)
    with pytest.raises(ValueError, match=match):
      jaxrec.checked(jax.jit(lambda t, n: rec(t, n).items))(t, n)
  for n in (2.5, np.float32(2.5), True):  # a count is an integer, never truncated
    with pytest.raises(ValueError, match="num_fake must be an integer"):
      rec(TARGETS, n)
  with pytest.raises(ValueError, match="num_fake must be an integer scalar, got a traced"):
    jax.jit(lambda n: rec(TARGETS, n).items)(2.5)  # the dtype is known while tracing
  with pytest.raises(ValueError, match="targets must not be empty"):
    rec(jnp.zeros((0,), jnp.int32), 3)
  with pytest.raises(ValueError, match="targets must not be empty"):  # static: even plain jit
    jax.jit(lambda t: rec(t, 3).items)(jnp.zeros((0,), jnp.int32))
  with pytest.raises(ValueError, match=r"filler_size must be an integer in \[0, 38\]"):
    RECIPES[name](jax.random.key(0), KNOW, TARGETS, 3, capacity=4, filler_size=-1,
                  **({"intent": "nuke"} if name == "love_hate" else {}))
  np.testing.assert_array_equal(rec(TARGETS, np.int64(3)).active, [True] * 3 + [False])


def test_attacker_knowledge_of_all_equal_ratings_is_a_zero_to_v_scale():
  inter = _toy()
  clicks = data.from_arrays(inter.users, inter.items, num_users=NUM_USERS, num_items=NUM_ITEMS,
                            ratings=np.full(len(inter), 3.0))
  know = attacks.attacker_knowledge(clicks)
  assert (know.rating_min, know.rating_max) == (0.0, 3.0)
  p = attacks.bandwagon_attack(jax.random.key(0), know, TARGETS, 3, capacity=3, filler_size=4,
                               num_selected=2)
  np.testing.assert_array_equal(np.asarray(p.ratings)[np.asarray(p.mask())], 3.0)
  zeros = data.from_arrays(inter.users, inter.items, num_users=NUM_USERS, num_items=NUM_ITEMS,
                           ratings=np.zeros(len(inter)))
  with pytest.raises(ValueError, match="every training rating is 0.0.*rating_scale"):
    attacks.attacker_knowledge(zeros)


def test_attacker_knowledge_checks_its_settings():
  inter = _toy()
  for bad in (float("nan"), np.float32(np.inf), jnp.float32(np.nan), True):
    with pytest.raises(ValueError, match="positive_threshold"):
      attacks.attacker_knowledge(inter, positive_threshold=bad)
  for bad in (0, -1, 2.5, np.float64(np.nan)):
    with pytest.raises(ValueError, match="num_power_users"):
      attacks.attacker_knowledge(inter, num_power_users=bad)
  for bad in ((5.0, 1.0), (1.0, float("nan"))):
    with pytest.raises(ValueError, match="rating_scale"):
      attacks.attacker_knowledge(inter, rating_scale=bad)
  with pytest.raises(ValueError, match="needs training interactions"):
    attacks.attacker_knowledge(data.from_arrays([], [], num_users=2, num_items=3))
  know = attacks.attacker_knowledge(inter, positive_threshold=np.float32(4.0),
                                    num_power_users=np.int64(3))
  assert float(know.positive_threshold) == 4.0


def test_no_negative_slot_ever_becomes_an_interaction():
  """Even when the victim's threshold is at or below the scale minimum, dislikes stay out."""
  low = attacks.attacker_knowledge(_toy(), positive_threshold=1.0)
  for name in ("love_hate", "segment", "reverse_bandwagon"):
    p = _make(name, knowledge=low)
    assert not np.any(np.asarray(p.mask()) & np.asarray(p.negative)), name


def test_power_user_profiles_have_distinct_items_even_with_duplicate_rows():
  inter = _toy()
  dup = data.from_arrays(np.concatenate([inter.users, inter.users[:8]]),
                         np.concatenate([inter.items, inter.items[:8]]),
                         ratings=np.concatenate([inter.ratings, inter.ratings[:8]]),
                         num_users=NUM_USERS, num_items=NUM_ITEMS)
  know = attacks.attacker_knowledge(dup)
  p = attacks.power_user_attack(jax.random.key(0), know, TARGETS, 5, capacity=5, filler_size=12)
  for row in np.asarray(p.items):
    assert len(set(row.tolist())) == row.size


def test_static_argument_errors():
  with pytest.raises(ValueError, match=r"filler_size must be an integer in \[0, 38\], got 39"):
    _make("random", filler_size=39)
  with pytest.raises(ValueError, match="capacity"):
    _make("random", capacity=0)
  with pytest.raises(ValueError, match="intent"):
    _make("random", intent="boost")
  with pytest.raises(ValueError, match="num_selected"):
    _make("bandwagon", num_selected=13)
  with pytest.raises(ValueError, match="segment has"):
    attacks.segment_attack(jax.random.key(0), KNOW, TARGETS, 3, capacity=4, filler_size=12,
                           segment=np.arange(NUM_ITEMS) < 3, num_selected=4)


def test_budgets_and_targets():
  assert attacks.num_fake_users(0.01, 943) == 9
  assert attacks.num_fake_users(0.05, 943) == 47
  assert attacks.num_fake_users(0.001, 100) == 1
  assert attacks.num_fake_users(12, 943) == 12
  for bad in (0, -3, 0.0, 1.0, 1.5, float("nan"), True):
    with pytest.raises(ValueError, match="budget"):
      attacks.num_fake_users(bad, 943)
  pop = np.array([50, 40, 30, 20, 10, 5, 4, 3, 2, 1, 0, 0])
  t = attacks.select_targets(pop, 3, "unpopular", seed=1)
  assert set(t.tolist()) <= set(range(2, 10))  # long tail (head = 2 items), popularity >= 1
  assert set(attacks.select_targets(pop, 2, "popular").tolist()) == {0, 1}
  np.testing.assert_array_equal(attacks.select_targets(pop, 3, "unpopular", seed=1), t)
  with pytest.raises(ValueError, match="fewer than"):
    attacks.select_targets(pop, 9, "unpopular")
  assert attacks.default_filler_size(_toy()) == 8


def test_inject_appends_fake_users_and_leaves_the_clean_data_alone():
  inter = _toy(ratings=False)
  clean = data.index_interactions(inter)
  before = jax.tree.map(np.array, clean)
  p = _make("random", knowledge=attacks.attacker_knowledge(inter))
  poisoned = attacks.inject(clean, p)
  assert poisoned.num_users == NUM_USERS + 10
  deg = np.asarray(poisoned.degrees())
  np.testing.assert_array_equal(deg[:NUM_USERS], np.asarray(clean.degrees()))
  np.testing.assert_array_equal(deg[NUM_USERS:], [14] * 7 + [0] * 3)
  for a, b in zip(jax.tree.leaves(before), jax.tree.leaves(clean)):
    np.testing.assert_array_equal(a, b)
  host, is_fake = attacks.poisoned_interactions(inter, p)
  assert host.num_users == NUM_USERS + 7 and is_fake.sum() == 7 and len(host) == len(inter) + 98


def _pipeline(recipe, vectorize, epochs=3, targets=((37,), (38,)), budgets=(3, 6), seeds=(0,),
              inter=None):
  inter = _toy(ratings=False) if inter is None else inter
  train, test = data.leave_one_out(inter, seed=0)
  tr, te = data.index_interactions(train), data.index_interactions(test)
  victim = _bpr_mf(epochs)
  return attacks.run_poisoning(
      recipe, knowledge=attacks.attacker_knowledge(train), clean=tr, victim=victim,
      evaluator=metrics.make_evaluator(tr, te, ks=(5,)),
      target_evaluator=metrics.make_target_evaluator(tr, ks=(5,)),
      target_sets=np.asarray(targets), budgets=list(budgets), seeds=list(seeds),
      vectorize=vectorize)


def test_vmapped_grid_equals_python_loop():
  recipe = functools.partial(attacks.random_attack, capacity=6, filler_size=5)
  vec = _pipeline(recipe, True, seeds=(0, 1))
  loop = _pipeline(recipe, False, seeds=(0, 1))
  assert [(r.targets.tolist(), r.num_fake, r.seed) for r in vec] == \
      [(r.targets.tolist(), r.num_fake, r.seed) for r in loop]
  assert [(r.targets.tolist(), r.num_fake, r.seed) for r in vec][:3] == \
      [([37], 3, 0), ([37], 3, 1), ([37], 6, 0)]
  for a, b in zip(vec, loop):
    assert a.exposure[0]["target_rank"][None] == pytest.approx(b.exposure[0]["target_rank"][None],
                                                               rel=1e-5)
    assert a.exposure[0]["target_score"][None] == pytest.approx(
        b.exposure[0]["target_score"][None], rel=1e-4, abs=1e-6)
    assert a.evaluation["ndcg"][5] == pytest.approx(b.evaluation["ndcg"][5], abs=1e-6)
    np.testing.assert_array_equal(a.profiles.items, b.profiles.items)


def test_a_subset_of_cells_gives_the_full_grids_numbers_and_reports_each_cell():
  """What a resumed grid relies on: running the unfinished cells alone gives the numbers they
  have in the full grid (same capacity, same program), and on_cell sees each as it finishes."""
  recipe = functools.partial(attacks.random_attack, capacity=6, filler_size=5)
  full = _pipeline(recipe, False)
  seen = []
  inter = _toy(ratings=False)
  train, test = data.leave_one_out(inter, seed=0)
  tr, te = data.index_interactions(train), data.index_interactions(test)
  common = dict(knowledge=attacks.attacker_knowledge(train), clean=tr, victim=_bpr_mf(3),
                evaluator=metrics.make_evaluator(tr, te, ks=(5,)),
                target_evaluator=metrics.make_target_evaluator(tr, ks=(5,)),
                target_sets=np.asarray(((37,), (38,))), budgets=[3, 6], seeds=[0],
                vectorize=False)
  part = attacks.run_poisoning(recipe, cells=[{"targets": 1, "num_fake": 6, "seed": 0},
                                              {"targets": 0, "num_fake": 3, "seed": 0}],
                               on_cell=lambda i, r: seen.append((i, r.num_fake)), **common)
  assert seen == [(0, 6), (1, 3)]
  # full grid order: (37, 3), (37, 6), (38, 3), (38, 6)
  for got, want in ((part[0], full[3]), (part[1], full[0])):
    assert got.targets.tolist() == want.targets.tolist() and got.num_fake == want.num_fake
    assert got.exposure[0]["target_rank"][None] == want.exposure[0]["target_rank"][None]
    assert got.evaluation["ndcg"][5] == want.evaluation["ndcg"][5]
  with pytest.raises(ValueError, match="not in the grid"):
    attacks.run_poisoning(recipe, cells=[{"targets": 2, "num_fake": 3, "seed": 0}], **common)
  with pytest.raises(ValueError, match="at least one cell"):
    attacks.run_poisoning(recipe, cells=[], **common)


def test_pipeline_rejects_bad_grids():
  recipe = functools.partial(attacks.random_attack, capacity=6, filler_size=5)
  for bad in ((7,), (0,), (2.5,)):
    with pytest.raises(ValueError, match="budget"):
      _pipeline(recipe, True, budgets=bad)
  with pytest.raises(ValueError, match="seed must be an integer"):
    _pipeline(recipe, True, seeds=(-1,))
  for bad in (np.int64(-1), np.float64(0.5), 2**32):
    with pytest.raises(ValueError, match="seed must be an integer"):
      _pipeline(recipe, True, seeds=(bad,))
  for bad in (np.int64(0), np.float32(2.5), np.float64(np.nan), np.int32(7)):
    with pytest.raises(ValueError, match="budget"):
      _pipeline(recipe, True, budgets=(bad,))
  with pytest.raises(ValueError, match="must not be empty"):
    _pipeline(recipe, True, budgets=())
  with pytest.raises(ValueError, match="whole catalogue"):
    _pipeline(functools.partial(attacks.random_attack, capacity=6, filler_size=39), True)
  with pytest.raises(ValueError, match=r"target_sets must lie in \[0, 40\)"):
    _pipeline(recipe, True, targets=((40,),))
  with pytest.raises(ValueError, match="repeats"):
    _pipeline(recipe, True, targets=((3, 3),))
  with pytest.raises(ValueError, match="must not be empty"):
    _pipeline(recipe, True, targets=np.zeros((1, 0), int))


def test_push_raises_and_nuke_lowers_the_target():
  """Against BPR-MF, a large push attack moves the target up the real users' rankings (lower
  mean rank, positive prediction shift) and a nuke attack moves it down. The push is a segment
  attack aimed at the target's fans (segment = the items they like). On implicit data a dislike
  cannot be injected; the love/hate nuke instead makes fake users interact with almost every
  other item, so BPR samples the target as their negative item at a high rate."""
  inter = _toy(ratings=False)
  train, _ = data.leave_one_out(inter, seed=0)
  tr = data.index_interactions(train)
  victim = _bpr_mf(40)
  clean_params, _ = jax.jit(training.fit_victim, static_argnums=0)(victim, tr, jax.random.key(0))
  targets = np.array([[20], [25], [30]])
  clean = metrics.target_exposure(victim.model, clean_params, tr, targets[:, 0], ks=(5,))
  u, i = np.asarray(train.users), np.asarray(train.items)
  moved = {"push": ([], []), "nuke": ([], [])}
  for t, c in zip(targets, clean):
    fans_items = i[np.isin(u, np.unique(u[i == t[0]]))]
    segment = np.isin(np.arange(NUM_ITEMS), fans_items) & (np.arange(NUM_ITEMS) != t[0])
    for name, recipe in [
        ("push", functools.partial(attacks.segment_attack, segment=segment, capacity=30,
                                   filler_size=6, num_selected=6)),
        ("nuke", functools.partial(attacks.love_hate_attack, capacity=30, filler_size=36))]:
      r = _pipeline(recipe, True, epochs=40, targets=[t], budgets=(30,), inter=inter)[0]
      moved[name][0].append(r.exposure[0]["target_rank"][None] - c["target_rank"][None])
      moved[name][1].append(r.exposure[0]["target_score"][None] - c["target_score"][None])
  (push_ranks, push_shifts), (nuke_ranks, nuke_shifts) = moved["push"], moved["nuke"]
  assert all(d < 0 for d in push_ranks) and all(d > 0 for d in push_shifts), moved
  assert all(d > 0 for d in nuke_ranks) and all(d < 0 for d in nuke_shifts), moved
