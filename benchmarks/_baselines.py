"""Baseline trainers for the benchmarks: PyTorch BPR-MF and LightGCN loops, the implicit library.

``benchmarks/bpr_epoch.py`` times jaxrec's BPR-MF epoch against these in the same process and
reports ratios (``benchmarks/lightgcn_epoch.py`` likewise for LightGCN, against
:func:`torch_lightgcn_epoch_times`) (these 2-core machines are noisy; absolute seconds move between runs). Every
trainer times whole epochs, sampling included, and returns::

  {"epoch_s": [seconds per timed epoch], "median_s": ..., "first_epoch_s": ..., "final_loss": ...}

``first_epoch_s`` is the first epoch run (a warm-up epoch when ``warmup > 0``; it is not part of
``epoch_s``). ``final_loss`` is the same post-hoc number for every trainer
(:func:`bpr_sample_loss`: mean ``-log sigma(x_ui - x_uj)`` on a fixed sample of triples with the
trained factors), so a baseline that is fast because it learns nothing shows up.

The baselines are optional (the ``bench`` extra): each trainer prints a note and returns ``None``
when its library is not installed. Nothing here imports jaxrec.

Run ``python benchmarks/_baselines.py [--datasets ml-100k ml-1m] [--repeats 5]`` to print both
baselines on MovieLens-100K and -1M.
"""

from __future__ import annotations

import gzip
import os
import statistics
import time
from pathlib import Path

import numpy as np

__all__ = ["bpr_sample_loss", "implicit_bpr_epoch_times", "load_ml100k", "load_ml1m",
           "torch_bpr_epoch_times", "torch_lightgcn_epoch_times", "torch_pgd_step_times"]

_REPO = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------------------------------------
# Data


def load_average() -> str:
  """The 1/5/15-minute load averages as a string ("n/a" where the OS has none)."""
  try:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())
  except OSError:
    return "n/a"


def _data_dir() -> Path:
  return Path(os.environ.get("JAXREC_SHARED_DATA", _REPO.parent / "shared" / "data"))


def _require(path: Path) -> Path:
  if not path.is_file():
    raise FileNotFoundError(
        f"{path} not found: the benchmarks read the shared MovieLens copies; set "
        f"JAXREC_SHARED_DATA to the folder holding movielens-1m/ and movielens-100k/ "
        f"(default {_REPO.parent / 'shared' / 'data'})")
  return path


def _zero_based(users: np.ndarray, items: np.ndarray):
  users = users.astype(np.int32) - 1
  items = items.astype(np.int32) - 1
  return users, items, int(users.max()) + 1, int(items.max()) + 1


def load_ml1m():
  """MovieLens-1M as 0-based ``(users, items, num_users, num_items)`` (1,000,209 pairs).

  Reads ``movielens-1m/ratings_user_itemidx_rating.csv.gz`` (header ``user_id,item_idx,rating``,
  1-based ids) under ``$JAXREC_SHARED_DATA`` (default ``<repo>/../shared/data``). Ratings are
  dropped: every pair is a positive.

  Raises:
    FileNotFoundError: the file is absent.
  """
  path = _require(_data_dir() / "movielens-1m" / "ratings_user_itemidx_rating.csv.gz")
  with gzip.open(path, "rt") as f:
    a = np.loadtxt(f, delimiter=",", skiprows=1, usecols=(0, 1), dtype=np.int64)
  return _zero_based(a[:, 0], a[:, 1])


def load_ml100k():
  """MovieLens-100K as 0-based ``(users, items, num_users, num_items)`` (100,000 pairs).

  Reads ``movielens-100k/u.data`` (tab-separated ``user item rating timestamp``, 1-based ids)
  under ``$JAXREC_SHARED_DATA`` (default ``<repo>/../shared/data``).

  Raises:
    FileNotFoundError: the file is absent.
  """
  path = _require(_data_dir() / "movielens-100k" / "u.data")
  a = np.loadtxt(path, delimiter="\t", usecols=(0, 1), dtype=np.int64)
  return _zero_based(a[:, 0], a[:, 1])


# ---------------------------------------------------------------------------------------------
# Shared helpers


def _check_sampleable(users, items, num_items) -> None:
  if len(users) == 0:
    raise ValueError("no interactions: cannot sample BPR triples")
  deg = np.bincount(np.unique(np.asarray(users, np.int64) * num_items + items) // num_items)
  if deg.max() >= num_items:
    raise ValueError(f"user {int(deg.argmax())} has every item as a positive: no negative exists")


def bpr_sample_loss(user_f, item_f, item_b, users, items, num_items, *, n=100_000, seed=1234):
  """Mean BPR log-loss ``-log sigma(x_ui - x_uj)`` of trained factors on fixed sampled triples.

  ``x_ui = <user_f[u], item_f[i]> (+ item_b[i])``. ``n`` positive pairs are drawn uniformly with
  replacement, negatives uniformly among the user's non-positives; the sample depends only on
  the data and ``seed``, so every trainer is scored on the same triples. No L2 term.
  """
  users = np.asarray(users, np.int64)
  items = np.asarray(items, np.int64)
  keys = np.unique(users * num_items + items)
  rng = np.random.default_rng(seed)
  idx = rng.integers(0, len(users), n)
  u, i = users[idx], items[idx]
  j = np.empty(n, np.int64)
  todo = np.arange(n)
  while todo.size:  # rejection: redraw only the negatives that hit a positive
    j[todo] = rng.integers(0, num_items, todo.size)
    q = u[todo] * num_items + j[todo]
    hit = keys[np.minimum(np.searchsorted(keys, q), len(keys) - 1)] == q
    todo = todo[hit]
  uf = np.asarray(user_f, np.float64)[u]
  x = np.sum(uf * (np.asarray(item_f, np.float64)[i] - np.asarray(item_f, np.float64)[j]), axis=1)
  if item_b is not None:
    b = np.asarray(item_b, np.float64).reshape(-1)
    x += b[i] - b[j]
  return float(np.mean(np.logaddexp(0.0, -x)))


def _summary(times, first, final_loss, **extra):
  out = {"epoch_s": list(times), "median_s": statistics.median(times), "first_epoch_s": first,
         "final_loss": final_loss}
  out.update(extra)
  return out


# ---------------------------------------------------------------------------------------------
# PyTorch


def _torch_sample_epoch(torch, gen, u_all, i_all, keys, num_items):
  """One epoch of triples: ``N`` positives with replacement, uniform non-positive negatives.

  ``keys`` is the sorted ``user * num_items + item`` of the positives; negatives that hit a key
  are redrawn (only those) until none does.
  """
  n = u_all.numel()
  dev = u_all.device
  idx = torch.randint(n, (n,), generator=gen, device=dev)
  su, sp = u_all[idx], i_all[idx]
  sn = torch.empty(n, dtype=torch.int64, device=dev)
  todo = torch.arange(n, device=dev)
  while todo.numel():
    sn[todo] = torch.randint(num_items, (todo.numel(),), generator=gen, device=dev)
    q = su[todo] * num_items + sn[todo]
    pos = torch.searchsorted(keys, q).clamp_(max=keys.numel() - 1)
    todo = todo[keys[pos] == q]
  return su, sp, sn


def torch_bpr_epoch_times(users, items, num_users, num_items, *, dim=64, batch_size=4096,
                          lr=None, reg=1e-4, optimizer="adam", repeats=5, warmup=1, seed=0,
                          threads=2, device="cpu"):
  """Epoch times of a plain PyTorch mini-batch BPR-MF, the way typical research code writes it.

  Model: ``nn.Embedding`` user and item tables of width ``dim`` (dense gradients) plus an item
  bias table, initialised N(0, 0.01^2) / 0 like jaxrec's ``bpr-mf``. One epoch = ``N`` triples
  (``N`` = number of interactions):

  * sampling (timed, vectorised over the whole epoch): positive pairs uniformly with replacement;
    negatives uniform over items, rejection-resampled until none is a positive of its user
    (membership by ``torch.searchsorted`` in the sorted ``user * num_items + item`` keys; only
    the rejected entries are redrawn, so a negative is never a positive);
  * ``ceil(N / batch_size)`` steps of ``loss = sum_b -logsigmoid(x_ui - x_uj)
    + reg/2 * (|p_u|^2 + |q_i|^2 + |q_j|^2)`` over the batch rows (jaxrec's objective; biases
    unregularised), ``zero_grad`` / ``backward`` / ``step``.

  Args:
    users, items: ``(N,)`` 0-based int arrays of positive pairs.
    num_users, num_items: table sizes.
    dim: number of factors.
    batch_size: triples per optimiser step.
    lr: learning rate; ``None`` gives 1e-3 for Adam and 0.01 for SGD.
    reg: L2 coefficient.
    optimizer: ``"adam"`` (``torch.optim.Adam``, dense: it updates every row each step, as
      research code does) or ``"sgd"`` (``torch.optim.SGD``, no momentum).
    repeats: timed epochs.
    warmup: untimed epochs run first.
    seed: seeds the initialisation and the sampler.
    threads: ``torch.set_num_threads`` for the run (restored afterwards).
    device: ``"cpu"`` or ``"cuda"`` (epochs are then timed after ``torch.cuda.synchronize``).

  Returns:
    The dict described in the module docstring, plus ``train_loss`` (mean per-triple BPR term of
    the last epoch, without L2), or ``None`` when PyTorch is not installed.
  """
  try:
    import torch
    import torch.nn.functional as F
  except ImportError:
    print("torch_bpr_epoch_times: PyTorch is not installed (pip install 'jaxrec[bench]'); skipped")
    return None
  if optimizer not in ("adam", "sgd"):
    raise ValueError(f"optimizer must be 'adam' or 'sgd', got {optimizer!r}")
  _check_sampleable(users, items, num_items)
  prev_threads = torch.get_num_threads()
  torch.set_num_threads(threads)
  try:
    torch.manual_seed(seed)
    gen = torch.Generator(device=device).manual_seed(seed)
    u_all = torch.as_tensor(np.asarray(users, np.int64), device=device)
    i_all = torch.as_tensor(np.asarray(items, np.int64), device=device)
    n = u_all.numel()
    keys = torch.unique(u_all * num_items + i_all)  # sorted

    user_emb = torch.nn.Embedding(num_users, dim)
    item_emb = torch.nn.Embedding(num_items, dim)
    item_bias = torch.nn.Embedding(num_items, 1)
    torch.nn.init.normal_(user_emb.weight, std=0.01)
    torch.nn.init.normal_(item_emb.weight, std=0.01)
    torch.nn.init.zeros_(item_bias.weight)
    for m in (user_emb, item_emb, item_bias):
      m.to(device)
    params = [user_emb.weight, item_emb.weight, item_bias.weight]
    if optimizer == "adam":
      opt = torch.optim.Adam(params, lr=1e-3 if lr is None else lr)
    else:
      opt = torch.optim.SGD(params, lr=0.01 if lr is None else lr)

    def epoch():
      su, sp, sn = _torch_sample_epoch(torch, gen, u_all, i_all, keys, num_items)
      total = 0.0
      for s in range(0, n, batch_size):
        bu, bp, bn = su[s:s + batch_size], sp[s:s + batch_size], sn[s:s + batch_size]
        pu, qi, qj = user_emb(bu), item_emb(bp), item_emb(bn)
        x = (pu * (qi - qj)).sum(1) + (item_bias(bp) - item_bias(bn)).squeeze(1)
        bpr = -F.logsigmoid(x).sum()
        loss = bpr + 0.5 * reg * (pu.pow(2).sum() + qi.pow(2).sum() + qj.pow(2).sum())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total += bpr.item()
      return total / n

    times, first, train_loss = [], None, None
    for e in range(warmup + repeats):
      t0 = time.perf_counter()
      train_loss = epoch()
      if device != "cpu":
        torch.cuda.synchronize()
      dt = time.perf_counter() - t0
      first = dt if first is None else first
      if e >= warmup:
        times.append(dt)
    final = bpr_sample_loss(*(m.weight.detach().cpu().numpy()
                              for m in (user_emb, item_emb, item_bias)),
                            users, items, num_items)
    return _summary(times, first, final, train_loss=train_loss)
  finally:
    torch.set_num_threads(prev_threads)


def torch_pgd_step_times(users, items, negs, num_users, num_items, *, dim=64, eps=0.5,
                         step_size=0.125, repeats=5, warmup=1, threads=2, device="cpu"):
  """Seconds per full-gradient PGD step on BPR-MF's factors, the way PyTorch code writes it.

  One step = BPR loss of all ``(users, items, negs)`` triples under the current perturbation,
  backward to the perturbation tables, per-row L2 normalisation of the gradient, an ascent step
  of ``step_size`` and the projection of every row back into the L2 ball of radius ``eps``.
  Returns ``{"step_s": [...], "median_s": ...}`` or ``None`` without PyTorch.
  """
  try:
    import torch
    import torch.nn.functional as F
  except ImportError:
    print("torch_pgd_step_times: PyTorch is not installed; skipped")
    return None
  prev = torch.get_num_threads()
  torch.set_num_threads(threads)
  try:
    g = torch.Generator(device="cpu").manual_seed(0)
    p = (0.1 * torch.randn(num_users, dim, generator=g)).to(device)
    q = (0.1 * torch.randn(num_items, dim, generator=g)).to(device)
    u, i, j = (torch.as_tensor(np.asarray(x, np.int64), device=device) for x in (users, items,
                                                                                 negs))
    du = torch.zeros_like(p, requires_grad=True)
    dq = torch.zeros_like(q, requires_grad=True)

    def step():
      loss = -F.logsigmoid(((p + du)[u] * ((q + dq)[i] - (q + dq)[j])).sum(1)).sum()
      gu, gq = torch.autograd.grad(loss, (du, dq))
      with torch.no_grad():
        for d, gr in ((du, gu), (dq, gq)):
          d += step_size * gr / gr.norm(dim=1, keepdim=True).clamp_min(1e-15)
          d *= (eps / d.norm(dim=1, keepdim=True).clamp_min(1e-15)).clamp(max=1.0)
      if device != "cpu":
        torch.cuda.synchronize()

    times = []
    for e in range(warmup + repeats):
      t0 = time.perf_counter()
      step()
      if e >= warmup:
        times.append(time.perf_counter() - t0)
    return {"step_s": times, "median_s": statistics.median(times)}
  finally:
    torch.set_num_threads(prev)


def torch_lightgcn_epoch_times(users, items, num_users, num_items, *, dim=64, num_layers=3,
                               batch_size=2048, lr=1e-3, reg=1e-4, repeats=3, warmup=1,
                               max_steps=None, seed=0, threads=2):
  """Epoch times of a PyTorch LightGCN written the reference implementation's way.

  Follows gusye1234/LightGCN-PyTorch (``code/model.py``, ``LightGCN.computer`` and
  ``bpr_loss``), the PyTorch port the LightGCN paper (He et al., SIGIR 2020) links: the
  ``(U + I) x (U + I)`` normalised adjacency ``D^-1/2 A D^-1/2`` as a coalesced
  ``torch.sparse_coo_tensor`` (``d^-1/2 = 0`` for degree 0), built once; every step propagates
  all layers with ``torch.sparse.mm(graph, all_emb)``, averages layers 0..L, and takes
  ``mean softplus(x_uj - x_ui) + reg * 1/2 (|e_u^0|^2 + |e_i^0|^2 + |e_j^0|^2) / B`` with Adam
  (``lr`` 1e-3, ``reg`` 1e-4 and batch 2048 are the reference's defaults); embeddings start from
  N(0, 0.1^2). One epoch is ``ceil(N / batch_size)`` steps over ``N`` (= interactions) triples
  drawn as :func:`torch_bpr_epoch_times` draws them (positive pairs uniformly with replacement,
  exact uniform negatives; the reference draws a user first, then one of its positives).

  With ``max_steps`` below the epoch's step count only the first ``max_steps`` steps of each
  epoch are run and timed, and the epoch is reported as ``seconds * steps_per_epoch /
  max_steps`` (every step propagates the whole graph, so steps cost the same; sampling of the
  whole epoch is included once, unscaled).

  Args:
    users, items: ``(N,)`` 0-based int arrays of positive pairs (duplicates count once in the
      graph).
    num_users, num_items: table sizes.
    dim, num_layers: embedding size and propagation layers (64 and 3 in the paper).
    batch_size, lr, reg: as above.
    repeats: timed epochs. warmup: untimed epochs run first.
    max_steps: steps timed per epoch (``None``: all).
    seed: seeds the initialisation and the sampler.
    threads: ``torch.set_num_threads`` for the run (restored afterwards).

  Returns:
    The dict described in the module docstring (``epoch_s`` extrapolated as above; ``final_loss``
    from the propagated embeddings), plus ``step_s`` (median seconds per step),
    ``steps_per_epoch``, ``steps_timed``, ``setup_s`` (building the graph) and ``train_loss``
    (mean BPR term of the last epoch's timed steps), or ``None`` without PyTorch.
  """
  try:
    import torch
    import torch.nn.functional as F
  except ImportError:
    print("torch_lightgcn_epoch_times: PyTorch is not installed; skipped")
    return None
  _check_sampleable(users, items, num_items)
  prev_threads = torch.get_num_threads()
  torch.set_num_threads(threads)
  try:
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    u_all = torch.as_tensor(np.asarray(users, np.int64))
    i_all = torch.as_tensor(np.asarray(items, np.int64))
    n = u_all.numel()
    keys = torch.unique(u_all * num_items + i_all)  # sorted
    t0 = time.perf_counter()
    ru, ri = keys // num_items, keys % num_items  # unique pairs
    idx = torch.stack([torch.cat([ru, ri + num_users]), torch.cat([ri + num_users, ru])])
    deg = torch.bincount(idx[0], minlength=num_users + num_items).float()
    inv = torch.where(deg > 0, deg.clamp_min(1).pow(-0.5), torch.zeros_like(deg))
    graph = torch.sparse_coo_tensor(idx, inv[idx[0]] * inv[idx[1]],
                                    (num_users + num_items,) * 2).coalesce()
    setup_s = time.perf_counter() - t0
    user_emb = torch.nn.Embedding(num_users, dim)
    item_emb = torch.nn.Embedding(num_items, dim)
    torch.nn.init.normal_(user_emb.weight, std=0.1)
    torch.nn.init.normal_(item_emb.weight, std=0.1)
    opt = torch.optim.Adam([user_emb.weight, item_emb.weight], lr=lr)

    def computer():
      all_emb = torch.cat([user_emb.weight, item_emb.weight])
      embs = [all_emb]
      for _ in range(num_layers):
        all_emb = torch.sparse.mm(graph, all_emb)
        embs.append(all_emb)
      out = torch.mean(torch.stack(embs, dim=1), dim=1)
      return torch.split(out, [num_users, num_items])

    steps_per_epoch = -(-n // batch_size)
    steps = steps_per_epoch if max_steps is None else max(1, min(max_steps, steps_per_epoch))

    def epoch():
      su, sp, sn = _torch_sample_epoch(torch, gen, u_all, i_all, keys, num_items)
      total, t_steps = 0.0, time.perf_counter()
      for s in range(0, steps * batch_size, batch_size):
        bu, bp, bn = su[s:s + batch_size], sp[s:s + batch_size], sn[s:s + batch_size]
        all_users, all_items = computer()
        eu, ei, ej = all_users[bu], all_items[bp], all_items[bn]
        u0, i0, j0 = user_emb(bu), item_emb(bp), item_emb(bn)
        reg_loss = 0.5 * (u0.norm(2).pow(2) + i0.norm(2).pow(2) + j0.norm(2).pow(2)) / len(bu)
        bpr = torch.mean(F.softplus((eu * ej).sum(1) - (eu * ei).sum(1)))
        loss = bpr + reg * reg_loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total += bpr.item()
      return total / steps, time.perf_counter() - t_steps

    times, step_times, first, train_loss = [], [], None, None
    for e in range(warmup + repeats):
      t0 = time.perf_counter()
      train_loss, steps_s = epoch()
      sample_s = time.perf_counter() - t0 - steps_s
      dt = sample_s + steps_s * steps_per_epoch / steps
      first = dt if first is None else first
      if e >= warmup:
        times.append(dt)
        step_times.append(steps_s / steps)
    with torch.no_grad():
      fu, fi = computer()
    final = bpr_sample_loss(fu.numpy(), fi.numpy(), None, users, items, num_items)
    return _summary(times, first, final, train_loss=train_loss,
                    step_s=statistics.median(step_times), steps_per_epoch=steps_per_epoch,
                    steps_timed=steps, setup_s=setup_s)
  finally:
    torch.set_num_threads(prev_threads)


# ---------------------------------------------------------------------------------------------
# implicit


def implicit_bpr_epoch_times(users, items, num_users, num_items, *, dim=64, factors=None,
                             lr=0.01, reg=0.01, repeats=5, warmup=1, threads=2, seed=0):
  """Epoch times of ``implicit.cpu.bpr.BayesianPersonalizedRanking`` (C++/OpenMP hogwild SGD).

  One epoch is one of implicit's ``iterations``: ``N`` (= number of interactions) per-sample SGD
  updates, each drawing a positive pair uniformly from the interactions and a negative, all
  inside implicit's native loop.

  Width: implicit stores ``factors + 1`` columns, the last being 1 for users and the item bias
  for items, so its score is ``<p_u, q_i> + b_i``. That is exactly jaxrec's ``bpr-mf`` (and the
  torch baseline) with ``dim`` factors plus an item bias, so ``factors`` defaults to ``dim``,
  giving the same model and the same work per triple. (``factors=dim - 1`` would make the stored
  width ``dim`` but leaves one factor fewer than the models it is compared with.)

  Timing: the ``callback(epoch, elapsed, correct, skipped)`` of ``fit``, whose ``elapsed`` is
  implicit's own clock around each epoch's native update call. This measures each epoch alone,
  excluding the once-per-fit setup (CSR checks, factor init, RNG seeding), and gives per-epoch
  samples from one fit instead of a difference of two noisy fit times. Sampling is inside the
  native loop, so it is timed, as for the other trainers.

  Differences from the torch baseline and jaxrec, worth knowing when reading the ratios:
  implicit draws a negative as the item of a uniformly random *interaction* (popularity-weighted,
  not uniform), and when it hits a positive of the user it *skips* that update instead of
  redrawing, so an epoch does ``N - skipped`` updates (``skipped_frac`` reports it).

  Args:
    users, items: ``(N,)`` 0-based int arrays of positive pairs.
    num_users, num_items: table sizes.
    dim: number of factors of the compared model.
    factors: implicit's ``factors``; ``None`` means ``dim`` (see above).
    lr, reg: implicit's ``learning_rate`` and ``regularization`` (its defaults).
    repeats: timed epochs.
    warmup: untimed epochs run first (same fit).
    threads: implicit's ``num_threads``.
    seed: implicit's ``random_state`` (factor init and per-thread RNG seeds).

  Returns:
    The dict described in the module docstring, plus ``skipped_frac`` (fraction of the last
    epoch's samples skipped) and ``train_auc`` (implicit's ``correct / (N - skipped)`` of the last
    epoch), or ``None`` when implicit is not installed.
  """
  try:
    import scipy.sparse
    from implicit.cpu.bpr import BayesianPersonalizedRanking
  except ImportError:
    print("implicit_bpr_epoch_times: implicit (or scipy) is not installed "
          "(pip install 'jaxrec[bench]'); skipped")
    return None
  users = np.asarray(users, np.int32)
  items = np.asarray(items, np.int32)
  _check_sampleable(users, items, num_items)
  m = scipy.sparse.csr_matrix((np.ones(len(users), np.float32), (users, items)),
                              shape=(num_users, num_items))
  m.sum_duplicates()
  m.data[:] = 1.0
  n = m.nnz
  model = BayesianPersonalizedRanking(
      factors=dim if factors is None else factors, learning_rate=lr, regularization=reg,
      dtype=np.float32, iterations=warmup + repeats, num_threads=threads,
      verify_negative_samples=True, random_state=seed)
  log = []

  def callback(epoch, elapsed, correct, skipped):
    log.append((elapsed, correct, skipped))

  model.fit(m, show_progress=False, callback=callback)
  times = [t for t, _, _ in log[warmup:]]
  _, correct, skipped = log[-1]
  final = bpr_sample_loss(model.user_factors, model.item_factors, None, users, items, num_items)
  return _summary(times, log[0][0], final, skipped_frac=skipped / n,
                  train_auc=correct / max(n - skipped, 1))


# ---------------------------------------------------------------------------------------------


def _main(argv=None) -> None:
  import argparse  # pylint: disable=import-outside-toplevel
  loaders = {"ml-100k": ("ML-100K", load_ml100k), "ml-1m": ("ML-1M", load_ml1m)}
  p = argparse.ArgumentParser(description="Print the BPR-MF baselines' epoch times.")
  p.add_argument("--datasets", nargs="+", default=list(loaders), choices=list(loaders))
  p.add_argument("--repeats", type=int, default=5, help="timed epochs (after one warm-up)")
  args = p.parse_args(argv)
  for key in args.datasets:
    name, load = loaders[key]
    data = load()
    print(f"{name}: {data[2]} users, {data[3]} items, {len(data[0])} interactions")
    runs = (("torch (Adam, batch 4096)",
             lambda: torch_bpr_epoch_times(*data, repeats=args.repeats)),
            ("torch (SGD, batch 4096)",
             lambda: torch_bpr_epoch_times(*data, optimizer="sgd", repeats=args.repeats)),
            ("implicit (2 threads)", lambda: implicit_bpr_epoch_times(*data,
                                                                      repeats=args.repeats)))
    for label, run in runs:
      r = run()
      if r is None:
        continue
      extra = "".join(f", {k} {r[k]:.3f}" for k in ("train_loss", "skipped_frac") if k in r)
      print(f"  {label:26s} median {r['median_s'] * 1e3:8.1f} ms/epoch over {len(r['epoch_s'])}"
            f" epochs (first {r['first_epoch_s'] * 1e3:.1f} ms), final_loss "
            f"{r['final_loss']:.4f}{extra}")


if __name__ == "__main__":
  _main()
