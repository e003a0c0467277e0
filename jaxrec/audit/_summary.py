"""The audit's verdict: a summary that fits one screen, warnings, a key table, and ``--fail-on``.

Everything here is computed from the report's tidy rows (so it can be recomputed from any
``report.json``), at one cut-off ``k`` (the smallest of the audit's ``ks``):

* **Findings**, one per surface: the clean model against the most-popular baseline; each
  (attack, budget) cell, ranked by severity (the attacker's gain in the targets' mean HR@k:
  after minus before for a push, before minus after for a nuke); the APR defense (its most
  robust setting against BPR, with the popularity side effects); each defense of the defense
  benchmark (rows with ``section="defenses"``: the attacked targets' HR@50, or at the largest k,
  against no defense, the attacks under which it is not lower, and its clean side effects); the content surface (rows with
  ``surface="content"``: the image attacks on VBPR at one pixel budget, 8/255 or the nearest
  one run, and what each content defense changes).
* **Warnings**: what makes the numbers suspect (an untrained model, a model below the popularity
  baseline, a nuke of targets nobody is recommended anyway, an attack whose effect goes the wrong
  way, two attacks with identical results).
* **Quantities** of each finding (:data:`QUANTITIES`), which ``--fail-on`` conditions such as
  ``"target_hr_lift>5"`` test: the audit fails when a condition holds for any finding.
"""

from __future__ import annotations

import dataclasses
import math
import operator
import re
from typing import Iterable

from jaxrec.audit._registry import NUKE_ATTACKS

__all__ = ["Condition", "Finding", "QUANTITIES", "Summary", "key_table", "parse_condition",
           "summarize"]

QUANTITIES = {
    "ndcg": ("model", "the clean model's nDCG@k"),
    "ndcg_vs_popularity": ("model", "the clean model's nDCG@k / the most-popular baseline's"),
    "target_hr_before": ("attack", "the targets' mean HR@k before the attack"),
    "target_hr_after": ("attack", "the targets' mean HR@k after the attack"),
    "target_hr_lift": ("attack", "after / before (inf when only after is > 0, 1 when both are "
                                 "0); a push succeeds above 1, a nuke below 1"),
    "target_hr_gain": ("attack", "the attacker's gain in HR@k: after - before for a push, "
                                 "before - after for a nuke"),
    "ndcg_change_pct": ("attack", "change of the real users' nDCG@k under the attack, in % of "
                                  "the clean value"),
    "detected": ("attack", "share of the fake users the best detector flags (its recall)"),
    "pgd_hr_drop": ("model", "relative HR@k drop of the undefended BPR-MF under PGD at the "
                             "largest robustness eps (with --defense apr)"),
    "apr_pgd_hr_drop": ("defense", "the same for the most robust APR setting"),
    "apr_arp_change_pct": ("defense", "change of ARP@k (popularity bias) of that APR setting "
                                      "against BPR, in %"),
    "defense_target_hr_change_pct": ("defense", "change of the targets' mean HR@k' under "
                                     "attack (k' = 50 when run, else the largest k) with the "
                                     "defense against without, in %, averaged over attacks, "
                                     "budgets and seeds (defense benchmark)"),
    "defense_ndcg_change_pct": ("defense", "change of the clean model's nDCG@k' with the "
                                "defense against without, in % (defense benchmark)"),
    "defense_arp_change_pct": ("defense", "change of the clean model's ARP@k' (popularity "
                               "bias) with the defense against without, in % (defense "
                               "benchmark)"),
    "content_hr_lift": ("content", "the pushed items' mean HR@k after / before the score-push "
                                   "image attack (inf when only after is > 0, 1 when both are "
                                   "0), for every content defense and pixel budget"),
    "content_success_rate": ("content", "share of the source category's items the CNN sees as "
                                        "the target category after TAaMR, for every content "
                                        "defense and pixel budget"),
}
"""``name -> (surface, meaning)`` of every quantity ``--fail-on`` can test."""

_OPS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt,
        "==": operator.eq}


@dataclasses.dataclass(frozen=True)
class Condition:
  """A ``--fail-on`` condition ``quantity op threshold``, e.g. ``target_hr_lift>5``."""
  quantity: str
  op: str
  threshold: float

  def holds(self, value: float) -> bool:
    return bool(_OPS[self.op](value, self.threshold))

  def __str__(self) -> str:
    return f"{self.quantity}{self.op}{self.threshold:g}"


def parse_condition(text: str) -> Condition:
  """Parses ``"NAME OP NUMBER"`` (spaces optional; OP one of ``> >= < <= ==``).

  Raises:
    ValueError: not of that form, or NAME not in :data:`QUANTITIES` (the message lists them).

  Source: jaxrec.
  """
  m = re.fullmatch(r"\s*([a-z_]+)\s*(>=|<=|==|>|<)\s*([-+0-9.eE]+|inf)\s*", text)
  if not m:
    raise ValueError(f"--fail-on {text!r}: expected NAME OP NUMBER, e.g. 'target_hr_lift>5' "
                     f"(OP one of > >= < <= ==)")
  name, op, number = m.groups()
  if name not in QUANTITIES:
    raise ValueError(f"--fail-on {text!r}: unknown quantity {name!r}; one of "
                     f"{', '.join(QUANTITIES)}")
  try:
    threshold = float(number)
  except ValueError:
    raise ValueError(f"--fail-on {text!r}: {number!r} is not a number") from None
  return Condition(name, op, threshold)


@dataclasses.dataclass(frozen=True)
class Finding:
  """One line of the verdict.

  Attributes:
    surface: ``"model"``, ``"attack"``, ``"defense"`` or ``"content"``.
    label: what it is about (``"bandwagon 5%"``).
    severity: the ordering key among attacks (the attacker's HR@k gain); 0 otherwise.
    text: the sentence shown.
    quantities: values of :data:`QUANTITIES` names.
  """
  surface: str
  label: str
  severity: float
  text: str
  quantities: dict


@dataclasses.dataclass(frozen=True)
class Summary:
  """The audit's verdict (module docstring).

  Attributes:
    lines: the summary as printed and written first in ``report.md`` (at most 40 lines).
    warnings: sentences, also in the report's ``warnings`` section.
    findings: model, attacks (most severe first), defense.
    failed: the ``--fail-on`` conditions that hold, each with the findings it holds for.
  """
  lines: list[str]
  warnings: list[str]
  findings: list[Finding]
  failed: list[tuple[Condition, list[str]]]


class _Rows:
  """Lookup of tidy rows by key values."""

  def __init__(self, rows: Iterable[dict]):
    self.rows = list(rows)

  def get(self, **keys) -> float | None:
    hit = [r["value"] for r in self.rows if all(r.get(k) == v for k, v in keys.items())]
    return hit[0] if len(hit) == 1 else None


def summarize(rows: list[dict], *, model: str, dataset: str, ks: Iterable[int],
              epochs: int | None = None, attacks: Iterable[str] = (),
              threshold: float | None = None,
              fail_on: Iterable[Condition] = (), max_attack_lines: int = 16) -> Summary:
  """The verdict of an audit from its tidy rows.

  Args:
    rows: the report's rows (``jaxrec audit``'s sections; any subset, e.g. a partial report).
    model: the audited model's name. dataset: the dataset's name (for the title).
    ks: the audit's cut-offs; the summary uses the smallest.
    epochs: the training epochs (``0``: untrained, warned), ``None`` for closed-form models.
    attacks: the attacks that were run, in order (to find identical ones).
    threshold: the audit's rating threshold (``None``: every interaction is positive).
    fail_on: conditions to test (:func:`parse_condition`).
    max_attack_lines: attack findings shown; the rest are counted in one line.

  Returns:
    A :class:`Summary`.

  Source: jaxrec (metrics: docs/metrics.md, docs/attacks.md, docs/defenses.md).
  """
  k = min(ks)
  bench = [r for r in rows if r.get("section") == "defenses"]
  rs = _Rows(r for r in rows if r.get("section") != "defenses")
  findings: list[Finding] = []
  warnings: list[str] = []

  users = rs.get(model=model, metric="users", attack="none", defense="none", eps=None)
  mine = rs.get(model=model, metric="ndcg", k=k, attack="none", defense="none", eps=None)
  pop = rs.get(model="most-pop", metric="ndcg", k=k, attack="none")
  if epochs == 0:
    warnings.append(f"{model} was not trained (0 epochs): every number is that of its random "
                    "initialisation")
  if mine is not None:
    hr = rs.get(model=model, metric="hr", k=k, attack="none", defense="none", eps=None)
    cov = rs.get(model=model, metric="coverage", k=k, attack="none", defense="none", eps=None)
    arp = rs.get(model=model, metric="arp", k=k, attack="none", defense="none", eps=None)
    q = {"ndcg": mine}
    versus = ""
    if pop is not None:
      q["ndcg_vs_popularity"] = mine / pop if pop > 0 else math.inf
      versus = f" vs most-popular {_f(pop)} ({_ratio(mine, pop)})"
      if mine < pop:
        warnings.append(f"{model} is below the most-popular baseline (nDCG@{k} {_f(mine)} vs "
                        f"{_f(pop)}): under-trained, mis-tuned, or data where popularity "
                        "predicts well; attack effects on it may not carry over to a model "
                        "that personalises")
    text = (f"model: {model} nDCG@{k} {_f(mine)}{versus}; HR@{k} {_f(hr)}, coverage@{k} "
            f"{_f(cov)}, ARP@{k} {_f(arp)}")
    findings.append(Finding("model", model, 0.0, text, q))

  attack_findings = _attack_findings(rs, model, k, warnings)
  findings.extend(attack_findings)
  warnings.extend(_identical_attacks(rs, list(attacks), threshold))
  findings.extend(_apr_findings(rs, k))
  findings.extend(_benchmark_findings(bench, ks))
  findings.extend(_content_findings(rs, k))

  failed = []
  for cond in fail_on:
    if not any(cond.quantity in f.quantities for f in findings):
      # a gate that cannot be checked (no attack, no APR section, a zero baseline) fails closed
      failed.append((cond, [f"nothing: no finding has {cond.quantity} in this run"]))
      continue
    where = [f.label for f in findings
             if cond.quantity in f.quantities and cond.holds(f.quantities[cond.quantity])]
    if where:
      failed.append((cond, where))

  title = f"## Summary: {model} on {dataset}"
  scope = f"HR@{k} and nDCG@{k}" + (f" over {int(users)} test users" if users else "")
  lines = [title, "", f"({scope}; full tables and a legend in report.md)", ""]
  lines += [f"- {f.text}" for f in findings if f.surface == "model" and f.text]
  if attack_findings:
    lines.append("- fake-profile attacks, most severe first:")
    shown = attack_findings[:max_attack_lines]
    lines += [f"  {n}. {f.text}" for n, f in enumerate(shown, 1)]
    if len(attack_findings) > len(shown):
      lines.append(f"  ... {len(attack_findings) - len(shown)} more in report.md")
  lines += [f"- {f.text}" for f in findings if f.surface == "defense"]
  lines += [f"- {f.text}" for f in findings if f.surface == "content" and f.text]
  if warnings:
    lines.append(f"- warnings ({len(warnings)}, details in report.md):")
    lines += [f"  ! {w}" for w in warnings[:6]]
    if len(warnings) > 6:
      lines.append(f"  ! ... {len(warnings) - 6} more")
  fail_on = list(fail_on)
  if fail_on:
    if failed:
      lines.append("- verdict: FAIL: " + "; ".join(
          f"{c} holds for {', '.join(w[:3])}{' ...' if len(w) > 3 else ''}" for c, w in failed))
    else:
      lines.append("- verdict: PASS: no --fail-on condition holds ("
                   + ", ".join(map(str, fail_on)) + ")")
  return Summary(lines, warnings, findings, failed)


def _attack_findings(rs: _Rows, model: str, k: int, warnings: list[str]) -> list[Finding]:
  before = rs.get(model=model, attack="none", defense="none", metric="target_hr", k=k,
                  target=None)
  clean_per_target = [r["value"] for r in rs.rows
                      if r.get("attack") == "none" and r["metric"] == "target_hr"
                      and r["k"] == k and r.get("target") is not None]
  clean_ndcg = rs.get(model=model, metric="ndcg", k=k, attack="none", defense="none", eps=None)
  cells = _cells(rs.rows)
  out = []
  nuked_nothing = set()
  for name, budget in cells:
    after = rs.get(attack=name, budget=budget, metric="target_hr", k=k, target=None,
                   defense="none")
    if after is None or before is None:
      continue
    nuke = name in NUKE_ATTACKS
    gain = (before - after) if nuke else (after - before)
    lift = after / before if before > 0 else (math.inf if after > 0 else 1.0)
    num_fake = next((r.get("num_fake") for r in rs.rows
                     if r.get("attack") == name and r.get("budget") == budget
                     and r.get("num_fake") is not None), None)
    size = _budget_text(budget) + (f" ({_plural(num_fake, 'fake user')})"
                                   if num_fake is not None
                                   and _budget_text(budget).endswith("%") else "")
    verb = "lowers" if after < before else "raises" if after > before else "leaves"
    change = (f"{verb} the targets' HR@{k} from {_f(before)} to {_f(after)} "
              f"({_ratio(after, before)})" if verb != "leaves"
              else f"leaves the targets' HR@{k} at {_f(before)}")
    q = {"target_hr_before": before, "target_hr_after": after, "target_hr_lift": lift,
         "target_hr_gain": gain}
    parts = [f"{name} ({'nuke' if nuke else 'push'}), {size}: {change}"]
    recalls = {r["defense"]: r["value"] for r in rs.rows
               if r.get("attack") == name and r.get("budget") == budget
               and r["metric"] == "detection_recall"}
    if recalls:
      best = max(recalls, key=recalls.get)
      q["detected"] = recalls[best]
      parts.append(f"detectors flag {100 * recalls[best]:.0f}% of the fakes (best: {best})")
    delta = rs.get(attack=name, budget=budget, metric="delta_ndcg", k=k, defense="none")
    if delta is not None and clean_ndcg:
      pct = 100 * delta / clean_ndcg
      q["ndcg_change_pct"] = pct
      parts.append(f"real users' nDCG@{k} {pct:+.1f}%")
    out.append(Finding("attack", f"{name} {_budget_text(budget)}", gain, "; ".join(parts), q))
    if gain < 0:
      warnings.append(f"{name} at {_budget_text(budget)} moved the targets' HR@{k} the wrong way "
                      f"for a {'nuke' if nuke else 'push'} ({_f(before)} -> {_f(after)}): "
                      "retraining noise or a failed attack")
    if nuke and clean_per_target and name not in nuked_nothing:
      zero = sum(v == 0 for v in clean_per_target)
      if zero:
        nuked_nothing.add(name)
        warnings.append(f"{name}: {zero} of {len(clean_per_target)} targets are in no user's "
                        f"top {k} before the attack, nothing to nuke (try --target-strategy "
                        "popular)")
  out.sort(key=lambda f: -f.severity)  # stable: equal gains keep the attack order
  return out


def _identical_attacks(rs: _Rows, attacks: list[str], threshold: float | None) -> list[str]:
  """Pairs of attacks whose rows (all budgets, all metrics) are the same values."""
  def signature(name):
    return sorted((str(r.get("budget")), r["metric"], str(r["k"]), str(r.get("target")),
                   r["defense"], r["value"]) for r in rs.rows if r["attack"] == name)
  out = []
  seen: dict = {}
  for name in attacks:
    sig = signature(name)
    if not sig:
      continue
    key = repr(sig)
    if key in seen:
      why = (" (without a threshold, random and average inject the same interactions)"
             if {seen[key], name} == {"random", "average"} and threshold is None else "")
      out.append(f"{seen[key]} and {name} gave identical results{why}")
    else:
      seen[key] = name
  return out


def _benchmark_findings(rows: list[dict], ks: Iterable[int]) -> list[Finding]:
  """One finding per benchmarked defense: attacked target HR@k' against no defense (means over
  attacks, budgets and seeds), clean accuracy and popularity side effects, the real users
  ``detect`` removes. States plainly under which attacks a defense does not lower it."""
  if not rows:
    return []
  ks = sorted(ks)
  k = 50 if 50 in ks else ks[-1]

  def mean(defense, metric, attack=None, clean=False):
    vals = [r["value"] for r in rows if r["defense"] == defense and r["metric"] == metric
            and r["k"] == (None if metric.startswith("flagged") else k)
            and ((r["attack"] == "none") if clean else
                 (r["attack"] != "none" and (attack is None or r["attack"] == attack)))]
    return sum(vals) / len(vals) if vals else None

  attacks = list(dict.fromkeys(r["attack"] for r in rows if r["attack"] != "none"))
  out = []
  for d in dict.fromkeys(r["defense"] for r in rows if r["defense"] != "none"):
    hr0, hr1 = mean("none", "target_hr"), mean(d, "target_hr")
    if hr0 is None or hr1 is None:
      continue
    base0, base1 = mean("none", "target_hr", clean=True), mean(d, "target_hr", clean=True)
    worse = [a for a in attacks if (mean(d, "target_hr", a) or 0.0) >= (
        mean("none", "target_hr", a) or 0.0)]
    n0, n1 = mean("none", "ndcg", clean=True), mean(d, "ndcg", clean=True)
    a0, a1 = mean("none", "arp", clean=True), mean(d, "arp", clean=True)
    c0, c1 = mean("none", "coverage", clean=True), mean(d, "coverage", clean=True)
    def pct(new, old):  # inf when only the new value is > 0
      return 100 * (new - old) / old if old else (math.inf if new > 0 else 0.0)

    q = {"defense_target_hr_change_pct": pct(hr1, hr0),
         "defense_ndcg_change_pct": pct(n1 or 0.0, n0 or 0.0),
         "defense_arp_change_pct": pct(a1 or 0.0, a0 or 0.0)}
    verdict = (f"lower under all {len(attacks)} attacks" if not worse else
               f"NOT lower under {', '.join(worse)}")
    text = (f"defense {d}: attacked targets' HR@{k} {_f(hr1)} vs {_f(hr0)} undefended "
            f"({q['defense_target_hr_change_pct']:+.0f}%, {verdict}; before the attack "
            f"{_f(base1)} vs {_f(base0)}); clean nDCG@{k} "
            f"{_f(n1)} vs {_f(n0)} ({q['defense_ndcg_change_pct']:+.0f}%), coverage@{k} "
            f"{_f(c0)} -> {_f(c1)}, ARP@{k} {_f(a0)} -> {_f(a1)} "
            f"({q['defense_arp_change_pct']:+.0f}% popularity bias)")
    real = mean(d, "flagged_real")
    if real is not None:
      fake = mean(d, "flagged_fake")
      text += (f"; removes {real:.1f} real users per run"
               + (f" ({fake:.1f} fake)" if fake is not None else ""))
    out.append(Finding("defense", f"{d} (benchmark)", 0.0, text, q))
  return out


def _apr_findings(rs: _Rows, k: int) -> list[Finding]:
  grid = [r for r in rs.rows if "eps" in r and "lambda" in r]
  if not grid:
    return []
  budgets = sorted({r["budget"] for r in grid if r["attack"] == "pgd"})
  settings = sorted({(r["eps"], r["lambda"]) for r in grid if r["lambda"] > 0})
  if not budgets or not settings:
    return []
  top = budgets[-1]

  def value(eps, lam, metric, attack="none", budget=None):
    return next((r["value"] for r in grid if r["eps"] == eps and r["lambda"] == lam
                 and r["metric"] == metric and r["attack"] == attack and r["k"] == k
                 and r["budget"] == budget), None)

  base_drop = value(0.0, 0.0, "hr_drop", "pgd", top)
  drops = {s: value(*s, "hr_drop", "pgd", top) for s in settings}
  drops = {s: d for s, d in drops.items() if d is not None}
  if base_drop is None or not drops:
    return []
  best = min(drops, key=lambda s: (drops[s], -(value(*s, "hr") or 0.0)))
  hr0, hr1 = value(0.0, 0.0, "hr"), value(*best, "hr")
  cov0, cov1 = value(0.0, 0.0, "coverage"), value(*best, "coverage")
  arp0, arp1 = value(0.0, 0.0, "arp"), value(*best, "arp")
  arp_pct = 100 * (arp1 - arp0) / arp0 if arp0 else 0.0
  text = (f"defense APR (eps {best[0]:g}, lambda {best[1]:g}, the most robust of "
          f"{_plural(len(settings), 'setting')}): PGD eps {top:g} {_cost(drops[best])} of "
          f"HR@{k} (BPR: {_cost(base_drop)}); clean HR@{k} {_f(hr1)} vs {_f(hr0)}; side "
          f"effects: coverage@{k} {_f(cov0)} -> {_f(cov1)}, ARP@{k} {_f(arp0)} -> {_f(arp1)} "
          f"({arp_pct:+.0f}% popularity bias)")
  return [Finding("defense", f"apr eps {best[0]:g} lambda {best[1]:g}", 0.0, text,
                  {"apr_pgd_hr_drop": drops[best], "apr_arp_change_pct": arp_pct}),
          Finding("model", "bpr-mf under PGD", 0.0, "", {"pgd_hr_drop": base_drop})]


def _content_eps(rs: _Rows) -> list[float]:
  """The pixel budgets of the content section's rows, ascending."""
  return sorted({r["eps"] for r in rs.rows if r.get("surface") == "content"
                 and r.get("eps_unit") == "/255" and r.get("eps") is not None})


def _headline_eps(budgets: list[float]) -> float | None:
  """The budget the summary shows: 8/255 when it was run, else the nearest (the larger on a
  tie)."""
  if not budgets:
    return None
  return min(budgets, key=lambda e: (abs(e - 8.0), -e))


def _lift(after: float, before: float) -> float:
  return after / before if before > 0 else (math.inf if after > 0 else 1.0)


def _content_findings(rs: _Rows, k: int) -> list[Finding]:
  """The content surface: the headline finding (the image attacks on the first defense run,
  normally the undefended ``none``), one line comparing the other content defenses at the same
  budget, and per (defense, budget) the quantities ``content_hr_lift`` and
  ``content_success_rate`` (no text)."""
  content = [r for r in rs.rows if r.get("surface") == "content"]
  if not content:
    return []
  cs = _Rows(content)
  defenses = list(dict.fromkeys(r["defense"] for r in content if r["defense"] is not None
                                and r.get("metric") == "extractor_accuracy"))
  budgets = _content_eps(cs)
  eps = _headline_eps(budgets)

  def get(defense, metric, attack="none", at=None, kk=None):
    return cs.get(defense=defense, attack=attack, eps=at, metric=metric, k=kk)

  out = []
  for d in defenses:  # quantities for --fail-on
    for e in budgets:
      q = {}
      before = get(d, "target_hr", kk=k)
      after = get(d, "target_hr", "score-push", e, k)
      if before is not None and after is not None:
        q["content_hr_lift"] = _lift(after, before)
      success = get(d, "success_rate", "taamr", e)
      if success is not None:
        q["content_success_rate"] = success
      if q:
        out.append(Finding("content", f"content {d} {e:g}/255", 0.0, "", q))
  if not defenses:
    return out
  base = "none" if "none" in defenses else defenses[0]
  missing = cs.get(metric="items_without_image")
  acc = get(base, "extractor_accuracy")
  head = ("content surface (VBPR on CNN features of the item images"
          + (f", {base} defense" if base != "none" else "")
          + (f"; CNN accuracy {_f(acc)}" if acc is not None else "")
          + (f"; {_plural(int(missing), 'item')} without an image" if missing else "") + ")")
  parts = []
  if eps is not None:
    before = get(base, "target_hr", kk=k)
    after = get(base, "target_hr", "score-push", eps, k)
    if before is not None and after is not None:
      verb = "lifts" if after > before else "lowers" if after < before else "leaves"
      psnr = get(base, "psnr", "score-push", eps)
      change = (f"from {_f(before)} to {_f(after)}" if verb != "leaves" else f"at {_f(before)}")
      parts.append(f"score-push at {eps:g}/255 {verb} the pushed items' HR@{k} {change}"
                   + (f" (PSNR {psnr:.1f} dB)" if psnr is not None else ""))
    success = get(base, "success_rate", "taamr", eps)
    if success is not None:
      c0 = get(base, "chr_source", kk=k)
      c1 = get(base, "chr_source", "taamr", eps, k)
      n = get(base, "attacked_items", "taamr", eps)
      pair = next((r for r in content if r["defense"] == base and r["attack"] == "taamr"
                   and r["metric"] == "success_rate" and r.get("eps") == eps), {})
      what = (f"{pair['source_category']} as {pair['target_category']}"
              if "source_category" in pair else "the source category as the target")
      parts.append(f"TAaMR at {eps:g}/255 makes the CNN see {100 * success:.0f}%"
                   + (f" of {int(n)}" if n is not None else "") + f" {what}"
                   + (f" (their category's CHR@{k} {_f(c0)} -> {_f(c1)})"
                      if c0 is not None and c1 is not None else ""))
  if not parts:
    parts.append("no image attack rows")
  out.append(Finding("content", "content", 0.0, f"{head}: " + "; ".join(parts), {}))
  others = []
  for d in defenses:
    if d == base or eps is None:
      continue
    bits = []
    before = get(d, "target_hr", kk=k)
    after = get(d, "target_hr", "score-push", eps, k)
    if before is not None and after is not None:
      bits.append(f"score-push moves the pushed items' HR@{k} {_f(before)} -> {_f(after)}")
    success = get(d, "success_rate", "taamr", eps)
    if success is not None:
      bits.append(f"TAaMR success {100 * success:.0f}%")
    n0, n1 = get(base, "ndcg", kk=k), get(d, "ndcg", kk=k)
    if n0 is not None and n1 is not None:
      what = "accuracy cost" if n1 < n0 else "accuracy change (no cost)"
      bits.append(f"{what}: nDCG@{k} {_f(n0)} -> {_f(n1)}")
    if d == "robust-extractor":
      a1 = get(d, "extractor_accuracy")
      if acc is not None and a1 is not None:
        bits.append(f"CNN accuracy {_f(acc)} -> {_f(a1)}")
    if bits:
      others.append(f"{d}: " + ", ".join(bits))
  if others:
    out.append(Finding("content", "content defenses", 0.0,
                       f"content defenses at {eps:g}/255 (against {base}): "
                       + "; ".join(others), {}))
  return out


def key_table(rows: list[dict], *, model: str, ks: Iterable[int]) -> list[str]:
  """The terminal's key table (markdown lines): the clean models at the smallest ``k``, then
  one line per (attack, budget) with the targets' mean HR@k, the real users' nDCG@k and its
  change, and the best detector's share of fake users flagged; with content rows, one line per
  content defense (clean nDCG@k, CNN accuracy, the pushed items' HR@k before and after
  score-push, its PSNR, TAaMR's success, at 8/255 or the nearest budget run). Missing values
  print as ``-``.

  Source: jaxrec.
  """
  k = min(ks)
  rows = [r for r in rows if r.get("section") != "defenses"]
  rs = _Rows(rows)
  lines = [f"| model | hr@{k} | ndcg@{k} | coverage@{k} | arp@{k} |", "|---|---|---|---|---|"]
  for m in ("most-pop", model):
    vals = [rs.get(model=m, metric=x, k=k, attack="none", defense="none", eps=None)
            for x in ("hr", "ndcg", "coverage", "arp")]
    if any(v is not None for v in vals):
      lines.append(f"| {m} | " + " | ".join(_f(v) for v in vals) + " |")
  cells = _cells(rows)
  if cells:
    lines += ["", f"| attack | budget | target_hr@{k} | ndcg@{k} | delta_ndcg@{k} | detected |",
              "|---|---|---|---|---|---|"]
    before = rs.get(model=model, attack="none", defense="none", metric="target_hr", k=k,
                    target=None)
    clean_ndcg = rs.get(model=model, metric="ndcg", k=k, attack="none", defense="none", eps=None)
    lines.append(f"| none | | {_f(before)} | {_f(clean_ndcg)} | | |")
    for name, budget in cells:
      recall = [r["value"] for r in rows if r.get("attack") == name and
                r.get("budget") == budget and r["metric"] == "detection_recall"]
      lines.append("| " + " | ".join([
          name, _budget_text(budget),
          _f(rs.get(attack=name, budget=budget, metric="target_hr", k=k, target=None,
                    defense="none")),
          _f(rs.get(attack=name, budget=budget, metric="ndcg", k=k, defense="none")),
          _f(rs.get(attack=name, budget=budget, metric="delta_ndcg", k=k, defense="none")),
          f"{100 * max(recall):.0f}%" if recall else ""]) + " |")
  return lines + _content_table(rs, k)


def _content_table(rs: _Rows, k: int) -> list[str]:
  """The content surface's key table: per content defense, the clean nDCG@k and CNN accuracy,
  and at the headline pixel budget the pushed items' HR@k, its PSNR and TAaMR's success."""
  content = _Rows(r for r in rs.rows if r.get("surface") == "content")
  defenses = list(dict.fromkeys(r["defense"] for r in content.rows
                                if r.get("metric") == "extractor_accuracy"))
  if not defenses:
    return []
  eps = _headline_eps(_content_eps(content))
  at = "" if eps is None else f" at {eps:g}/255"
  lines = ["", f"| content defense | ndcg@{k} | cnn accuracy | pushed hr@{k} | pushed hr@{k}{at} "
           f"| psnr{at} | taamr success{at} |", "|---|---|---|---|---|---|---|"]
  for d in defenses:
    def get(metric, attack="none", e=None, kk=None, d=d):
      return content.get(defense=d, attack=attack, eps=e, metric=metric, k=kk)
    success = None if eps is None else get("success_rate", "taamr", eps)
    lines.append("| " + " | ".join([
        d, _f(get("ndcg", kk=k)), _f(get("extractor_accuracy")), _f(get("target_hr", kk=k)),
        _f(None if eps is None else get("target_hr", "score-push", eps, k)),
        _f(None if eps is None else get("psnr", "score-push", eps)),
        "-" if success is None else f"{100 * success:.0f}%"]) + " |")
  return lines


def _cells(rows: list[dict]) -> list[tuple]:
  """(attack, budget) pairs with target exposure rows, in the order the audit ran them (the
  fake-profile attacks: rows of the content surface are left out)."""
  return list(dict.fromkeys((r["attack"], r["budget"]) for r in rows
                            if r["attack"] != "none" and r["metric"] == "target_hr"
                            and r.get("surface") != "content"))


def _budget_text(budget) -> str:
  if isinstance(budget, float) and budget < 1:
    return f"{100 * budget:g}%"
  return _plural(budget, "fake user")


def _plural(n, word: str) -> str:
  return f"{n} {word}{'' if n == 1 else 's'}"


def _cost(drop: float) -> str:
  """A relative HR drop as words: ``costs 44%`` or, when the attack raised HR, ``gains 5%``."""
  return f"costs {100 * drop:.0f}%" if drop >= 0 else f"gains {-100 * drop:.0f}%"


def _f(v) -> str:
  if v is None:
    return "-"
  if isinstance(v, float) and not math.isfinite(v):
    return str(v)
  if v == 0:
    return "0"
  if abs(v) >= 100:
    return f"{v:.0f}"
  return f"{v:.3g}" if abs(v) >= 0.001 else f"{v:.2g}"


def _ratio(a: float, b: float) -> str:
  if b > 0:
    r = a / b
    return f"{r:.2g}x" if r < 10 else f"{r:.0f}x"
  return "from zero" if a > 0 else "no change"

