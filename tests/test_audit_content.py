"""``jaxrec audit`` with item images (issue 11): the content surface end to end.

A tiny catalogue is generated on the fly: 30 items in 3 visually distinct categories (16x16 PNG
files: bright top half, bright bottom half, bright left half, with noise), one item without an
image, and 40 users who each prefer one category. One audit runs the whole content section
(module fixture, about a minute on 2 CPU cores, nearly all of it compilation); the other tests
fail before training.
"""

import json
import math

import numpy as np
import pytest

from jaxrec import audit, report
from jaxrec.audit import _config, _output, _run
from jaxrec.audit._summary import key_table
from jaxrec.cli import main

NUM_USERS, NUM_ITEMS, PER_USER = 40, 30, 8
FAST = ["--epochs", "2", "--dim", "8", "--no-progress", "--attacks", "none", "--k", "5"]
EPS = (8.0, 16.0)
MISSING_ITEM = 1007  # raw id of the item without an image


def _category(i):
  return ("tops", "bottoms", "lefts")[i % 3]


def _image(i, rng):
  from PIL import Image
  x = rng.uniform(0, 60, (16, 16, 3))
  c = i % 3
  if c == 0:
    x[:8] += 160
  elif c == 1:
    x[8:] += 160
  else:
    x[:, :8] += 160
  x[..., c] += 30  # a colour cast per category as well
  return Image.fromarray(np.clip(x, 0, 255).astype(np.uint8), "RGB")


def make_catalogue(root, *, missing_file=False, sizes=None):
  """Interactions (CSV with a header), images, an image map (one item without an image) and
  categories in ``root``; raw item ids 1000..1029, user ids u0..u39. Returns the paths."""
  rng = np.random.default_rng(0)
  root.mkdir(parents=True, exist_ok=True)
  images = root / "img"
  images.mkdir(exist_ok=True)
  lines = ["user,item,rating,ts"]
  for u in range(NUM_USERS):
    liked = u % 3
    pool = [i for i in range(NUM_ITEMS) if i % 3 == liked]
    other = [i for i in range(NUM_ITEMS) if i % 3 != liked]
    picks = list(rng.choice(pool, PER_USER - 2, replace=False)) + list(
        rng.choice(other, 2, replace=False))
    for j, i in enumerate(picks):
      lines.append(f"u{u},{1000 + i},{1 + (u + j) % 5},{100000 + 100 * u + j}")
  data = root / "clicks.csv"
  data.write_text("\n".join(lines) + "\n")
  rows = ["item_id,filename"]
  for i in range(NUM_ITEMS):
    raw = 1000 + i
    if raw == MISSING_ITEM:
      rows.append(f"{raw},")  # listed without a file: no image
      continue
    name = f"item{raw}.png"
    img = _image(i, rng)
    if sizes is not None:
      img = img.resize(sizes[i % len(sizes)])
    img.save(images / name)
    rows.append(f"{raw},{name}")
  if missing_file:
    rows[-1] = f"{1000 + NUM_ITEMS - 1},no_such_file.png"
  image_map = root / "images.csv"
  image_map.write_text("\n".join(rows) + "\n")
  categories = root / "categories.csv"
  categories.write_text("item_id,category\n" + "".join(
      f"{1000 + i},{_category(i)}\n" for i in range(NUM_ITEMS)))
  return {"data": data, "images": images, "image_map": image_map, "categories": categories}


def _args(paths, out, *extra):
  return ["audit", *FAST, "--data", str(paths["data"]), "--sep", ",", "--header",
          "--images", str(paths["images"]), "--image-map", str(paths["image_map"]),
          "--categories", str(paths["categories"]), "--out", str(out), *extra]


@pytest.fixture(scope="module")
def content_run(tmp_path_factory):
  """One complete audit with the content surface: ``(paths, out, report, printed)``."""
  root = tmp_path_factory.mktemp("content")
  paths = make_catalogue(root)
  out = root / "out"
  import contextlib
  import io
  printed = io.StringIO()
  with contextlib.redirect_stdout(printed):
    code = main(_args(paths, out, "--content-eps", *map(str, EPS)))
  assert code == 0, printed.getvalue()
  return paths, out, report.load_report(out), printed.getvalue()


def test_content_rows_for_every_defense_attack_and_budget(content_run):
  _, out, r, printed = content_run
  rows = [row for row in r["rows"] if row.get("surface") == "content"]
  assert rows and all(row["model"] == "vbpr" for row in rows)
  cells = {(row["defense"], row["attack"], row["eps"]) for row in rows
           if row["eps_unit"] == "/255"}
  assert cells == {(d, a, e) for d in ("none", "amr", "robust-extractor")
                   for a in ("taamr", "score-push") for e in EPS}
  assert {(row["defense"], row["attack"]) for row in rows if row["eps_unit"] == "feature"} == {
      (d, "feature-pgd") for d in ("none", "amr", "robust-extractor")}
  for row in rows:
    if row["metric"] in ("psnr", "psnr_min"):  # an L-inf budget eps/255 bounds the MSE
      assert row["value"] >= 20 * math.log10(255 / row["eps"]) - 0.01, row
    if row["metric"] == "success_rate":
      assert 0.0 <= row["value"] <= 1.0
    if row["metric"] == "ssim":
      assert 0.0 < row["value"] <= 1.0
  (missing,) = [row["value"] for row in rows if row["metric"] == "items_without_image"]
  assert missing == 1.0
  assert r["dataset"]["images"]["with_image"] == NUM_ITEMS - 1
  assert r["dataset"]["images"]["labels"] == "single"
  assert r["dataset"]["images"]["categories"] == ["bottoms", "lefts", "tops"]
  assert "29 of 30 items have an image (16x16, 3 channels)" in printed
  # every metric of the report has a legend entry
  assert [m for m in {row["metric"] for row in r["rows"]} if report.describe(m) is None] == []
  md = (out / "report.md").read_text()
  assert "## Content surface (item images)" in md
  assert "(defined by the script that wrote the report)" not in md


def test_content_figure_config_and_provenance(content_run):
  paths, out, r, printed = content_run
  assert (out / "content.png").stat().st_size > 5_000
  assert "content.png" in r["provenance"]["outputs"]
  assert "content figure" in printed
  config = r["config"]
  assert config["content_eps"] == list(EPS) and config["image_size"] is None
  assert config["content_defenses"] == ["none", "amr", "robust-extractor"]
  # the settings used, recorded (all of the long-tail items with an image when the catalogue
  # has fewer than the default, with a note)
  pushed, default = config["content_options"]["num_push_items"], audit.ContentSettings()
  assert 1 <= pushed <= default.num_push_items
  assert (f"pushes all {pushed} instead of" in printed) == (pushed < default.num_push_items)
  assert config["content_options"]["widths"] == list(default.widths)
  sections = [s["name"] for s in r["provenance"]["sections"]]
  assert sections == ["clean", "content"] and all(s["completed"]
                                                  for s in r["provenance"]["sections"])
  files = {f["option"]: f for f in r["provenance"]["inputs"]["files"]}
  assert set(files) == {"data", "images", "image_map", "categories"}
  assert files["images"]["sha256"] is None and len(files["categories"]["sha256"]) == 64
  assert r["provenance"]["inputs"]["options"]["images"] == str(paths["images"])


def test_content_summary(content_run):
  _, _, r, printed = content_run
  text = "\n".join(r["summary"])
  assert "content surface (VBPR on CNN features of the item images" in text
  assert "score-push at 8/255" in text and "TAaMR at 8/255" in text
  assert "content defenses at 8/255 (against none): amr:" in text
  assert "robust-extractor:" in text and "nDCG@5" in text and "accuracy c" in text
  assert "| content defense | ndcg@5 |" in printed  # the key table
  assert len(r["summary"]) <= 40
  s = audit.summarize(r["rows"], model="bpr-mf", dataset="toy", ks=(5,),
                      fail_on=[audit.parse_condition("content_success_rate>=0"),
                               audit.parse_condition("content_hr_lift<0")])
  (held,) = s.failed
  assert str(held[0]) == "content_success_rate>=0" and len(held[1]) == 3 * len(EPS)


def test_config_rerun_reads_the_same_images(content_run, tmp_path, monkeypatch):
  """``--config`` rebuilds the content settings and reads the recorded image files again (the
  audit itself is replaced: rerunning it would take another minute)."""
  paths, out, r, _ = content_run
  seen = {}

  def fake_run_audit(dataset, config, out_dir, **kw):
    seen.update(config=config, **kw)
    return {"verdict": {"failed": []}}

  monkeypatch.setattr(audit, "run_audit", fake_run_audit)
  assert main(["audit", "--config", str(out), "--no-progress", "--out",
               str(tmp_path / "again")]) == 0
  config, again = seen["config"], _output.rerun_settings(r)[0]
  assert config == again and config.content_eps == EPS
  assert config.content_settings() == config.content_settings()
  assert config.content_options == r["config"]["content_options"] | {
      k: tuple(v) for k, v in r["config"]["content_options"].items() if isinstance(v, list)}
  assert seen["images"].num_items == NUM_ITEMS and seen["images"].missing == (7,)
  assert seen["categories"].shape == (NUM_ITEMS, 3)
  assert seen["provenance"]["inputs"] == r["provenance"]["inputs"]
  # a changed categories file is refused
  paths["categories"].write_text(paths["categories"].read_text() + "\n")
  try:
    assert main(["audit", "--config", str(out), "--out", str(tmp_path / "x")]) == 2
  finally:
    paths["categories"].write_text(paths["categories"].read_text().rstrip("\n") + "\n")


def test_image_options_go_together(tmp_path, capsys):
  paths = make_catalogue(tmp_path / "cat")
  out = tmp_path / "out"
  args = ["audit", *FAST, "--data", str(paths["data"]), "--sep", ",", "--header",
          "--out", str(out)]
  assert main([*args, "--images", str(paths["images"])]) == 2
  err = capsys.readouterr().err
  assert "--images given without --image-map and --categories" in err
  assert main([*args, "--image-map", str(paths["image_map"]), "--categories",
               str(paths["categories"])]) == 2
  assert "given without --images" in capsys.readouterr().err
  assert main([*args, "--content-eps", "8"]) == 2
  assert "--content-eps set the content surface, which needs --images" in (
      capsys.readouterr().err)
  assert not out.exists()


@pytest.mark.parametrize("eps", ["300", "-1", "nan"])
def test_out_of_range_eps_is_an_error(tmp_path, capsys, eps):
  paths = make_catalogue(tmp_path / "cat")
  assert main(_args(paths, tmp_path / "out", "--content-eps", "8", eps)) == 2
  err = capsys.readouterr().err
  assert "content_eps (pixel budgets in /255 steps" in err and "255" in err
  assert "trained" not in capsys.readouterr().out
  assert not (tmp_path / "out").exists()


def test_bad_image_inputs_fail_before_training(tmp_path, capsys):
  out = tmp_path / "out"
  paths = make_catalogue(tmp_path / "missing", missing_file=True)
  assert main(_args(paths, out)) == 2
  captured = capsys.readouterr()
  assert "no such image file" in captured.err and "no_such_file.png" in captured.err
  assert "images.csv:31" in captured.err  # the image-map line that names it
  assert "trained" not in captured.out
  # images of two sizes need --image-size
  paths = make_catalogue(tmp_path / "sizes", sizes=[(16, 16), (20, 12)])
  assert main(_args(paths, out)) == 2
  assert "pass --image-size HEIGHT WIDTH" in capsys.readouterr().err
  # an item with an image but no category
  paths = make_catalogue(tmp_path / "nocat")
  lines = paths["categories"].read_text().splitlines()
  paths["categories"].write_text("\n".join(lines[:-1]) + "\n")
  assert main(_args(paths, out)) == 2
  assert "have no category (raw ids 1029)" in capsys.readouterr().err
  # image-map ids that are not the interaction file's
  paths = make_catalogue(tmp_path / "ids")
  paths["image_map"].write_text("item_id,filename\n" + "".join(
      f"{5000 + i},item{1000 + i}.png\n" for i in range(3)))
  assert main(_args(paths, out)) == 2
  assert "names no image for any item of the interaction data" in capsys.readouterr().err
  # a missing folder, a missing file
  assert main(_args(dict(paths, images=tmp_path / "nowhere"), out)) == 2
  assert f"--images {tmp_path / 'nowhere'}: no such folder" in capsys.readouterr().err
  assert main(_args(dict(paths, categories=tmp_path / "none.csv"), out)) == 2
  assert f"--categories {tmp_path / 'none.csv'}: no such file" in capsys.readouterr().err
  assert not out.exists()


def test_config_content_validation():
  with pytest.raises(ValueError, match="content_eps"):
    audit.AuditConfig(content_eps=(256.0,))
  with pytest.raises(ValueError, match="content defense must be one of"):
    audit.AuditConfig(content_defenses=("apr",))
  with pytest.raises(ValueError, match="cannot set"):
    audit.AuditConfig(content_options={"eps": (8.0,)})
  with pytest.raises(ValueError, match="unknown settings"):
    audit.AuditConfig(content_options={"epochs": 3})
  with pytest.raises(ValueError, match="image_size"):
    audit.AuditConfig(image_size=(64,))
  c = audit.AuditConfig(content_options={"widths": [4, 8]}, content_eps=[4, 8], seed=3, ks=(5,))
  s = c.content_settings()
  assert s.widths == (4, 8) and s.eps == (4.0, 8.0) and s.seed == 3 and s.ks == (5,)
  json.dumps(c.content_options)


def test_perturbation_figure(tmp_path):
  rng = np.random.default_rng(0)
  clean = rng.uniform(size=(2, 8, 8, 1)).astype(np.float32)
  noisy = np.clip(clean + rng.uniform(-8 / 255, 8 / 255, clean.shape), 0, 1)
  path = report.perturbation_figure(clean, noisy, tmp_path / "grey.png", titles=["a", "b"])
  assert path.stat().st_size > 1_000
  report.perturbation_figure(clean[0, ..., [0, 0, 0]].transpose(1, 2, 0),
                             noisy[0, ..., [0, 0, 0]].transpose(1, 2, 0), tmp_path / "rgb.png")
  with pytest.raises(ValueError, match="differ in shape"):
    report.perturbation_figure(clean, noisy[:1], tmp_path / "x.png")
  with pytest.raises(ValueError, match="titles"):
    report.perturbation_figure(clean, noisy, tmp_path / "x.png", titles=["a"])


def _content_rows():
  """Content rows as the section writes them: defenses none and amr, budgets 4 and 16."""
  def row(metric, value, defense, attack="none", eps=None, k=5, **keys):
    return report.make_row(model="vbpr", metric=metric, value=value, k=k, defense=defense,
                           attack=attack, budget=eps, surface="content", eps=eps,
                           eps_unit=None if eps is None else "/255", retrained=False, **keys)
  rows = [row("items_without_image", 2.0, "none", k=None)]
  for d, hr0, acc, ndcg in (("none", 0.1, 0.9, 0.2), ("amr", 0.05, 0.9, 0.18)):
    rows += [row("extractor_accuracy", acc, d, k=None), row("ndcg", ndcg, d),
             row("target_hr", hr0, d), row("chr_source", 0.3, d)]
    for e, gain in ((4.0, 0.1), (16.0, 0.4)):
      rows += [row("target_hr", hr0 + gain, d, "score-push", e),
               row("psnr", 20 * math.log10(255 / e) + 1, d, "score-push", e, k=None),
               row("success_rate", gain, d, "taamr", e, k=None, source_category="shoes",
                   target_category="bags"),
               row("attacked_items", 20.0, d, "taamr", e, k=None),
               row("chr_source", 0.3 + gain, d, "taamr", e)]
  return rows


def test_content_summary_from_rows():
  rows = _content_rows()
  s = audit.summarize(rows, model="bpr-mf", dataset="toy", ks=(5, 10),
                      fail_on=[audit.parse_condition("content_hr_lift>4")])
  text = "\n".join(s.lines)
  # 4/255 is the budget nearest to 8/255
  assert ("content surface (VBPR on CNN features of the item images; CNN accuracy 0.9; 2 items "
          "without an image): score-push at 4/255 lifts the pushed items' HR@5 from 0.1 to 0.2 "
          "(PSNR 37.1 dB); TAaMR at 4/255 makes the CNN see 10% of 20 shoes as bags (their "
          "category's CHR@5 0.3 -> 0.4)") in text
  assert ("content defenses at 4/255 (against none): amr: score-push moves the pushed items' "
          "HR@5 0.05 -> 0.15, TAaMR success 10%, accuracy cost: nDCG@5 0.2 -> 0.18") in text
  assert "fake-profile attacks" not in text  # content rows are no fake-profile attack
  lifts = {f.label: f.quantities["content_hr_lift"] for f in s.findings
           if "content_hr_lift" in f.quantities}
  assert lifts == pytest.approx({"content none 4/255": 2.0, "content none 16/255": 5.0,
                                 "content amr 4/255": 3.0, "content amr 16/255": 9.0})
  (held,) = s.failed
  assert held[1] == ["content none 16/255", "content amr 16/255"]
  table = key_table(rows, model="bpr-mf", ks=(5,))
  assert "| none | 0.2 | 0.9 | 0.1 | 0.2 | 37.1 | 10% |" in table
  assert not any(line.startswith("| attack |") for line in table)


def test_small_catalogues_push_every_long_tail_item_with_a_note():
  from jaxrec import data
  has = np.arange(12) != 3
  item_images = data.ItemImages(images=np.zeros((12, 4, 4, 3), np.float32), has_image=has,
                                files=tuple("x" * (i != 3) for i in range(12)), missing=(3,))
  labels = np.eye(2, dtype=np.float32)[np.arange(12) % 2]
  content = _config.item_content(item_images, labels, num_items=12)
  assert content.labels.tolist() == [0, 1] * 6 and not content.multi_label
  # items 0 and 1 are the short head (20% of 12: 2 items); 11 has no training interaction; 3
  # has no image: 8 long-tail items can be pushed
  users = np.repeat(np.arange(6), 4)
  items = np.array([0, 1, 2, 3, 0, 1, 4, 5, 0, 1, 6, 7, 0, 1, 8, 9, 0, 1, 10, 2, 0, 1, 4, 6])
  train = data.build_index(users, items, num_users=6, num_items=12)
  notes = []
  default = audit.ContentSettings().num_push_items
  assert default > 8
  settings = _run._content_settings(audit.AuditConfig(), content, train, notes)
  assert settings.num_push_items == 8
  assert notes == ["only 8 long-tail items (outside the 20% most popular) have an image and a "
                   "training interaction: the content section's score-push attack pushes all 8 "
                   f"instead of {default}"]
  config = audit.AuditConfig(content_options={"num_push_items": 5})
  assert _run._content_settings(config, content, train, []).num_push_items == 5
  with pytest.raises(ValueError, match="only 8 long-tail items .* needs 9"):
    _run._content_settings(audit.AuditConfig(content_options={"num_push_items": 9}), content,
                           train, [])
  # genres: several categories per item stay multi-hot
  genres = labels.copy()
  genres[0, 1] = 1
  assert _config.item_content(item_images, genres, num_items=12).multi_label
  with pytest.raises(ValueError, match="two categories with 5 or more"):
    _config.item_content(item_images, np.eye(2, dtype=np.float32)[(np.arange(12) > 8) * 1],
                         num_items=12)
  with pytest.raises(ValueError, match="the images cover 12 items, the interaction data 13"):
    _config.item_content(item_images, labels, num_items=13)


def test_a_failing_content_section_leaves_a_partial_report(tmp_path, monkeypatch):
  from jaxrec import data
  paths = make_catalogue(tmp_path / "cat")

  def boom(**kwargs):
    raise RuntimeError("content exploded")

  monkeypatch.setattr(_run, "content_section", boom)
  dataset = data.load_delimited(paths["data"], sep=",", user_col="user", item_col="item",
                                rating_col="rating", timestamp_col="ts", header=True)
  image_map = data.read_image_map(paths["image_map"], item_ids=dataset.item_ids)
  images = data.load_image_folder(paths["images"], image_map, len(dataset.item_ids))
  labels, names = data.read_categories(paths["categories"], item_ids=dataset.item_ids)
  config = audit.AuditConfig(epochs=1, dim=4, ks=(5,), attacks=())
  out = tmp_path / "out"
  with pytest.raises(RuntimeError, match="content exploded"):
    audit.run_audit(dataset, config, out, progress=False, echo=lambda s: None, images=images,
                    categories=labels, category_names=names)
  r = report.load_report(out)
  assert r["status"] == "partial" and "content exploded" in r["error"]
  assert {row["model"] for row in r["rows"]} == {"bpr-mf", "most-pop"}
  assert [(s["name"], s["completed"]) for s in r["provenance"]["sections"]] == [
      ("clean", True), ("content", False)]
  assert not (out / "content.png").exists()
  with pytest.raises(ValueError, match="needs both images and categories"):
    audit.run_audit(dataset, config, tmp_path / "other", images=images)
