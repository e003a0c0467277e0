"""Item images, categories, Fashion-MNIST and synthetic category interactions (jaxrec.data)."""

import gzip
import re
import struct

import numpy as np
import pytest
from PIL import Image

from jaxrec import data
from jaxrec.data import _images

# ------------------------------------------------------------------------------------------------
# Helpers.


def _write(path, text):
  path.write_text(text, encoding="utf-8")
  return path


def _save(folder, name, img, **kwargs):
  img.save(folder / name, **kwargs)
  return name


# ------------------------------------------------------------------------------------------------
# Decoding and the conversion rule.


def test_grey_image_is_replicated_to_three_equal_channels(tmp_path):
  grey = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
  _save(tmp_path, "g.png", Image.fromarray(grey, "L"))
  out = data.load_image_folder(tmp_path, {0: "g.png"}, 1, size=(3, 4))
  assert out.images.shape == (1, 3, 4, 3) and out.images.dtype == np.float32
  for c in range(3):
    np.testing.assert_array_equal(out.images[0, :, :, c], grey.astype(np.float32) / 255)
  # grey mode keeps the values exactly
  out = data.load_image_folder(tmp_path, {0: "g.png"}, 1, size=(3, 4), mode="grey")
  assert out.images.shape == (1, 3, 4, 1)
  np.testing.assert_array_equal(out.images[0, :, :, 0], grey.astype(np.float32) / 255)
  assert out.summary() == "all 1 items have an image (3x4, 1 channel)"
  # colour to grey: Pillow's ITU-R 601-2 luma, 0.299 R + 0.587 G + 0.114 B
  _save(tmp_path, "red.png", Image.new("RGB", (1, 1), (255, 0, 0)))
  red = data.load_image_folder(tmp_path, {0: "red.png"}, 1, mode="grey").images
  np.testing.assert_array_equal(red, np.full((1, 1, 1, 1), np.float32(76) / np.float32(255)))


def test_rgba_is_composited_over_white(tmp_path):
  rgba = np.zeros((2, 2, 4), np.uint8)
  rgba[0, 0] = (10, 20, 30, 255)   # opaque: keeps its colour
  rgba[0, 1] = (10, 20, 30, 0)     # fully transparent: white
  rgba[1, 0] = (0, 0, 0, 0)        # fully transparent black: white, not black
  rgba[1, 1] = (0, 0, 0, 128)      # half-transparent black: mid grey
  _save(tmp_path, "a.png", Image.fromarray(rgba, "RGBA"))
  img = data.load_image_folder(tmp_path, {0: "a.png"}, 1).images[0]
  np.testing.assert_array_equal(img[0, 0], np.array([10, 20, 30], np.float32) / 255)
  np.testing.assert_array_equal(img[0, 1], [1.0, 1.0, 1.0])
  np.testing.assert_array_equal(img[1, 0], [1.0, 1.0, 1.0])
  assert np.all(np.abs(img[1, 1] - 127 / 255) <= 1 / 255)


def test_palette_with_transparency_and_la_are_composited(tmp_path):
  pal = Image.new("P", (2, 1))
  pal.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
  pal.putpixel((0, 0), 0)
  pal.putpixel((1, 0), 1)
  _save(tmp_path, "p.png", pal, transparency=1)  # index 1 (blue) is transparent
  la = Image.fromarray(np.array([[[50, 255], [50, 0]]], np.uint8), "LA")
  _save(tmp_path, "la.png", la)
  out = data.load_image_folder(tmp_path, {0: "p.png", 1: "la.png"}, 2)
  np.testing.assert_array_equal(out.images[0, 0, 0], [1.0, 0.0, 0.0])
  np.testing.assert_array_equal(out.images[0, 0, 1], [1.0, 1.0, 1.0])
  np.testing.assert_array_equal(out.images[1, 0, 0], [np.float32(50) / np.float32(255)] * 3)
  np.testing.assert_array_equal(out.images[1, 0, 1], [1.0, 1.0, 1.0])


def test_mixed_sizes_and_modes_are_resized_to_one_shape(tmp_path):
  rng = np.random.default_rng(0)
  names = {
      0: _save(tmp_path, "l.png", Image.fromarray(rng.integers(0, 256, (30, 20), np.uint8), "L")),
      1: _save(tmp_path, "rgb.jpg",
               Image.fromarray(rng.integers(0, 256, (64, 40, 3), np.uint8), "RGB")),
      2: _save(tmp_path, "rgba.png",
               Image.fromarray(rng.integers(0, 256, (10, 12, 4), np.uint8), "RGBA")),
      3: _save(tmp_path, "p.gif",
               Image.fromarray(rng.integers(0, 256, (9, 9, 3), np.uint8)).convert("P")),
      4: _save(tmp_path, "cmyk.jpg", Image.new("CMYK", (7, 5), (0, 0, 0, 0))),
  }
  out = data.load_image_folder(tmp_path, names, 5, size=(12, 8))
  assert out.images.shape == (5, 12, 8, 3)
  assert out.images.min() >= 0.0 and out.images.max() <= 1.0
  assert out.missing == () and out.has_image.all()
  np.testing.assert_allclose(out.images[4], 1.0, atol=1 / 255)  # CMYK 0,0,0,0 is white
  # a uniform image stays uniform through the bilinear resize
  _save(tmp_path, "u.png", Image.new("RGB", (50, 70), (12, 34, 56)))
  u = data.load_image_folder(tmp_path, {0: "u.png"}, 1, size=(5, 3)).images[0]
  np.testing.assert_array_equal(u, np.broadcast_to(np.array([12, 34, 56], np.float32) / 255,
                                                   (5, 3, 3)))


def test_size_none_needs_one_size(tmp_path):
  _save(tmp_path, "a.png", Image.new("RGB", (4, 3)))
  _save(tmp_path, "b.png", Image.new("RGB", (5, 3)))
  assert data.load_image_folder(tmp_path, {0: "a.png"}, 1).images.shape == (1, 3, 4, 3)
  with pytest.raises(data.DataFormatError, match="differ in size.*pass size"):
    data.load_image_folder(tmp_path, {0: "a.png", 1: "b.png"}, 2)


def test_missing_item_is_filled_with_the_mean_and_listed(tmp_path):
  _save(tmp_path, "black.png", Image.new("L", (2, 2), 0))
  _save(tmp_path, "white.png", Image.new("L", (2, 2), 255))
  out = data.load_image_folder(tmp_path, {0: "black.png", 2: "white.png"}, 4, size=(2, 2))
  assert out.missing == (1, 3)
  np.testing.assert_array_equal(out.has_image, [True, False, True, False])
  assert out.files == ("black.png", "", "white.png", "")
  np.testing.assert_allclose(out.images[1], 0.5)
  np.testing.assert_allclose(out.images[3], 0.5)
  assert out.summary() == ("2 of 4 items have an image (2x2, 3 channels); 2 filled with the "
                           "mean image")
  with pytest.raises(ValueError, match="no item has an image"):
    data.load_image_folder(tmp_path, {}, 3, size=(2, 2))


def test_missing_and_corrupt_files_are_named_with_the_map_line(tmp_path):
  _save(tmp_path, "ok.png", Image.new("RGB", (3, 3)))
  (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
  good = Image.new("RGB", (40, 40), (1, 2, 3))
  _save(tmp_path, "full.jpg", good)
  (tmp_path / "cut.jpg").write_bytes((tmp_path / "full.jpg").read_bytes()[:200])
  m = _write(tmp_path / "map.csv", "0,ok.png\n1,gone.png\n2,bad.jpg\n3,cut.jpg\n")
  image_map = data.read_image_map(m, 4)
  with pytest.raises(FileNotFoundError, match=r"gone\.png") as err:
    data.load_image_folder(tmp_path, _images.ImageMap(
        {0: "ok.png", 1: "gone.png"}, source=str(m), lines={0: 1, 1: 2}), 4, size=(3, 3))
  assert "map.csv:2" in str(err.value)
  with pytest.raises(data.DataFormatError, match=r"bad\.jpg: cannot decode image.*map\.csv:3"):
    data.load_image_folder(tmp_path, _images.ImageMap(
        {0: "ok.png", 2: "bad.jpg"}, source=str(m), lines={0: 1, 2: 3}), 4, size=(3, 3))
  with pytest.raises(data.DataFormatError, match=r"cut\.jpg: cannot decode image.*map\.csv:4"):
    data.load_image_folder(tmp_path, _images.ImageMap(
        {0: "ok.png", 3: "cut.jpg"}, source=str(m), lines={0: 1, 3: 4}), 4, size=(3, 3))
  # the map read from the file carries its lines too
  with pytest.raises(FileNotFoundError, match="map.csv:2"):
    data.load_image_folder(tmp_path, image_map, 4, size=(3, 3))


def test_unsupported_mode_and_bad_arguments(tmp_path):
  Image.fromarray(np.full((2, 2), 40000, np.uint16)).save(tmp_path / "deep.png")
  with pytest.raises(data.DataFormatError, match="unsupported image mode"):
    data.load_image_folder(tmp_path, {0: "deep.png"}, 1, size=(2, 2))
  _save(tmp_path, "a.png", Image.new("RGB", (2, 2)))
  with pytest.raises(ValueError, match=r"outside \[0, num_items=1\)"):
    data.load_image_folder(tmp_path, {1: "a.png"}, 1)
  with pytest.raises(ValueError, match="mode"):
    data.load_image_folder(tmp_path, {0: "a.png"}, 1, mode="RGB")
  with pytest.raises(ValueError, match="size"):
    data.load_image_folder(tmp_path, {0: "a.png"}, 1, size=(0, 2))
  with pytest.raises(FileNotFoundError, match="no such image folder"):
    data.load_image_folder(tmp_path / "nope", {0: "a.png"}, 1)


def test_memory_limit_is_checked_after_the_first_image(tmp_path):
  _save(tmp_path, "big.png", Image.new("RGB", (40, 30)))
  # 1,000 items of 30 x 40 x 3 float32 = 14.4 MB: over a 10 MB limit, named with a remedy
  with pytest.raises(ValueError, match=r"1000 images of 30x40x3 .* --image-size"):
    data.load_image_folder(tmp_path, {0: "big.png"}, 1000, max_bytes=10 * 2**20)
  images = data.load_image_folder(tmp_path, {0: "big.png"}, 1000, size=(8, 8),
                                  max_bytes=10 * 2**20)
  assert images.images.shape == (1000, 8, 8, 3)


# ------------------------------------------------------------------------------------------------
# Image maps.


def test_image_map_header_separator_and_empty_filename(tmp_path):
  m = _write(tmp_path / "m.tsv", "item_id\tfilename\n2\tb.png\n0\ta.png\n1\t\n")
  out = data.read_image_map(m, 3)
  assert dict(out) == {2: "b.png", 0: "a.png"}
  assert out.lines == {2: 2, 0: 3, 1: 4} and out.no_image == (1,) and out.unknown == ()
  # no header, comma, CRLF, BOM, quoted filename with a comma, trailing blank lines
  m = tmp_path / "m.csv"
  m.write_bytes(b'\xef\xbb\xbf0,"x,y.png"\r\n1, b.png\r\n\r\n\n')
  assert dict(data.read_image_map(m, 2)) == {0: "x,y.png", 1: "b.png"}


@pytest.mark.parametrize("text, message", [
    ("0,a.png\n1,b.png,extra\n", r"m\.csv:2: expected 2 fields.*got 3"),
    ("0,a.png\nx1,b.png\n", r"m\.csv:2: item id 'x1' is not an integer"),
    ("0,a.png\n5,b.png\n", r"m\.csv:2: item id 5 is outside \[0, 3\)"),
    ("0,a.png\n-1,b.png\n", r"m\.csv:2: item id -1 is outside"),
    ("0,a.png\n1,b.png\n0,c.png\n", r"m\.csv:3: item '0' is repeated \(first on line 1\)"),
    ("0,a.png\n\n1,b.png\n", r"m\.csv:2: a blank line inside the data"),
])
def test_image_map_errors_name_file_and_line(tmp_path, text, message):
  m = _write(tmp_path / "m.csv", text)
  with pytest.raises(data.DataFormatError, match=message):
    data.read_image_map(m, 3)


def test_image_map_string_ids_through_item_ids(tmp_path):
  m = _write(tmp_path / "m.csv", "asin,image\nB002,b.jpg\nB001,a.jpg\nZZZ,z.jpg\n")
  with pytest.warns(UserWarning, match=r"skipped 1 image row.*line 4: 'ZZZ'"):
    out = data.read_image_map(m, item_ids={"B001": 0, "B002": 1})
  assert dict(out) == {1: "b.jpg", 0: "a.jpg"} and out.unknown == ((4, "ZZZ"),)
  with pytest.raises(data.DataFormatError, match=r"m\.csv:4: raw item id 'ZZZ' is not in"):
    data.read_image_map(m, item_ids={"B001": 0, "B002": 1}, unknown="error")
  # Dataset.item_ids (raw id per internal id): strings, and integers compared as integers
  assert dict(data.read_image_map(
      m, item_ids=np.array(["B001", "B002", "ZZZ"]))) == {1: "b.jpg", 0: "a.jpg", 2: "z.jpg"}
  m2 = _write(tmp_path / "m2.csv", "007,x.png\n10,y.png\n")
  assert dict(data.read_image_map(m2, item_ids=np.array([7, 10]))) == {0: "x.png", 1: "y.png"}


# ------------------------------------------------------------------------------------------------
# Categories.


def test_single_label_categories(tmp_path):
  f = _write(tmp_path / "c.csv", "item,category\n0,shoe\n2,bag\n1,shoe\n")
  labels, names = data.read_categories(f, 3)
  assert names == ("bag", "shoe")
  np.testing.assert_array_equal(labels, [[0, 1], [0, 1], [1, 0]])
  assert labels.dtype == np.float32


def test_multi_label_categories_and_missing_items(tmp_path):
  f = _write(tmp_path / "c.tsv", "0\tAction|Comedy\n1\tDrama\n3\tComedy | Drama|Action\n")
  labels, names = data.read_categories(f, 4, missing="zero")
  assert names == ("Action", "Comedy", "Drama")
  np.testing.assert_array_equal(labels, [[1, 1, 0], [0, 0, 1], [0, 0, 0], [1, 1, 1]])
  with pytest.raises(ValueError, match=r"1 of 4 items have no category line: internal ids 2"):
    data.read_categories(f, 4)
  bad = _write(tmp_path / "b.csv", "0,a\n1,a||b\n")
  with pytest.raises(data.DataFormatError, match=r"b\.csv:2: empty category"):
    data.read_categories(bad, 2)
  bad = _write(tmp_path / "r.csv", "0,a|a\n")
  with pytest.raises(data.DataFormatError, match=r"r\.csv:1: a category is repeated"):
    data.read_categories(bad, 1)
  bad = _write(tmp_path / "d.csv", "0,a\n0,b\n")
  with pytest.raises(data.DataFormatError, match=r"d\.csv:2: item '0' is repeated"):
    data.read_categories(bad, 1)


def test_categories_with_string_ids(tmp_path):
  f = _write(tmp_path / "c.csv", "u2,red\nu1,blue|red\nghost,green\n")
  with pytest.warns(UserWarning, match="skipped 1 category row"):
    labels, names = data.read_categories(f, item_ids=np.array(["u1", "u2"]))
  assert names == ("blue", "red")  # 'green' belongs to a skipped item only
  np.testing.assert_array_equal(labels, [[1, 1], [0, 1]])


# ------------------------------------------------------------------------------------------------
# Fashion-MNIST.


def _idx(path, array, code=0x08):
  head = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
  with gzip.open(path, "wb") as f:
    f.write(head + array.astype(np.uint8).tobytes())


def test_idx_parsing_of_a_tiny_handwritten_file(tmp_path):
  images = np.arange(12 * 28 * 28, dtype=np.int64).reshape(12, 28, 28) % 256
  labels = np.array([3, 0, 3, 9, 1, 2, 4, 5, 6, 7, 8, 0])
  _idx(tmp_path / "t10k-images-idx3-ubyte.gz", images)
  _idx(tmp_path / "t10k-labels-idx1-ubyte.gz", labels)
  x, y = data.load_fashion_mnist(tmp_path, split="test")
  assert x.shape == (12, 28, 28, 1) and x.dtype == np.float32 and y.dtype == np.int32
  np.testing.assert_array_equal(x[..., 0], images.astype(np.float32) / 255)
  np.testing.assert_array_equal(y, labels)
  # per_class: the first of each class, in file order; then limit: the first N
  x, y = data.load_fashion_mnist(tmp_path, split="test", per_class=1)
  np.testing.assert_array_equal(y, [3, 0, 9, 1, 2, 4, 5, 6, 7, 8])
  np.testing.assert_array_equal(x[2, ..., 0], images[3].astype(np.float32) / 255)
  _, y = data.load_fashion_mnist(tmp_path, split="test", per_class=1, limit=3)
  np.testing.assert_array_equal(y, [3, 0, 9])
  with pytest.raises(ValueError, match="class 1 .Trouser. has 1 images"):
    data.load_fashion_mnist(tmp_path, split="test", per_class=2)
  # seeded selection: reproducible, in file order
  a = data.load_fashion_mnist(tmp_path, split="test", limit=5, seed=1)[1]
  np.testing.assert_array_equal(a, data.load_fashion_mnist(tmp_path, split="test", limit=5,
                                                           seed=1)[1])
  with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
    data.load_fashion_mnist(tmp_path, split="train")


def test_idx_corrupt_files_are_named(tmp_path):
  images = np.zeros((2, 28, 28))
  _idx(tmp_path / "train-labels-idx1-ubyte.gz", np.array([1, 2]))
  # wrong magic number
  with gzip.open(tmp_path / "train-images-idx3-ubyte.gz", "wb") as f:
    f.write(b"\x01\x02\x08\x03" + b"\x00" * 40)
  with pytest.raises(data.DataFormatError, match=r"train-images-idx3-ubyte\.gz: not an IDX"):
    data.load_fashion_mnist(tmp_path)
  # truncated data
  _idx(tmp_path / "train-images-idx3-ubyte.gz", images)
  raw = gzip.decompress((tmp_path / "train-images-idx3-ubyte.gz").read_bytes())[:-10]
  (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(raw))
  with pytest.raises(data.DataFormatError, match="truncated"):
    data.load_fashion_mnist(tmp_path)
  # not gzip at all
  (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"hello")
  with pytest.raises(data.DataFormatError, match="cannot decompress"):
    data.load_fashion_mnist(tmp_path)
  # counts differ
  _idx(tmp_path / "train-images-idx3-ubyte.gz", np.zeros((3, 28, 28)))
  with pytest.raises(data.DataFormatError, match="3 images but .* 2 labels"):
    data.load_fashion_mnist(tmp_path)


def test_fashion_mnist_search_order(tmp_path, monkeypatch):
  monkeypatch.setattr(_images, "_SYSTEM_FASHION_MNIST", tmp_path / "system")
  monkeypatch.setenv("JAXREC_FASHION_MNIST", str(tmp_path / "env"))
  with pytest.raises(FileNotFoundError) as err:
    data.load_fashion_mnist()
  assert str(tmp_path / "env") in str(err.value) and str(tmp_path / "system") in str(err.value)
  (tmp_path / "system").mkdir()
  _idx(tmp_path / "system" / "train-images-idx3-ubyte.gz", np.zeros((1, 28, 28)))
  _idx(tmp_path / "system" / "train-labels-idx1-ubyte.gz", np.array([5]))
  assert data.load_fashion_mnist()[1].tolist() == [5]


def test_bundled_subset_has_60_per_class():
  x, y = data.bundled_fashion_mnist()
  assert x.shape == (600, 28, 28, 1) and x.dtype == np.float32 and y.dtype == np.int32
  assert x.min() == 0.0 and x.max() == 1.0
  np.testing.assert_array_equal(np.bincount(y, minlength=10), [60] * 10)
  np.testing.assert_array_equal(y[:5], [9, 0, 0, 3, 0])  # the first training labels
  assert len(data.FASHION_MNIST_CLASSES) == 10 and data.FASHION_MNIST_CLASSES[9] == "Ankle boot"


def test_bundled_subset_is_the_first_60_per_class_of_the_real_file(shared_file):
  root = shared_file("fashion-mnist/train-images-idx3-ubyte.gz").parent
  x, y = data.load_fashion_mnist(root, per_class=60)
  bx, by = data.bundled_fashion_mnist()
  np.testing.assert_array_equal(bx, x)
  np.testing.assert_array_equal(by, y)


# ------------------------------------------------------------------------------------------------
# Synthetic interactions.


def test_synthetic_interactions_are_deterministic_and_prefer_their_categories():
  labels = np.repeat(np.arange(10), 50)  # 500 items, 10 categories of 50
  kw = dict(num_users=300, interactions_per_user=20, num_preferred=2, preference=0.8)
  a, pref = data.synthetic_category_interactions(labels, seed=3, return_preferences=True, **kw)
  b = data.synthetic_category_interactions(labels, seed=3, **kw)
  c = data.synthetic_category_interactions(labels, seed=4, **kw)
  assert isinstance(a, data.Interactions)
  assert (a.num_users, a.num_items, len(a)) == (300, 500, 6000)
  np.testing.assert_array_equal(a.users, b.users)
  np.testing.assert_array_equal(a.items, b.items)
  assert not np.array_equal(a.items, c.items)
  users, items = np.asarray(a.users), np.asarray(a.items)
  for u in range(300):  # distinct items per user
    assert np.unique(items[users == u]).size == 20
  assert pref.shape == (300, 2) and all(p[0] != p[1] for p in pref)
  in_pref = (labels[items][:, None] == pref[users]).any(axis=1)
  # a draw is preferred with p = 0.8, plus the uniform draws that land in 2 of 10 categories
  expected = 0.8 + 0.2 * 0.2
  assert abs(in_pref.mean() - expected) < 0.02, in_pref.mean()
  none = data.synthetic_category_interactions(labels, seed=0, num_users=200,
                                              interactions_per_user=10, preference=0.0,
                                              return_preferences=True)
  share = (labels[np.asarray(none[0].items)][:, None]
           == none[1][np.asarray(none[0].users)]).any(axis=1).mean()
  assert abs(share - 0.2) < 0.03


def test_synthetic_interactions_validate_arguments():
  labels = np.array([0, 0, 1])
  with pytest.raises(ValueError, match="exceeds the 3 items"):
    data.synthetic_category_interactions(labels, num_users=1, interactions_per_user=4)
  with pytest.raises(ValueError, match="exceeds the 2 categories"):
    data.synthetic_category_interactions(labels, num_users=1, interactions_per_user=1,
                                         num_preferred=3)
  with pytest.raises(ValueError, match="preference"):
    data.synthetic_category_interactions(labels, num_users=1, interactions_per_user=1,
                                         preference=1.5)
  # preferred categories smaller than the draws: the rest come from the catalogue
  out = data.synthetic_category_interactions(labels, num_users=2, interactions_per_user=3,
                                             num_preferred=1, preference=1.0)
  assert sorted(np.asarray(out.items)[:3].tolist()) == [0, 1, 2]


# ------------------------------------------------------------------------------------------------
# MovieLens posters (read from ../shared/data; never shipped).


def test_movielens_posters_in_load_movielens_100k_ids(shared_data):
  for relative in ("movielens-posters/ml100k_posters.tar", "movielens-100k/u.item"):
    if not (shared_data / relative).is_file():
      pytest.skip(f"{shared_data / relative} not found (MovieLens posters are never shipped)")
  images, genres, names = data.load_movielens_posters(shared_data)
  assert images.images.shape == (1682, 72, 48, 3) and images.images.dtype == np.float32
  assert int(images.has_image.sum()) == 1643 and len(images.missing) == 39
  assert images.summary().startswith("1,643 of 1,682 items have an image")
  # internal ids are load_movielens_100k's: raw ids in ascending order, i.e. raw id - 1
  dataset = data.load_movielens_100k(shared_data / "movielens-100k" / "u.data")
  np.testing.assert_array_equal(dataset.item_ids, np.arange(1, 1683))
  assert images.has_image[0] and images.files[0] == "MovieImages/1.jpg"  # Toy Story (1995)
  assert 266 in images.missing  # ML-100K item 267, "unknown", has no poster
  assert genres.shape == (1682, 19) and genres.dtype == np.float32
  assert names == data.ML100K_GENRES
  assert tuple(genres[0].nonzero()[0]) == (3, 4, 5)  # Toy Story: Animation, Children's, Comedy
  assert (genres.sum(axis=1) >= 1).mean() > 0.99
  u_genre = (shared_data / "movielens-100k" / "u.genre").read_text(encoding="latin-1")
  assert tuple(re.findall(r"^(.+)\|\d+$", u_genre, flags=re.M)) == names
  assert images.images.min() >= 0.0 and images.images.max() <= 1.0
  # another catalogue: the given raw ids, in their order
  sub, sub_genres, _ = data.load_movielens_posters(shared_data, item_ids=[267, 1], size=(6, 4))
  assert sub.missing == (0,) and sub.files == ("", "MovieImages/1.jpg")
  np.testing.assert_array_equal(sub_genres[1], genres[0])
