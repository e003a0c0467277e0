"""Attacks on recommenders, in three namespaces (one per surface), and the one driver.

* :mod:`jaxrec.attacks.evasion`: test-time perturbations (FGSM, BIM, PGD) of parameters,
  features or pixels.
* :mod:`jaxrec.attacks.content`: test-time perturbations of item images and visual features
  (TAaMR's targeted misclassification, score push through CNN and VBPR, feature PGD).
* :mod:`jaxrec.attacks.poisoning`: fake profiles (heuristic recipes, learned by bilevel
  optimisation or a generator) and the poison -> retrain -> measure pipeline.
* :func:`run`: the driver every attack (and every training run) steps with, the same object as
  :func:`jaxrec.optim.run`; transforms and projections live in :mod:`jaxrec.optim`.
"""

from jaxrec.attacks import content as content
from jaxrec.attacks import evasion as evasion
from jaxrec.attacks import poisoning as poisoning
from jaxrec.optim import run as run

__all__ = ["content", "evasion", "poisoning", "run"]
