"""Pixel PGD through CNN + VBPR in one program versus two (extract, then recommend), as ratios.

Usage::

  python benchmarks/visual_pgd.py [--variants posters fashion] [--batches 10 100]
                                  [--repeats 20] [--catalogue-repeats 5] [--out DIR]
  python benchmarks/visual_pgd.py --quick   # posters, batch 10, no probe (under a minute)

Issue 11's done criterion: one PGD step through CNN + VBPR for a batch of items, and the feature
re-extraction of the catalogue, against the same computation done in two separate programs
(extract, then recommend) as the published pipelines do (features extracted in one framework,
recommendation in another, arrays handed over through the host).

Sizes (MovieLens-100K-like): 943 users, 1,682 items, 100,000 random positives; ``posters``:
random 72 x 48 x 3 images (the size of ``jaxrec.data.load_movielens_posters``), an untrained
``models.extractor(num_classes=19, widths=(16, 32, 64), feature_dim=64)``; ``fashion``: the
600 bundled Fashion-MNIST images (``data.bundled_fashion_mnist``, 28 x 28 x 1) tiled over the
1,682 items, ``num_classes=10``. VBPR parameters from ``models.vbpr(dim=32, visual_dim=32).init``
(random, fixed seeds); the catalogue features are the CNN's features of the clean images.

1. PGD step (FGSM from the clean image, eps = 8/255) on the images of B items, raising their mean
   score over all 943 users (``attacks.content.score_push_loss``):

   * joint: one jitted ``perturb_images(score_push_loss, images[items], args, eps=8,
     num_steps=1)``: the gradient runs from the scores through VBPR and the CNN to the pixels in
     one XLA program;
   * two-program: program A (jitted) takes the batch items' features (rows of the catalogue
     features held on the host, which are the CNN's features of the clean images) and returns
     d loss / d features ``(B, F)``, copied to the host (``np.asarray``); program B (jitted)
     back-propagates that cotangent through the CNN with ``jax.vjp`` (its forward pass
     included) to the pixels and applies the sign step and the box projection; its result is
     copied to the host. Both sides do one CNN forward and backward and one recommender forward
     and backward; the joint result is copied to the host too.
   * joint without the scan: the same one-program step written out (``jax.grad`` of
     ``score_push_loss``, sign step, the same projections) without the one-step ``lax.scan`` of
     ``jaxrec.optim.run`` that ``perturb_images`` goes through: on XLA:CPU a convolution's
     gradient inside a loop body takes a slow path (part 3), so this row separates "one program
     versus two" from that.

   The three must give the same perturbed images (checked before timing).
2. Catalogue: re-extract the features of all 1,682 images, score every item for every user
   (``VBPR.score_all``) and take each user's top 10 (``jax.lax.top_k``): joint = one jitted
   program; two-program = ``jit(ext.features)`` -> host -> ``jit(score_all + top_k)`` -> host.
   The two must give the same lists (checked).
3. Conv probe (not with ``--quick`` or ``--no-conv-probe``): one 3x3 conv layer of the posters
   CNN, its input gradient and its kernel gradient as plain programs and inside a one-step
   ``lax.scan``, and both with the transposes written out in a ``custom_vjp`` (in and out of the
   scan); medians of 5.

Reported: medians over ``--repeats`` (step) and ``--catalogue-repeats`` (catalogue) after one
warm-up call, the joint and the two-program runs interleaved call by call (so a change of load
hits both), compile time apart (``jit(...).lower(...).compile()``; the two-program compile is
the sum of its programs'), and the ratio two-program / joint (above 1: the joint program is
faster). The CPU time other processes used during each part is printed (these 2-core machines
are shared): compare ratios, not seconds across runs.

The two-program baseline is a lower bound on the published pipelines' overhead: both programs
are XLA programs of one process, so no framework conversion (e.g. TensorFlow -> NumPy ->
PyTorch) and no file hand-over is counted, only the host round trips and the lost fusion.

With ``--out DIR`` the numbers are written as a tidy ``DIR/report.json`` (``metric="step_ms"``,
``"catalogue_ms"``, ``"compile_s"``, ``"two_program_over_joint"``,
``"two_program_over_joint_no_scan"``, ``"grad_ms"``; keys ``part``, ``variant``, ``batch``,
``program``, ``case``).
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bpr_epoch import OtherLoad  # noqa: E402  pylint: disable=wrong-import-position

from jaxrec import data, models, report  # noqa: E402
from jaxrec.attacks import content  # noqa: E402

NUM_USERS, NUM_ITEMS, NUM_PAIRS = 943, 1682, 100_000
EPS = 8.0  # /255
TOP_K = 10


class Setup:
  """Random-but-fixed catalogue, extractor, VBPR and data of one variant."""

  def __init__(self, variant: str):
    rng = np.random.default_rng(0)
    if variant == "posters":
      shape, classes = (72, 48, 3), 19
      self.images = rng.random((NUM_ITEMS,) + shape, dtype=np.float32)
    else:
      fm, _ = data.bundled_fashion_mnist()
      shape, classes = fm.shape[1:], 10
      self.images = np.ascontiguousarray(fm[np.arange(NUM_ITEMS) % fm.shape[0]])
    self.variant, self.shape = variant, shape
    self.ext = models.extractor(num_classes=classes, widths=(16, 32, 64), feature_dim=64)
    self.cnn = self.ext.init(jax.random.key(1), shape)
    feats = jax.jit(self.ext.features)(self.cnn, self.images)
    users = rng.integers(0, NUM_USERS, NUM_PAIRS)
    items = rng.integers(0, NUM_ITEMS, NUM_PAIRS)
    idx = data.build_index(users, items, num_users=NUM_USERS, num_items=NUM_ITEMS)
    self.data = models.content_data(idx, feats)
    self.host_features = np.asarray(feats)
    self.model = models.vbpr(dim=32, visual_dim=32)
    self.params = self.model.init(jax.random.key(2), self.data)
    self.users = jnp.arange(NUM_USERS, dtype=jnp.int32)


# ---------------------------------------------------------------- the PGD step


def joint_step(images_b, model, params, data_, ext, cnn, items, users):
  args = (model, params, data_, ext, cnn, items, users)
  return content.perturb_images(content.score_push_loss, images_b, args, eps=EPS,
                                num_steps=1)[0]


def joint_step_no_scan(images_b, model, params, data_, ext, cnn, items, users):
  """The joint step written without ``perturb_images``' one-step ``lax.scan`` (same math)."""
  args = (model, params, data_, ext, cnn, items, users)
  g = jax.grad(content.score_push_loss)(images_b, args)
  return _sign_step(images_b, g)


def _sign_step(images_b, g):
  radius = content.pixel_eps(EPS)
  delta = jnp.clip(-radius * jnp.sign(g), -radius, radius)
  delta = jnp.clip(images_b + delta, 0.0, 1.0) - images_b  # the box, as the pgd transform
  return jnp.clip(images_b + delta, 0.0, 1.0)


def feature_grad(feats_b, model, params, data_, items, users):
  """Program A: d (score_push_loss) / d (features of the batch items), the recommender side."""

  def loss(fb):
    d = content.replace_features(data_, items, fb)
    scoring_model, scoring_params = model.scoring(params, d)
    scores = scoring_model.score_all(scoring_params, d, users)
    return -jnp.sum(jnp.mean(jnp.take(scores, items, axis=1), axis=0))

  return jax.grad(loss)(feats_b)


def pixel_step(images_b, cotangent, ext, cnn):
  """Program B: the cotangent back through the CNN to the pixels, sign step, projections."""
  _, vjp = jax.vjp(lambda x: ext.features(cnn, x), images_b)
  (g,) = vjp(cotangent)
  return _sign_step(images_b, g)


def _compile(fn, *args):
  jax.clear_caches()  # else a program of the same shapes (program A across variants) is reused
  t = time.perf_counter()
  compiled = jax.jit(fn).lower(*args).compile()
  return compiled, time.perf_counter() - t


def _interleaved(runs: dict, repeats: int) -> dict:
  """Median seconds of each callable after one warm-up call, the callables taking turns."""
  for f in runs.values():
    f()
  times = {name: [] for name in runs}
  for _ in range(repeats):
    for name, f in runs.items():
      t = time.perf_counter()
      f()
      times[name].append(time.perf_counter() - t)
  return {name: statistics.median(ts) for name, ts in times.items()}


def step_bench(s: Setup, batch: int, repeats: int, rows: list) -> None:
  items_np = np.sort(np.random.default_rng(batch).choice(NUM_ITEMS, batch, replace=False))
  items = jnp.asarray(items_np, jnp.int32)
  images_b = jnp.asarray(s.images[items_np])
  jargs = (images_b, s.model, s.params, s.data, s.ext, s.cnn, items, s.users)
  joint, c_joint = _compile(joint_step, *jargs)
  no_scan, c_no_scan = _compile(joint_step_no_scan, *jargs)
  feats_b0 = s.host_features[items_np]
  prog_a, c_a = _compile(feature_grad, feats_b0, s.model, s.params, s.data, items, s.users)
  cot0 = np.asarray(prog_a(feats_b0, s.model, s.params, s.data, items, s.users))
  prog_b, c_b = _compile(pixel_step, images_b, cot0, s.ext, s.cnn)

  def run_two():
    feats_b = s.host_features[items_np]  # the extract program's output, on the host
    cot = np.asarray(prog_a(feats_b, s.model, s.params, s.data, items, s.users))
    return np.asarray(prog_b(images_b, cot, s.ext, s.cnn))

  runs = {"joint": lambda: np.asarray(joint(*jargs)), "two-program": run_two,
          "joint-no-scan": lambda: np.asarray(no_scan(*jargs))}
  compile_s = {"joint": c_joint, "two-program": c_a + c_b, "joint-no-scan": c_no_scan}
  out = {name: f() for name, f in runs.items()}
  changed = np.abs(out["joint"] - np.asarray(images_b)) > 0
  assert changed.mean() > 0.5, f"the step moved only {changed.mean():.1%} of the pixels"
  for name in ("two-program", "joint-no-scan"):  # the same perturbed images
    np.testing.assert_allclose(out[name], out["joint"], rtol=0, atol=1e-6, err_msg=name)
  med = _interleaved(runs, repeats)
  ratio = med["two-program"] / med["joint"]
  ratio_ns = med["two-program"] / med["joint-no-scan"]
  print(f"  step, B = {batch:3d}: joint {1e3 * med['joint']:8.2f} ms (compile {c_joint:.2f} s)"
        f" | two-program {1e3 * med['two-program']:8.2f} ms (compile {c_a:.2f} + {c_b:.2f} s)"
        f" | joint without the scan {1e3 * med['joint-no-scan']:8.2f} ms (compile "
        f"{c_no_scan:.2f} s)\n               two-program / joint {ratio:.2f}x, two-program / "
        f"joint without the scan {ratio_ns:.2f}x")
  keys = dict(attack="score-push-pgd", budget=EPS, part="step", variant=s.variant, batch=batch)
  for prog in runs:
    rows.append(report.make_row(model="vbpr+cnn", metric="step_ms", value=1e3 * med[prog],
                                program=prog, repeats=repeats, **keys))
    rows.append(report.make_row(model="vbpr+cnn", metric="compile_s", value=compile_s[prog],
                                program=prog, **keys))
  rows.append(report.make_row(model="vbpr+cnn", metric="two_program_over_joint", value=ratio,
                              **keys))
  rows.append(report.make_row(model="vbpr+cnn", metric="two_program_over_joint_no_scan",
                              value=ratio_ns, **keys))


# ------------------------------------------------------------------ the catalogue


def catalogue_joint(images, model, params, data_, ext, cnn, users):
  d = data_.replace(features=ext.features(cnn, images))
  return jax.lax.top_k(model.score_all(params, d, users), TOP_K)[1]


def catalogue_extract(images, ext, cnn):
  return ext.features(cnn, images)


def catalogue_recommend(feats, model, params, data_, users):
  d = data_.replace(features=feats)
  return jax.lax.top_k(model.score_all(params, d, users), TOP_K)[1]


def catalogue_bench(s: Setup, repeats: int, rows: list) -> None:
  images = jnp.asarray(s.images)
  jargs = (images, s.model, s.params, s.data, s.ext, s.cnn, s.users)
  joint, c_joint = _compile(catalogue_joint, *jargs)
  extract, c_e = _compile(catalogue_extract, images, s.ext, s.cnn)
  recommend, c_r = _compile(catalogue_recommend, s.host_features, s.model, s.params, s.data,
                            s.users)

  def run_joint():
    return np.asarray(joint(*jargs))

  def run_two():
    feats = np.asarray(extract(images, s.ext, s.cnn))
    return np.asarray(recommend(feats, s.model, s.params, s.data, s.users))

  a, b = run_joint(), run_two()
  same = np.mean(a == b)
  assert same > 0.99, f"joint and two-program top-{TOP_K} lists agree on only {same:.1%}"
  med = _interleaved({"joint": run_joint, "two-program": run_two}, repeats)
  ratio = med["two-program"] / med["joint"]
  print(f"  catalogue ({NUM_ITEMS} images, {NUM_USERS} users, top {TOP_K}): joint "
        f"{1e3 * med['joint']:8.1f} ms (compile {c_joint:.2f} s) | two-program "
        f"{1e3 * med['two-program']:8.1f} ms (compile {c_e:.2f} + {c_r:.2f} s) | "
        f"two-program / joint {ratio:.2f}x  (lists agree on {same:.2%})")
  keys = dict(part="catalogue", variant=s.variant, batch=NUM_ITEMS)
  for prog, ms, comp in (("joint", med["joint"], c_joint),
                         ("two-program", med["two-program"], c_e + c_r)):
    rows.append(report.make_row(model="vbpr+cnn", metric="catalogue_ms", value=1e3 * ms,
                                k=TOP_K, program=prog, repeats=repeats, **keys))
    rows.append(report.make_row(model="vbpr+cnn", metric="compile_s", value=comp, k=TOP_K,
                                program=prog, **keys))
  rows.append(report.make_row(model="vbpr+cnn", metric="two_program_over_joint", value=ratio,
                              k=TOP_K, **keys))


# ---------------------------------------------------- why the library's joint step is slower

_DN = ("NHWC", "HWIO", "NHWC")


def _conv(x, k):
  return jax.lax.conv_general_dilated(x, k, (1, 1), "SAME", dimension_numbers=_DN)


@jax.custom_vjp
def _conv_explicit(x, k):
  return _conv(x, k)


def _conv_explicit_fwd(x, k):
  return _conv(x, k), (x, k)


def _conv_explicit_bwd(res, g):
  """Both gradients of a stride-1 3x3 SAME conv as plain NHWC x HWIO convolutions, the
  transposes written out (autodiff's transposed convs use other dimension labels)."""
  x, k = res
  gx = _conv(g, jnp.transpose(jnp.flip(k, (0, 1)), (0, 1, 3, 2)))  # kernel HWIO, not HWOI
  # kernel gradient: batch = input channel, feature = image, the output gradient as kernel
  gk = jax.lax.conv_general_dilated(jnp.transpose(x, (3, 1, 2, 0)),
                                    jnp.transpose(g, (1, 2, 0, 3)), (1, 1), ((1, 1), (1, 1)),
                                    dimension_numbers=_DN)
  return gx, jnp.transpose(gk, (1, 2, 0, 3))


_conv_explicit.defvjp(_conv_explicit_fwd, _conv_explicit_bwd)


def conv_probe(repeats: int, rows: list) -> None:
  """One 3x3 conv layer of the posters CNN (B = 10, 72 x 48, 16 -> 32 channels): its input
  gradient and its kernel gradient, as a plain program and inside a one-step ``lax.scan`` (what
  ``perturb_images`` and ``training.train_extractor`` run through ``jaxrec.optim.run``), and
  both with the transposes written out (a ``custom_vjp``)."""
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.random((10, 72, 48, 16), np.float32))
  k = jnp.asarray(rng.random((3, 3, 16, 32), np.float32) - 0.5)
  g = jnp.asarray(rng.random((10, 72, 48, 32), np.float32))

  def gx(conv, x_, k_):
    return jax.vjp(lambda xx: conv(xx, k_), x_)[1](g)[0]

  def gk(conv, x_, k_):
    return jax.vjp(lambda kk: conv(x_, kk), k_)[1](g)[0]

  def gx_in_scan(conv, x_, k_):  # the carry is the input, as the PGD iterate
    return jax.lax.scan(lambda c, _: (gx(conv, c, k_), None), x_, length=1)[0]

  def gk_in_scan(conv, x_, k_):  # the carry is the kernel, as in a training loop
    return jax.lax.scan(lambda c, _: (c - gk(conv, x_, c), None), k_, length=1)[0]

  cases = {"input grad": (_conv, gx), "input grad in scan": (_conv, gx_in_scan),
           "input grad, explicit kernel transpose": (_conv_explicit, gx),
           "input grad, explicit kernel transpose, in scan": (_conv_explicit, gx_in_scan),
           "kernel grad": (_conv, gk), "kernel grad in scan": (_conv, gk_in_scan),
           "kernel grad, explicit transposes": (_conv_explicit, gk),
           "kernel grad, explicit transposes, in scan": (_conv_explicit, gk_in_scan)}
  fns = {n: jax.jit(functools.partial(f, c)) for n, (c, f) in cases.items()}
  for a, b in (("input grad", "input grad, explicit kernel transpose, in scan"),
               ("kernel grad in scan", "kernel grad, explicit transposes, in scan")):
    np.testing.assert_allclose(fns[b](x, k), fns[a](x, k), rtol=1e-4, atol=1e-3, err_msg=b)
  med = _interleaved({n: functools.partial(lambda f: np.asarray(f(x, k)), f)
                      for n, f in fns.items()}, repeats)
  print("  one conv layer (10 x 72 x 48, 16 -> 32 channels, 3x3):")
  for n, t in med.items():
    print(f"    {n:47s} {1e3 * t:8.2f} ms")
    rows.append(report.make_row(model="conv3x3", metric="grad_ms", value=1e3 * t,
                                part="conv_probe", case=n, repeats=repeats))


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--variants", nargs="+", default=["posters", "fashion"],
                 choices=["posters", "fashion"])
  p.add_argument("--batches", nargs="+", type=int, default=[10, 100])
  p.add_argument("--repeats", type=int, default=20, help="repeats of the PGD step")
  p.add_argument("--catalogue-repeats", type=int, default=5)
  p.add_argument("--no-conv-probe", action="store_true",
                 help="skip the conv-layer probe (one conv's gradients in and out of a scan)")
  p.add_argument("--quick", action="store_true",
                 help="posters, batch 10, 5 step and 2 catalogue repeats, no conv probe "
                 "(under a minute)")
  p.add_argument("--out", default=None, help="write DIR/report.json")
  args = p.parse_args(argv)
  if args.quick:
    args.variants, args.batches, args.repeats, args.catalogue_repeats = ["posters"], [10], 5, 2
    args.no_conv_probe = True
  print(f"jax {jax.__version__} on {jax.default_backend()} ({jax.devices()[0].device_kind}), "
        f"{os.cpu_count()} CPUs; medians of {args.repeats} steps, {args.catalogue_repeats} "
        "catalogue passes")
  rows: list = []
  for variant in args.variants:
    s = Setup(variant)
    print(f"\n{variant}: {NUM_USERS} users, {NUM_ITEMS} items {s.shape}, VBPR 32 + 32, "
          f"CNN (16, 32, 64) -> 64 features")
    for part, fn in (("step", lambda: [step_bench(s, b, args.repeats, rows)
                                       for b in args.batches]),
                     ("catalogue", lambda: catalogue_bench(s, args.catalogue_repeats, rows))):
      with OtherLoad() as load:
        fn()
      print(f"  CPU used by other processes during the {part}: {load.fraction:.0%} of the "
            "machine")
      rows.append(report.make_row(model="all", metric="other_cpu_fraction", value=load.fraction,
                                  variant=variant, part=part))
  if not args.no_conv_probe:
    print("\nconv probe (why the joint step through perturb_images is slower on CPU):")
    with OtherLoad() as load:
      conv_probe(5, rows)
    print(f"  CPU used by other processes during the probe: {load.fraction:.0%} of the machine")
    rows.append(report.make_row(model="all", metric="other_cpu_fraction", value=load.fraction,
                                part="conv_probe"))
  if args.out:
    rep = report.build_report(
        dataset={"name": "synthetic ml-100k-like", "users": NUM_USERS, "items": NUM_ITEMS,
                 "pairs": NUM_PAIRS, "variants": args.variants},
        config={"benchmark": "visual_pgd", "eps": EPS, "batches": args.batches,
                "repeats": args.repeats, "catalogue_repeats": args.catalogue_repeats,
                "top_k": TOP_K}, rows=rows)
    print("wrote", report.write_report(args.out, rep)[0])
  return 0


if __name__ == "__main__":
  sys.exit(main())
