"""The content surface: CNN extractor, VBPR, AMR, pixel and feature attacks, content metrics.

Everything runs on generated images (a few seconds each); the real-data study is
``experiments/visual_attacks.py``.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxrec import data, defenses, metrics, models, training
from jaxrec.attacks import content


def _index(num_users=12, num_items=10, per_user=4, seed=0):
  rng = np.random.default_rng(seed)
  users = np.repeat(np.arange(num_users), per_user)
  items = np.concatenate([rng.choice(num_items, per_user, replace=False)
                          for _ in range(num_users)])
  return data.index_interactions(data.from_arrays(users, items, num_users=num_users,
                                                  num_items=num_items))


def _patterns(n_per_class=12, size=16, seed=0):
  """Two easy classes: bright upper half vs bright lower half, with noise; (N, size, size, 1)."""
  rng = np.random.default_rng(seed)
  imgs, labels = [], []
  for c in range(2):
    for _ in range(n_per_class):
      x = rng.uniform(0.0, 0.3, (size, size, 1))
      if c == 0:
        x[: size // 2] += 0.6
      else:
        x[size // 2:] += 0.6
      imgs.append(x)
      labels.append(c)
  return np.clip(np.stack(imgs), 0, 1).astype(np.float32), np.asarray(labels, np.int32)


def test_score_gradient_wrt_pixels_matches_central_differences():
  """d s(u, i) / d pixels, through VBPR and the CNN, equals central finite differences (float64)."""
  with jax.enable_x64(True):
    ext = models.extractor(num_classes=3, widths=(2, 3), feature_dim=4)
    key = jax.random.key(0)
    cnn = ext.init(key, (8, 8, 2), dtype=jnp.float64)
    idx = _index(num_users=3, num_items=4, per_user=2)
    images = jax.random.uniform(jax.random.key(1), (4, 8, 8, 2), jnp.float64)
    cd = models.content_data(idx, ext.features(cnn, images))
    model = models.vbpr(dim=2, visual_dim=3, stddev=0.5)
    params = jax.tree.map(lambda x: x.astype(jnp.float64), model.init(jax.random.key(2), cd))
    params = params.replace(visual_bias=jnp.linspace(-1, 1, 4))

    def score(img):  # user 1's score of item 2 with item 2's image replaced
      d = content.replace_features(cd, jnp.array([2]), ext.features(cnn, img[None]))
      return model.score(params, d, jnp.array([1]), jnp.array([2]))[0]

    x0 = images[2]
    grad = jax.grad(score)(x0)
    assert float(jnp.max(jnp.abs(grad))) > 1e-6  # a real signal, not an all-zero gradient
    rng = np.random.default_rng(0)
    h = 1e-6
    for _ in range(12):
      pos = tuple(int(rng.integers(s)) for s in x0.shape)
      e = jnp.zeros_like(x0).at[pos].set(h)
      fd = (score(x0 + e) - score(x0 - e)) / (2 * h)
      assert float(grad[pos]) == pytest.approx(float(fd), rel=1e-5, abs=1e-9)


def test_vbpr_scores_follow_the_formula():
  idx = _index(num_users=2, num_items=3, per_user=2)
  feats = jnp.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
  cd = models.content_data(idx, feats)
  model = models.vbpr(dim=1, visual_dim=1)
  p = models.VBPRParams(user_emb=jnp.array([[1.0], [2.0]]), item_emb=jnp.array([[1.0], [0.5],
                                                                              [-1.0]]),
                        item_bias=jnp.array([0.1, 0.2, 0.3]),
                        user_visual=jnp.array([[1.0], [-1.0]]),
                        proj=jnp.array([[2.0], [1.0]]), visual_bias=jnp.array([0.5, -0.5]))
  # s(u, i) = b_i + g_u g_i + t_u (E^T f_i) + beta' f_i
  proj = np.array([2.0, 2.0, 3.0])  # E^T f_i
  vb = np.array([0.5, -1.0, 0.0])  # beta' . f_i
  expect = np.array([[[0.1, 0.2, 0.3][i] + [1.0, 2.0][u] * [1.0, 0.5, -1.0][i]
                      + [1.0, -1.0][u] * proj[i] + vb[i] for i in range(3)] for u in range(2)])
  np.testing.assert_allclose(model.score_all(p, cd, jnp.arange(2)), expect, rtol=1e-6)
  np.testing.assert_allclose(model.score(p, cd, jnp.array([1, 0]), jnp.array([2, 1])),
                             [expect[1, 2], expect[0, 1]], rtol=1e-6)
  with pytest.raises(ValueError, match=r"users must lie in \[0, 2\)"):
    model.score_all(p, cd, jnp.array([5]))


def test_content_data_checks_its_features():
  idx = _index(num_users=2, num_items=3, per_user=1)
  with pytest.raises(ValueError, match="rows"):
    models.content_data(idx, np.zeros((4, 2), np.float32))
  with pytest.raises(ValueError, match="NaN"):
    models.content_data(idx, np.full((3, 2), np.nan, np.float32))


def _trained_vbpr(seed=0):
  idx = _index(num_users=20, num_items=12, per_user=4, seed=seed)
  feats = jax.random.normal(jax.random.key(3), (12, 6))
  cd = models.content_data(idx, feats)
  victim = training.Victim(models.vbpr(dim=4, visual_dim=3), optax.adam(0.05), num_epochs=20,
                           batch_size=32)
  params, _ = training.fit_victim(victim, cd, jax.random.key(seed))
  return victim, cd, params


def test_amr_adversarial_term_makes_every_batch_harder():
  """AMR's perturbation (explicit eps, normalised per item row) raises the BPR loss, more than a
  random perturbation of the same norms, and each touched row has norm exactly eps."""
  victim, cd, params = _trained_vbpr()
  model = victim.model
  for seed in range(3):
    batch = data.sample_bpr_triples(jax.random.key(seed), cd.positives, 16)
    clean = model.pair_scores(params, cd.features, batch)
    eps = 0.3
    adv, delta = content.perturb_features(content.feature_bpr_loss, cd.features,
                                          (model, params, batch, None), eps=eps)
    hard = model.pair_scores(params, adv, batch)
    rand = jax.random.normal(jax.random.key(10 + seed), delta.shape)
    norms = jnp.linalg.norm(delta, axis=1, keepdims=True)
    rand = jnp.where(norms > 0, rand / jnp.linalg.norm(rand, axis=1, keepdims=True) * eps, 0.0)
    soft = model.pair_scores(params, cd.features + rand, batch)
    from jaxrec import losses
    l_clean, l_adv, l_rand = (float(losses.bpr(*s)) for s in (clean, hard, soft))
    assert l_adv > l_clean
    assert l_adv > l_rand
    touched = np.unique(np.concatenate([batch.pos_items, batch.neg_items]))
    np.testing.assert_allclose(np.asarray(norms)[touched, 0], eps, rtol=1e-5)
    untouched = np.setdiff1d(np.arange(cd.num_items), touched)
    assert np.all(np.asarray(norms)[untouched] == 0)


def test_amr_with_lambda_zero_is_vbpr():
  victim, cd, params = _trained_vbpr()
  batch = data.sample_bpr_triples(jax.random.key(5), cd.positives, 16)
  plain = jax.value_and_grad(victim.model.loss)(params, batch, cd)
  zero = jax.value_and_grad(defenses.amr(victim, eps=0.5, lambda_=0.0).objective)(
      params, batch, cd)
  assert float(plain[0]) == pytest.approx(float(zero[0]), rel=1e-6)
  for a, b in zip(jax.tree.leaves(plain[1]), jax.tree.leaves(zero[1])):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
  with pytest.raises(ValueError, match="VBPR"):
    defenses.amr(training.Victim(models.mf(dim=2)))


def test_amr_training_is_deterministic_and_changes_the_model():
  victim, cd, params = _trained_vbpr()
  adv = defenses.amr(victim, eps=0.5, num_steps=1).replace(num_epochs=3)
  a, _ = training.fit_victim(adv, cd, jax.random.key(0))
  b, _ = training.fit_victim(adv, cd, jax.random.key(0))
  c, _ = training.fit_victim(victim.replace(num_epochs=3), cd, jax.random.key(0))
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_array_equal(x, y)
  assert not np.allclose(a.user_visual, c.user_visual)


def test_pixel_attacks_respect_the_budget_and_the_box():
  images, labels = _patterns(n_per_class=4, size=12)
  ext = models.extractor(num_classes=2, widths=(4,), feature_dim=4)
  cnn = ext.init(jax.random.key(0), images.shape[1:])
  target = 1
  clean = float(content.category_loss(jnp.asarray(images), (ext, cnn, target)))
  for eps, steps, key in ((8, 1, None), (4, 5, jax.random.key(1)), (32, 3, jax.random.key(2))):
    adv, delta = content.perturb_images(content.category_loss, images, (ext, cnn, target),
                                        eps=eps, num_steps=steps, key=key)
    assert float(jnp.max(jnp.abs(adv - images))) <= eps / 255 + 1e-6
    assert float(adv.min()) >= 0.0 and float(adv.max()) <= 1.0
    assert float(content.category_loss(adv, (ext, cnn, target))) < clean
  adv, _ = content.perturb_images(content.category_loss, images, (ext, cnn, 1), eps=255,
                                  num_steps=2, key=jax.random.key(3))
  assert float(adv.min()) >= 0.0 and float(adv.max()) <= 1.0
  with pytest.raises(ValueError, match="/255"):
    content.perturb_images(content.category_loss, images, (ext, cnn, 1), eps=300)
  with pytest.raises(ValueError, match="/255"):
    content.perturb_images(content.category_loss, images, (ext, cnn, 1), eps=-1)
  with pytest.raises(ValueError, match=r"\[0, 1\]"):
    content.perturb_images(content.category_loss, images * 255, (ext, cnn, 1), eps=8)
  with pytest.raises(ValueError, match="N, H, W, C"):
    content.perturb_images(content.category_loss, images[0], (ext, cnn, 1), eps=8)


def test_extractor_learns_and_the_targeted_attack_flips_it():
  images, labels = _patterns()
  ext = models.extractor(num_classes=2, widths=(4, 8), feature_dim=8)
  cnn, values = training.train_extractor(jax.random.key(0), ext, images, labels, num_epochs=30,
                                         batch_size=8, tx=optax.adam(1e-2))
  assert float(values[-1]) < float(values[0])
  pred = np.asarray(ext.predict(cnn, images))
  assert np.mean(pred == labels) == 1.0
  # the scale: mean clean feature norm 1
  assert float(jnp.mean(jnp.linalg.norm(ext.features(cnn, images), axis=1))) == pytest.approx(
      1.0, rel=1e-4)
  src = images[labels == 0]
  adv, _ = content.perturb_images(content.category_loss, src, (ext, cnn, 1), eps=128,
                                  num_steps=20, key=jax.random.key(0))
  assert np.mean(np.asarray(ext.predict(cnn, adv)) == 1) > 0.9
  # same seed, same weights
  again, _ = training.train_extractor(jax.random.key(0), ext, images, labels, num_epochs=30,
                                      batch_size=8, tx=optax.adam(1e-2))
  for a, b in zip(jax.tree.leaves(cnn), jax.tree.leaves(again)):
    np.testing.assert_array_equal(a, b)


def test_madry_adversary_raises_the_loss_within_budget():
  images, labels = _patterns(n_per_class=6, size=12)
  ext = models.extractor(num_classes=2, widths=(4,), feature_dim=4)
  cnn, _ = training.train_extractor(jax.random.key(0), ext, images, labels, num_epochs=5,
                                    batch_size=6)
  adversary = defenses.madry_adversary(ext, eps=16, num_steps=3)
  adv = adversary(cnn, jnp.asarray(images), jnp.asarray(labels), jax.random.key(1))
  assert float(jnp.max(jnp.abs(adv - images))) <= 16 / 255 + 1e-6
  assert float(ext.loss(cnn, adv, labels)) > float(ext.loss(cnn, images, labels))
  with pytest.raises(ValueError, match="255"):
    defenses.madry_adversary(ext, eps=256)


def test_score_push_raises_the_pushed_items_scores():
  victim, cd, params = _trained_vbpr()
  images = jax.random.uniform(jax.random.key(0), (12, 12, 12, 1))
  ext = models.extractor(num_classes=2, widths=(4,), feature_dim=6)
  cnn = ext.init(jax.random.key(1), (12, 12, 1))
  cd = cd.replace(features=ext.features(cnn, images))
  items = jnp.array([3, 7])
  users = jnp.arange(cd.num_users)
  args = (victim.model, params, cd, ext, cnn, items, users)
  adv, _ = content.perturb_images(content.score_push_loss, images[items], args, eps=16,
                                  num_steps=5)
  before = victim.model.score_all(params, cd, users)[:, items].mean(0)
  pushed = content.replace_features(cd, items, ext.features(cnn, adv))
  after = victim.model.score_all(params, pushed, users)[:, items].mean(0)
  assert np.all(np.asarray(after) > np.asarray(before))
  others = np.setdiff1d(np.arange(12), np.asarray(items))
  np.testing.assert_array_equal(victim.model.score_all(params, pushed, users)[:, others],
                                victim.model.score_all(params, cd, users)[:, others])


def test_category_hit_ratio_by_hand():
  items = np.array([[0, 1, 2], [2, 3, 4]])
  valid = np.array([[True, True, True], [True, True, False]])
  member = np.array([True, False, True, False, True])
  # user 0: items 0, 2 -> 2 of 3; user 1: item 2 (item 4's slot is empty) -> 1 of 3
  assert metrics.category_hit_ratio(items, valid, member) == pytest.approx(3 / 6)
  with pytest.raises(ValueError, match="item ids"):
    metrics.category_hit_ratio(np.array([[5]]), np.array([[True]]), member)


def test_perceptibility_of_a_known_shift():
  clean = np.full((2, 16, 16, 3), 0.5, np.float32)
  shifted = clean + 4 / 255
  out = metrics.perceptibility(clean, shifted)
  np.testing.assert_allclose(out["psnr"], 20 * math.log10(255 / 4), rtol=1e-4)
  assert np.all(out["ssim"] > 0.99) and np.all(out["ssim"] <= 1.0)
  with pytest.raises(ValueError, match="H, W >= 11"):
    metrics.perceptibility(clean[:, :8, :8], shifted[:, :8, :8])


def test_extractor_save_and_load_roundtrip(tmp_path):
  ext = models.extractor(num_classes=3, widths=(4, 4), feature_dim=5, multi_label=True)
  cnn = ext.init(jax.random.key(0), (8, 8, 3))
  cnn = dict(cnn, scale=jnp.float32(2.5))
  path = tmp_path / "cnn.npz"
  models.save_extractor(path, ext, cnn)
  ext2, cnn2 = models.load_extractor(path)
  assert ext2 == ext
  x = jax.random.uniform(jax.random.key(1), (2, 8, 8, 3))
  np.testing.assert_array_equal(ext.apply(cnn, x)[0], ext2.apply(cnn2, x)[0])
  bad = tmp_path / "bad.npz"
  np.savez(bad, x=np.zeros(2))
  with pytest.raises(ValueError, match="not a jaxrec extractor"):
    models.load_extractor(bad)


def test_the_docs_page_runs():
  """docs/visual.md: its code blocks run (they end with assertions on their results)."""
  import re
  from pathlib import Path
  doc = Path(__file__).resolve().parents[1] / "docs" / "visual.md"
  blocks = re.findall(r"```python\n(.*?)```", doc.read_text(), flags=re.S)
  assert len(blocks) == 2
  assert sum(1 for line in blocks[1].splitlines() if line.strip()) <= 10
  namespace: dict = {}
  for block in blocks:
    exec(compile(block, str(doc), "exec"), namespace)  # noqa: S102 - the project's own docs


@pytest.mark.parametrize("padding,kernel", [("SAME", (3, 3)), (((0, 1), (2, 0)), (2, 3)),
                                            ("VALID", (3, 3))])
def test_conv_with_handwritten_gradients_equals_lax(padding, kernel):
  from jaxrec.models._cnn import conv
  x = jax.random.normal(jax.random.key(0), (2, 7, 6, 3))
  w = jax.random.normal(jax.random.key(1), kernel + (3, 4))
  dims = ("NHWC", "HWIO", "NHWC")

  def ref(x, w):
    return jnp.sum(jnp.sin(jax.lax.conv_general_dilated(x, w, (1, 1), padding,
                                                        dimension_numbers=dims)))

  def ours(x, w):
    return jnp.sum(jnp.sin(conv(x, w, (1, 1), padding)))

  assert float(ours(x, w)) == pytest.approx(float(ref(x, w)), rel=1e-6)
  for a, b in zip(jax.grad(ref, (0, 1))(x, w), jax.grad(ours, (0, 1))(x, w)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
  with pytest.raises(NotImplementedError):
    conv(x, w, (2, 2), padding)


def test_top_k_push_aims_at_the_users_lists():
  victim, cd, params = _trained_vbpr()
  k = 3
  tau = content.kth_scores(victim.model, params, cd, cd.positives, k)
  scores = np.asarray(victim.model.score_all(params, cd, jnp.arange(cd.num_users)))
  nv = int(cd.positives.num_valid)
  seen = np.zeros(scores.shape, bool)
  seen[np.asarray(cd.positives.users[:nv]), np.asarray(cd.positives.items[:nv])] = True
  expect = np.sort(np.where(seen, -np.inf, scores), axis=1)[:, -k]
  np.testing.assert_allclose(tau, expect, rtol=1e-6, atol=1e-6)  # a score near 0 differs by ulps
  images = jax.random.uniform(jax.random.key(0), (12, 12, 12, 1))
  ext = models.extractor(num_classes=2, widths=(4,), feature_dim=6)
  cnn = ext.init(jax.random.key(1), (12, 12, 1))
  cd = cd.replace(features=ext.features(cnn, images))
  tau = content.kth_scores(victim.model, params, cd, cd.positives, k)
  items, users = jnp.array([3, 7]), jnp.arange(cd.num_users)
  args = (victim.model, params, cd, ext, cnn, items, users, tau, 0.1)
  adv, _ = content.perturb_images(content.top_k_push_loss, images[items], args, eps=16,
                                  num_steps=5)
  assert float(content.top_k_push_loss(adv, args)) < float(
      content.top_k_push_loss(images[items], args))


def test_bad_inputs_of_the_content_api_are_named(tmp_path):
  with pytest.raises(ValueError, match="boolean mask"):
    metrics.category_hit_ratio(np.array([[0, 1]]), np.array([[True, True]]), np.array([1, 0, 1]))
  with pytest.raises(ValueError, match="k >= 1"):
    metrics.category_hit_ratio(np.zeros((2, 0), int), np.zeros((2, 0), bool), np.ones(3, bool))
  with pytest.raises(ValueError, match=r"\[0, 1\]"):
    metrics.perceptibility(np.full((1, 12, 12, 1), 200.0), np.full((1, 12, 12, 1), 201.0))
  ext = models.extractor(num_classes=3, widths=(2,))
  cnn = ext.init(jax.random.key(0), (12, 12, 1))
  images = np.zeros((2, 12, 12, 1), np.float32)
  with pytest.raises(ValueError, match=r"target must lie in \[0, 3\)"):
    content.category_loss(images, (ext, cnn, 5))
  with pytest.raises(ValueError, match=r"eps of shape \(2,\) does not broadcast"):
    content.perturb_images(content.category_loss, images, (ext, cnn, 1), eps=np.array([4, 8]))
  adv, _ = content.perturb_images(content.category_loss, images, (ext, cnn, 1),
                                  eps=np.array([0.0, 8.0]).reshape(2, 1, 1, 1), num_steps=1)
  assert float(jnp.max(jnp.abs(adv[0] - images[0]))) == 0.0
  with pytest.warns(UserWarning, match="for 8/255 pass eps=8"):
    content.perturb_images(content.category_loss, images, (ext, cnn, 1), eps=8 / 255,
                           num_steps=1)
  path = tmp_path / "cnn.npz"
  models.save_extractor(path, ext, cnn)
  with np.load(path) as z:
    arrays = dict(z)
  arrays["cnn/params/Conv_0/kernel"] = np.zeros((3, 3, 1, 5), np.float32)
  np.savez(tmp_path / "bad.npz", **arrays)
  with pytest.raises(ValueError, match=r"has shape \(3, 3, 1, 5\), the configuration needs"):
    models.load_extractor(tmp_path / "bad.npz")
  (tmp_path / "text.npz").write_text("not an archive")
  with pytest.raises(ValueError, match="not a jaxrec extractor file"):
    models.load_extractor(tmp_path / "text.npz")
  from jaxrec.audit import ContentSettings
  from jaxrec.audit._content_section import check_image_size
  with pytest.raises(ValueError, match="too small"):
    check_image_size((8, 8), ContentSettings())
  check_image_size((11, 11), ContentSettings())
