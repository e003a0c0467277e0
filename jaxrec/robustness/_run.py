"""``jaxrec characteristics``: the whole study, from a source dataset to ``report.json``.

Sample sub-datasets, attack each (every attack on the same sub-datasets), fit one OLS per
(attack, robustness measure) on the standardised characteristics, and write ``DIR/report.json``
(tidy rows: every sub-dataset's characteristics and measures, every coefficient's estimate,
standard error, t and p-value, R squared), ``DIR/report.md`` (the verdict on the study's stated
intuition first, then the coefficient table) and ``DIR/characteristics.png``.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Callable

import numpy as np

from jaxrec import _checks
from jaxrec.data._interactions import Interactions
from jaxrec.data._stats import characteristics
from jaxrec.data._subsample import sample_subdatasets
from jaxrec.robustness._regression import OLSFit, fit_ols
from jaxrec.robustness._study import (STUDY_CHARACTERISTICS, attack_subdatasets,
                                      heuristic_attack, learned_attack, study_table)

__all__ = ["INTUITION", "StudyConfig", "run_study", "verdict"]

INTUITION = {
    "log_shape": (+1, "a small catalogue relative to the user base (large shape = users / items) "
                      "makes pushing an item easier"),
    "log_density": (-1, "a denser matrix (more feedback per user) makes the system more robust"),
}
"""The study's stated intuition (Deldjoo et al., SIGIR 2020) as the expected sign of each
variable's coefficient on the attack's gain (``delta_target_hr``)."""

RESPONSES = ("delta_target_hr", "prediction_shift")


@dataclasses.dataclass(frozen=True)
class StudyConfig:
  """The settings of a characteristics study (validated on construction).

  Attributes:
    model: victim name (:data:`jaxrec.audit.MODELS`); dim, epochs, lr, reg, batch_size,
      optimizer: overrides of its recipe (``None``: the model's default).
    attacks: attack names (:data:`jaxrec.audit.ATTACKS`; push attacks).
    num_samples: sub-datasets (at least 8: the regression's 7 terms + 1). budget: fake users as a share of each sub-dataset's users (or a
      count). num_targets: targets per sub-dataset, attacked together. k: HR cut-off.
    seed: the study's seed (sampling, training, attacks).
    user_fractions, item_fractions, keep: the sampler's grid (:func:`jaxrec.data.
      sample_subdatasets`); each list needs two distinct values at least.
    learned_steps: outer steps of a learned attack.
    lanes: sub-datasets per vmapped program (``None``: the backend's default).
  """

  model: str = "bpr-mf"
  dim: int | None = 32
  epochs: int | None = 40
  lr: float | None = None
  reg: float | None = None
  batch_size: int | None = None
  optimizer: str | None = None
  attacks: tuple[str, ...] = ("bandwagon",)
  num_samples: int = 108
  budget: float | int = 0.01
  num_targets: int = 5
  k: int = 10
  seed: int = 0
  user_fractions: tuple[float, ...] = (0.4, 0.7, 1.0)
  item_fractions: tuple[float, ...] = (0.4, 0.7, 1.0)
  keep: tuple[float, float] = (0.3, 1.0)
  learned_steps: int = 10
  lanes: int | None = None

  def __post_init__(self):
    from jaxrec.audit._registry import ATTACKS, NUKE_ATTACKS  # pylint: disable=import-outside-toplevel
    if not self.attacks:
      raise ValueError("attacks must name at least one attack")
    for a in self.attacks:
      _checks.choice("attack", a, tuple(x for x in ATTACKS if x not in NUKE_ATTACKS))
    # the regression has an intercept and up to len(STUDY_CHARACTERISTICS) terms
    _checks.integer("num_samples", self.num_samples, low=len(STUDY_CHARACTERISTICS) + 2)
    for name in ("user_fractions", "item_fractions"):
      if len(set(getattr(self, name))) < 2:
        raise ValueError(f"{name} needs at least two distinct values: with one, log_space and "
                         "log_shape are both functions of the other count (collinear)")
    _checks.integer("num_targets", self.num_targets, low=1)
    _checks.integer("k", self.k, low=1)
    _checks.integer("seed", self.seed, low=0, high=2**32 - 1)
    _checks.integer("learned_steps", self.learned_steps, low=0)
    if self.lanes is not None:
      _checks.integer("lanes", self.lanes, low=1)
    self.victim()  # the recipe's own checks

  def victim(self):
    """The victim (:func:`jaxrec.audit.make_victim` with this config's overrides)."""
    from jaxrec.audit._registry import make_victim  # pylint: disable=import-outside-toplevel
    return make_victim(self.model, dim=self.dim, epochs=self.epochs, lr=self.lr, reg=self.reg,
                       batch_size=self.batch_size, optimizer=self.optimizer)

  def attack(self, name: str):
    """The :data:`jaxrec.robustness.Attack` of an attack name."""
    from jaxrec.audit._registry import (HEURISTIC_ATTACKS,  # pylint: disable=import-outside-toplevel
                                        LEARNED_ATTACKS, SELECTED_ATTACKS)
    from jaxrec.attacks.poisoning import bilevel_crafter  # pylint: disable=import-outside-toplevel
    if name in HEURISTIC_ATTACKS:
      settings = {"num_selected": 1} if name in SELECTED_ATTACKS else {}
      return heuristic_attack(HEURISTIC_ATTACKS[name], **settings)
    if name == "revadv":
      return learned_attack(bilevel_crafter(num_steps=self.learned_steps))
    return learned_attack(LEARNED_ATTACKS[name]())


def verdict(fits: dict[str, OLSFit], alpha: float = 0.05) -> list[str]:
  """One line per (attack, intuition variable): the coefficient's sign and significance on
  ``delta_target_hr`` next to the study's stated intuition (:data:`INTUITION`), computed from
  the fits.

  Args:
    fits: ``{attack: OLSFit of delta_target_hr}``.
    alpha: significance level of the two-sided t-test.

  Returns:
    Markdown lines.

  Raises:
    Nothing (a variable missing from a fit is reported as such).

  Source:
    jaxrec; the intuition as stated by Deldjoo et al., SIGIR 2020.
  """
  lines = []
  for attack, fit in fits.items():
    lines.append(f"- **{attack}** (R^2 = {fit.r_squared:.3f}, n = {fit.num_obs}):")
    for term, (sign, text) in INTUITION.items():
      try:
        c = fit.coefficient(term)
      except KeyError:
        lines.append(f"  - {term}: not in the fit")
        continue
      significant = c.p_value < alpha
      observed = "positive" if c.estimate > 0 else "negative"
      expected = "positive" if sign > 0 else "negative"
      if not significant:
        agreement = "not significant at the {:g} level: the data neither support nor contradict"
        agreement = agreement.format(alpha)
      elif np.sign(c.estimate) == sign:
        agreement = "significant, agrees with"
      else:
        agreement = "significant, contradicts"
      lines.append(f"  - {term}: {c.estimate:+.3g} per SD (SE {c.std_error:.2g}, p = "
                   f"{c.p_value:.3g}), {observed}; {agreement} the intuition that {text} "
                   f"(expected {expected}).")
  return lines


def run_study(interactions: Interactions, config: StudyConfig, out: str | Path, *,
              name: str = "", progress: bool = True,
              echo: Callable[[str], None] = print) -> dict:
  """Runs the study (module docstring) and writes its report.

  Args:
    interactions: the source dataset (all its interactions: the study trains on each sub-dataset
      whole, no test split).
    config: a :class:`StudyConfig`.
    out: output folder (created).
    name: the dataset's name, for the report.
    progress: a tqdm bar (with ETA) per attack.
    echo: where status lines go.

  Returns:
    The report dict (as written to ``out/report.json``).

  Raises:
    ValueError: from the sampler, the attacks or the regression (e.g. too few sub-datasets).

  Source:
    Deldjoo, Di Noia, Di Sciascio, Merra, SIGIR 2020 (the design); jaxrec.
  """
  from tqdm.auto import tqdm  # pylint: disable=import-outside-toplevel

  from jaxrec import report  # pylint: disable=import-outside-toplevel
  from jaxrec.report._schema import atomic_write  # pylint: disable=import-outside-toplevel

  started = time.perf_counter()
  samples = sample_subdatasets(interactions, config.num_samples, seed=config.seed,
                               user_fractions=config.user_fractions,
                               item_fractions=config.item_fractions, keep=config.keep)
  victim = config.victim()
  echo(f"{len(samples)} sub-datasets of {name or 'the source'} ({interactions.num_users} users x "
       f"{interactions.num_items} items); victim {config.model}; attacks "
       f"{', '.join(config.attacks)} at budget {config.budget}")
  rows, fits, timings, predictors = [], {}, {}, []
  for attack_name in config.attacks:
    bar = tqdm(total=len(samples), desc=f"{attack_name}: sub-datasets", disable=not progress)
    clock: dict = {}
    results = attack_subdatasets(samples, config.attack(attack_name), victim=victim,
                                 budget=config.budget, num_targets=config.num_targets,
                                 ks=(config.k,), seed=config.seed, lanes=config.lanes,
                                 progress=bar.update, timings=clock)
    bar.close()
    timings[attack_name] = clock
    echo(f"{attack_name}: compile {clock['compile_s']:.0f} s, attacks {clock['attack_s']:.0f} s, "
         f"train and measure {clock['run_s']:.0f} s ({clock['programs']} programs)")
    table = study_table(results, k=config.k)
    keys = dict(model=config.model, attack=attack_name, budget=config.budget)
    for s, r in enumerate(results):
      for metric in ("target_hr_before", "target_hr_after", "delta_target_hr"):
        rows.append(report.make_row(metric=metric, value=table[metric][s], k=config.k,
                                    sample=s, **keys))
      rows.append(report.make_row(metric="prediction_shift", value=r.prediction_shift,
                                  sample=s, **keys))
    predictors = [v for v in STUDY_CHARACTERISTICS if v in table]
    for response in RESPONSES:
      fit = fit_ols(table, response, predictors)
      if response == "delta_target_hr":
        fits[attack_name] = fit
      k = config.k if response == "delta_target_hr" else None
      for c in fit.coefficients:
        for metric, value in (("ols_estimate", c.estimate), ("ols_std_error", c.std_error),
                              ("ols_t", c.t), ("ols_p_value", c.p_value)):
          rows.append(report.make_row(metric=metric, value=value, k=k, response=response,
                                      term=c.term, **keys))
      for metric, value in (("ols_r_squared", fit.r_squared),
                            ("ols_adj_r_squared", fit.adj_r_squared),
                            ("ols_num_obs", fit.num_obs)):
        rows.append(report.make_row(metric=metric, value=value, k=k, response=response,
                                    **keys))
  for s, sample in enumerate(samples):  # the characteristics, once per sub-dataset
    for metric, value in characteristics(sample.interactions).items():
      if value is not None:
        rows.append(report.make_row(model="none", metric=metric, value=value, sample=s,
                                    keep=sample.keep, sample_seed=sample.seed))
  summary = [f"Robustness of {config.model} to {', '.join(config.attacks)} "
             f"({config.budget} of each sub-dataset's users as fake users, {config.num_targets} "
             f"targets) over {len(samples)} sub-datasets of {name or 'the source'}: OLS of the "
             f"change of target HR@{config.k} on the standardised characteristics "
             f"({', '.join(predictors)}).", "", *verdict(fits)]
  config_dict = {**dataclasses.asdict(config), "timings": timings,
                 "duration_s": time.perf_counter() - started}
  rep = report.build_report(dataset={"name": name, **characteristics(interactions)},
                            config=config_dict, rows=rows)
  rep["summary"] = summary
  out = Path(out)
  report.write_report(out, rep)
  ols_rows = [r for r in rows if r["metric"].startswith("ols_")]
  atomic_write(out / "report.md", report.to_markdown({**rep, "rows": ols_rows}))
  report.plot_coefficients(rows, out / "characteristics.png")
  for line in summary:
    echo(line)
  echo(f"report written to {out / 'report.json'}, {out / 'report.md'} and "
       f"{out / 'characteristics.png'}")
  return rep
