"""Attacks on recommenders.

* Perturbations (model parameters, content features, pixels): optax-style transforms (``sign``,
  ``normalize``, ``project`` with L2 / L-infinity balls and boxes, ``random_start``), recipes
  ``fgsm``, ``bim``, ``pgd``, one driver ``run``; test-time attacks on BPR-MF's embeddings.
* Interaction data: heuristic fake-profile (shilling) recipes and the poison -> retrain ->
  measure pipeline.
"""

from jaxrec.attacks._embedding import EmbeddingDelta as EmbeddingDelta
from jaxrec.attacks._embedding import attack_triples as attack_triples
from jaxrec.attacks._embedding import bpr_of_perturbed as bpr_of_perturbed
from jaxrec.attacks._embedding import perturb as perturb
from jaxrec.attacks._embedding import perturb_embeddings as perturb_embeddings
from jaxrec.attacks._evasion import bim as bim
from jaxrec.attacks._evasion import fgsm as fgsm
from jaxrec.attacks._evasion import pgd as pgd
from jaxrec.attacks._poisoning import CellResult as CellResult
from jaxrec.attacks._poisoning import Recipe as Recipe
from jaxrec.attacks._poisoning import inject as inject
from jaxrec.attacks._poisoning import poisoned_interactions as poisoned_interactions
from jaxrec.attacks._poisoning import run_poisoning as run_poisoning
from jaxrec.attacks._profiles import AttackKnowledge as AttackKnowledge
from jaxrec.attacks._profiles import FakeProfiles as FakeProfiles
from jaxrec.attacks._profiles import attacker_knowledge as attacker_knowledge
from jaxrec.attacks._profiles import sample_distinct as sample_distinct
from jaxrec.attacks._recipes import average_attack as average_attack
from jaxrec.attacks._recipes import bandwagon_attack as bandwagon_attack
from jaxrec.attacks._recipes import love_hate_attack as love_hate_attack
from jaxrec.attacks._recipes import power_user_attack as power_user_attack
from jaxrec.attacks._recipes import random_attack as random_attack
from jaxrec.attacks._recipes import reverse_bandwagon_attack as reverse_bandwagon_attack
from jaxrec.attacks._recipes import segment_attack as segment_attack
from jaxrec.attacks._run import run as run
from jaxrec.attacks._targets import STRATEGIES as STRATEGIES
from jaxrec.attacks._targets import default_filler_size as default_filler_size
from jaxrec.attacks._targets import num_fake_users as num_fake_users
from jaxrec.attacks._targets import select_targets as select_targets
from jaxrec.attacks._transforms import NORMS as NORMS
from jaxrec.attacks._transforms import normalize as normalize
from jaxrec.attacks._transforms import project as project
from jaxrec.attacks._transforms import project_box as project_box
from jaxrec.attacks._transforms import project_l2_ball as project_l2_ball
from jaxrec.attacks._transforms import project_linf_ball as project_linf_ball
from jaxrec.attacks._transforms import random_start as random_start
from jaxrec.attacks._transforms import sign as sign
from jaxrec.attacks._transforms import tree_norms as tree_norms

__all__ = [
    "AttackKnowledge", "CellResult", "EmbeddingDelta", "FakeProfiles", "NORMS", "Recipe",
    "STRATEGIES", "attack_triples", "attacker_knowledge", "average_attack", "bandwagon_attack",
    "bim", "bpr_of_perturbed", "default_filler_size", "fgsm", "inject", "love_hate_attack",
    "normalize", "num_fake_users", "perturb", "perturb_embeddings", "pgd", "poisoned_interactions",
    "power_user_attack", "project", "project_box", "project_l2_ball", "project_linf_ball",
    "random_attack", "random_start", "reverse_bandwagon_attack", "run", "run_poisoning",
    "sample_distinct", "segment_attack", "select_targets", "sign", "tree_norms",
]
