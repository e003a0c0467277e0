"""The image feature extractor of visual recommenders: a small flax CNN trained on item categories.

No pretrained ImageNet weights are available offline, so jaxrec trains its own extractor: a few
3x3 convolution blocks (ReLU, 2x2 max pooling by default), a global average pool, a dense *feature*
layer (ReLU; the penultimate layer, whose activations are the item's visual features ``f_i``)
and a dense classification head. Pixels are ``float32`` in ``[0, 1]``, ``(N, H, W, C)``, any
``H, W >= 2 ** len(widths)`` and ``C`` fixed at ``init``.

An :class:`Extractor` is a static configuration with pure methods over a params pytree (the
flax variables ``{"params": ...}`` plus the feature ``scale``), so the extractor, the recommender
and an attack on pixels are one differentiable program: ``jax.grad`` of a user's score runs back
through VBPR and the CNN to the pixels (:mod:`jaxrec.attacks.content`).

Feature scale: :func:`jaxrec.training.train_extractor` sets ``scale`` so that the catalogue's
clean features have mean L2 norm 1; :meth:`Extractor.features` divides by it. Feature-space
budgets (AMR's ``eps``, feature PGD) are therefore in units of the mean clean feature norm.
"""

from __future__ import annotations

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxrec import _checks
from jaxrec.typing import Array, PRNGKey

__all__ = ["ConvNet", "Extractor", "conv", "extractor", "load_extractor", "save_extractor"]

_DIMS = ("NHWC", "HWIO", "NHWC")


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _conv(x: Array, w: Array, padding: tuple) -> Array:
  return jax.lax.conv_general_dilated(x, w, (1, 1), padding, dimension_numbers=_DIMS)


def _conv_fwd(x, w, padding):
  return _conv(x, w, padding), (x, w)


def _conv_bwd(padding, res, g):
  x, w = res
  kh, kw = w.shape[:2]
  # d/dx: the transposed convolution, written as a plain convolution with the flipped kernel
  flipped = jnp.flip(w, (0, 1)).transpose(0, 1, 3, 2)
  back = tuple((k - 1 - lo, k - 1 - hi) for k, (lo, hi) in zip((kh, kw), padding))
  dx = jax.lax.conv_general_dilated(g, flipped, (1, 1), back, dimension_numbers=_DIMS)
  # d/dw: a convolution of the input with the output gradient (batch and features swapped)
  dw = jax.lax.conv_general_dilated(x, g, (1, 1), padding,
                                    dimension_numbers=("CHWN", "IHWO", "HWNC"))
  return dx, dw


_conv.defvjp(_conv_fwd, _conv_bwd)


def conv(lhs: Array, rhs: Array, window_strides, padding, lhs_dilation=None, rhs_dilation=None,
         dimension_numbers=None, feature_group_count: int = 1, batch_group_count: int = 1,
         precision=None, preferred_element_type=None) -> Array:
  """A stride-1 ``NHWC``/``HWIO`` convolution whose gradients are plain convolutions.

  The same values and gradients as ``jax.lax.conv_general_dilated`` (a drop-in for flax's
  ``nn.Conv(conv_general_dilated=conv)``), written with a custom VJP because XLA:CPU (jax
  0.10.2) compiles the automatic convolution gradients inside a loop body (``lax.scan``: every
  training and attack loop of jaxrec) to a slow generic loop: measured 36x (input gradient) and
  74x (kernel gradient) slower than the same gradients outside the loop, while these hand-written
  ones cost the same inside and outside (``benchmarks/visual_pgd.py``; cf. jax-ml/jax#12868).

  Raises:
    NotImplementedError: strides, dilations or feature groups other than 1, or dimension
      numbers other than NHWC/HWIO/NHWC. (Padding: explicit pairs, ``"SAME"`` or ``"VALID"``.)

  Source:
    jaxrec; the gradient identities of convolutions: Dumoulin, Visin, "A guide to convolution
    arithmetic for deep learning", arXiv:1603.07285, 2016, Sec. 4.
  """
  del precision, preferred_element_type
  plain = (tuple(window_strides) == (1, 1) and not any(d not in (None, (1, 1))
                                                        for d in (lhs_dilation, rhs_dilation))
           and feature_group_count == 1 and batch_group_count == 1)
  if dimension_numbers is not None:
    expected = jax.lax.conv_dimension_numbers(lhs.shape, rhs.shape, _DIMS)
    plain = plain and jax.lax.conv_dimension_numbers(lhs.shape, rhs.shape,
                                                     dimension_numbers) == expected
  if not plain:
    raise NotImplementedError("jaxrec's conv supports stride-1, undilated, ungrouped "
                              "NHWC/HWIO convolutions only")
  if isinstance(padding, str):  # "SAME" / "VALID" as explicit pairs
    padding = jax.lax.padtype_to_pads(lhs.shape[1:3], rhs.shape[:2], (1, 1), padding)
  return _conv(lhs, rhs, tuple(tuple(int(v) for v in p) for p in padding))


class ConvNet(nn.Module):
  """The CNN: conv blocks, global average pool, a ReLU feature layer, a linear head.

  Attributes:
    widths: channels of the 3x3 convolution blocks (each ReLU then 2x2 pooling).
    feature_dim: size ``F`` of the feature layer.
    num_classes: size ``C`` of the head.
    pool: ``"max"`` or ``"avg"`` pooling in the blocks.
  """

  widths: tuple[int, ...]
  feature_dim: int
  num_classes: int
  pool: str = "max"

  @nn.compact
  def __call__(self, x: Array) -> tuple[Array, Array]:
    pool = nn.max_pool if self.pool == "max" else nn.avg_pool
    for w in self.widths:
      x = nn.relu(nn.Conv(w, (3, 3), padding="SAME", param_dtype=x.dtype,
                          conv_general_dilated=conv)(x))
      x = pool(x, (2, 2), strides=(2, 2))
    x = jnp.mean(x, axis=(1, 2))
    feats = nn.relu(nn.Dense(self.feature_dim, param_dtype=x.dtype, name="features")(x))
    logits = nn.Dense(self.num_classes, param_dtype=x.dtype, name="head")(feats)
    return feats, logits


@struct.dataclass(kw_only=True)
class Extractor:
  """A CNN feature extractor and classifier (module docstring); build it with :func:`extractor`.

  Params (a dict pytree): ``{"cnn": <flax variables>, "scale": () float32}``. The methods take
  ``(N, H, W, C)`` float pixels in ``[0, 1]`` and are jittable: they check nothing (images of
  another channel count than ``init``'s raise flax's shape error; check pixels with
  :func:`jaxrec.attacks.content.check_pixels`). Sources: the module docstring and
  :func:`extractor`.

  Attributes:
    widths: static conv channels. feature_dim: static ``F``. num_classes: static ``C``.
    pool: static ``"max"`` (default) or ``"avg"`` pooling after each conv block.
    multi_label: static; ``True`` trains with per-class sigmoid cross-entropy (genres),
      ``False`` with softmax cross-entropy (one category per item).
  """

  name = "cnn"
  widths: tuple[int, ...] = struct.field(pytree_node=False, default=(16, 32, 64))
  feature_dim: int = struct.field(pytree_node=False, default=64)
  num_classes: int = struct.field(pytree_node=False, default=10)
  multi_label: bool = struct.field(pytree_node=False, default=False)
  pool: str = struct.field(pytree_node=False, default="max")

  @property
  def net(self) -> ConvNet:
    """The flax module."""
    return ConvNet(self.widths, self.feature_dim, self.num_classes, self.pool)

  def init(self, key: PRNGKey, image_shape: tuple[int, int, int],
           dtype: Any = jnp.float32) -> dict:
    """Fresh parameters for images of shape ``(H, W, C)`` (flax's default initialisers), with
    ``scale = 1``.

    Raises:
      ValueError: an image shape that is not ``(H, W, C)`` with ``H, W >= 2 ** len(widths)``.
    """
    shape = tuple(int(s) for s in image_shape)
    low = 2 ** len(self.widths)
    if len(shape) != 3 or min(shape[:2]) < low or shape[2] < 1:
      raise ValueError(f"image_shape must be (height, width, channels) with height and width "
                       f">= {low} for {len(self.widths)} pooling blocks, got {image_shape}")
    variables = self.net.init(key, jnp.zeros((1,) + shape, dtype))
    return {"cnn": variables, "scale": jnp.ones((), dtype)}

  def apply(self, params: dict, images: Array) -> tuple[Array, Array]:
    """``(features (N, F), logits (N, C))``, float, of ``(N, H, W, C)`` images in ``[0, 1]``;
    the features divided by ``params["scale"]``. No range checks (jittable; see
    :func:`jaxrec.attacks.content.check_pixels`).

    Raises:
      flax's shape errors for images whose channels differ from ``init``'s.
    """
    feats, logits = self.net.apply(params["cnn"], images)
    return feats / params["scale"], logits

  def features(self, params: dict, images: Array) -> Array:
    """``(N, F)`` visual features (the penultimate layer, scaled): VBPR's ``f_i``."""
    return self.apply(params, images)[0]

  def logits(self, params: dict, images: Array) -> Array:
    """``(N, C)`` category logits."""
    return self.apply(params, images)[1]

  def predict(self, params: dict, images: Array) -> Array:
    """``(N,) int32`` predicted category: the arg-max logit (for multi-label extractors the
    most likely genre)."""
    return jnp.argmax(self.logits(params, images), axis=-1).astype(jnp.int32)

  def loss(self, params: dict, images: Array, labels: Array) -> Array:
    """Mean classification loss of a batch: softmax cross-entropy of ``(N,) int`` labels, or
    for ``multi_label`` the mean per-class sigmoid cross-entropy of ``(N, C)`` multi-hot
    labels.

    Source:
      Goodfellow, Bengio, Courville, "Deep Learning", MIT Press 2016, Sec. 6.2.2.
    """
    logits = self.logits(params, images)
    if self.multi_label:
      y = labels.astype(logits.dtype)
      return jnp.mean(-(y * jax.nn.log_sigmoid(logits) + (1 - y) * jax.nn.log_sigmoid(-logits)))
    logp = jax.nn.log_softmax(logits)
    return -jnp.mean(jnp.take_along_axis(logp, labels[:, None].astype(jnp.int32), axis=1))


def extractor(*, num_classes: int, widths: tuple[int, ...] = (16, 32, 64),
              feature_dim: int = 64, multi_label: bool = False, pool: str = "max"
              ) -> Extractor:
  """A validated :class:`Extractor`.

  Args:
    num_classes: categories ``C >= 2`` (10 for Fashion-MNIST, 19 genres for MovieLens).
    widths: conv channels, each ``>= 1`` (one 2x2 pooling per block).
    feature_dim: visual feature size ``F >= 1``.
    multi_label: genres (several per item) instead of one category.
    pool: ``"max"`` (the usual choice of image CNNs, VGG-style) or ``"avg"`` (LeNet-style
      subsampling; smoother, so small pixel perturbations move its features less).

  Returns:
    An :class:`Extractor`.

  Raises:
    ValueError: sizes out of range.

  Source:
    jaxrec (a LeCun-style CNN: LeCun, Bottou, Bengio, Haffner, Proc. IEEE 1998; global
    average pooling: Lin, Chen, Yan, "Network In Network", ICLR 2014).
  """
  widths = tuple(_checks.integer("widths[]", w, low=1) for w in widths)
  if not widths:
    raise ValueError("widths must name at least one conv block")
  return Extractor(widths=widths, feature_dim=_checks.integer("feature_dim", feature_dim, low=1),
                   num_classes=_checks.integer("num_classes", num_classes, low=2),
                   multi_label=bool(multi_label), pool=_checks.choice("pool", pool,
                                                                      ("max", "avg")))


def save_extractor(path, ext: Extractor, params: dict) -> None:
  """Saves an extractor's configuration and weights to one ``.npz`` file.

  Layout (documented, readable without jaxrec): ``config`` a JSON string with ``widths``,
  ``feature_dim``, ``num_classes``, ``multi_label``, ``pool``; one array per weight named by
  its path in the params pytree joined with ``/`` (e.g. ``cnn/params/Conv_0/kernel``, ``scale``).

  Raises:
    OSError: the file cannot be written.

  Source:
    jaxrec (NumPy's ``.npz`` format).
  """
  import json  # pylint: disable=import-outside-toplevel
  flat = {"/".join(str(getattr(k, "key", k)) for k in p): np.asarray(v)
          for p, v in jax.tree_util.tree_flatten_with_path(params)[0]}
  config = json.dumps({"widths": list(ext.widths), "feature_dim": ext.feature_dim,
                       "num_classes": ext.num_classes, "multi_label": ext.multi_label,
                       "pool": ext.pool})
  np.savez(path, config=np.asarray(config), **flat)


def load_extractor(path) -> tuple[Extractor, dict]:
  """Reads a file written by :func:`save_extractor`: ``(extractor, params)``.

  Raises:
    FileNotFoundError: no such file. ValueError: a file that is not an npz of jaxrec's layout,
      a missing, misshaped (both shapes named), non-finite or unexpected weight (the file
      named).

  Source:
    jaxrec (the layout of :func:`save_extractor`).
  """
  import json  # pylint: disable=import-outside-toplevel
  import zipfile  # pylint: disable=import-outside-toplevel
  try:
    with np.load(path, allow_pickle=False) as z:
      if "config" not in z:
        raise ValueError(f"{path}: not a jaxrec extractor file (no 'config' entry)")
      cfg = json.loads(str(z["config"]))
      arrays = {k: z[k] for k in z.files if k != "config"}
  except (zipfile.BadZipFile, EOFError, OSError, json.JSONDecodeError) as e:
    if isinstance(e, FileNotFoundError):
      raise
    raise ValueError(f"{path}: not a jaxrec extractor file ({e})") from e
  except ValueError as e:
    if str(e).startswith(str(path)):
      raise
    raise ValueError(f"{path}: not a jaxrec extractor file (not an .npz archive)") from e
  ext = extractor(num_classes=cfg["num_classes"], widths=tuple(cfg["widths"]),
                  feature_dim=cfg["feature_dim"], multi_label=cfg["multi_label"],
                  pool=cfg.get("pool", "max"))
  kernel = arrays.get("cnn/params/Conv_0/kernel")
  if kernel is None:
    raise ValueError(f"{path}: missing weight 'cnn/params/Conv_0/kernel'")
  template = ext.init(jax.random.key(0), (2 ** len(ext.widths),) * 2 + (kernel.shape[2],),
                      dtype=kernel.dtype)
  paths = jax.tree_util.tree_flatten_with_path(template)
  leaves = []
  for p, v in paths[0]:
    name = "/".join(str(getattr(k, "key", k)) for k in p)
    if name not in arrays:
      raise ValueError(f"{path}: weight {name!r} missing")
    if arrays[name].shape != v.shape:
      raise ValueError(f"{path}: weight {name!r} has shape {arrays[name].shape}, the "
                       f"configuration needs {v.shape}")
    if not np.all(np.isfinite(arrays[name])):
      raise ValueError(f"{path}: weight {name!r} holds NaN or infinite values")
    leaves.append(jnp.asarray(arrays.pop(name)))
  if arrays:
    raise ValueError(f"{path}: unexpected weights {sorted(arrays)[:5]}")
  return ext, jax.tree_util.tree_unflatten(paths[1], leaves)
