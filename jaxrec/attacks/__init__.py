"""Attacks on recommenders, in two namespaces, and the one optimisation driver.

* :mod:`jaxrec.attacks.evasion`: test-time perturbations (FGSM, BIM, PGD) of parameters,
  features or pixels.
* :mod:`jaxrec.attacks.poisoning`: fake profiles (heuristic recipes, learned by bilevel
  optimisation or a generator) and the poison -> retrain -> measure pipeline.
* :func:`run`: the driver every attack (and every training run) steps with, the same object as
  :func:`jaxrec.optim.run`; transforms and projections live in :mod:`jaxrec.optim`.
"""

from jaxrec.attacks import evasion as evasion
from jaxrec.attacks import poisoning as poisoning
from jaxrec.optim import run as run

__all__ = ["evasion", "poisoning", "run"]
