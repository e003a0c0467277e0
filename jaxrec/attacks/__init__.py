"""Attacks on recommenders.

* Perturbations (model parameters, content features, pixels): optax-style transforms (``sign``,
  ``normalize``, ``project`` with L2 / L-infinity balls and boxes, ``random_start``), recipes
  ``fgsm``, ``bim``, ``pgd``, one driver ``run``; test-time attacks on BPR-MF's embeddings.
* Interaction data: heuristic fake-profile (shilling) recipes and the poison -> retrain ->
  measure pipeline; learned fake profiles by unrolled bilevel optimisation through a surrogate's
  training (RevAdv), projected to an exact filler budget, and by a trained generator network
  (with an optional discriminator term for stealth).
"""

from jaxrec.attacks._bilevel import BilevelState as BilevelState
from jaxrec.attacks._bilevel import Objective as BilevelObjective
from jaxrec.attacks._bilevel import bilevel_attack as bilevel_attack
from jaxrec.attacks._bilevel import bilevel_init as bilevel_init
from jaxrec.attacks._bilevel import bilevel_loss as bilevel_loss
from jaxrec.attacks._bilevel import bilevel_step as bilevel_step
from jaxrec.attacks._bilevel import ce_loss as ce_loss
from jaxrec.attacks._bilevel import clip_unit as clip_unit
from jaxrec.attacks._bilevel import heldout_hr_at_k as heldout_hr_at_k
from jaxrec.attacks._bilevel import margin_loss as margin_loss
from jaxrec.attacks._bilevel import project_threshold as project_threshold
from jaxrec.attacks._bilevel import project_top_m as project_top_m
from jaxrec.attacks._bilevel import target_hr_at_k as target_hr_at_k
from jaxrec.attacks._embedding import EmbeddingDelta as EmbeddingDelta
from jaxrec.attacks._embedding import attack_triples as attack_triples
from jaxrec.attacks._embedding import bpr_of_perturbed as bpr_of_perturbed
from jaxrec.attacks._embedding import perturb as perturb
from jaxrec.attacks._embedding import perturb_embeddings as perturb_embeddings
from jaxrec.attacks._evasion import bim as bim
from jaxrec.attacks._evasion import fgsm as fgsm
from jaxrec.attacks._evasion import pgd as pgd
from jaxrec.attacks._generator import ESTIMATORS as GENERATOR_ESTIMATORS
from jaxrec.attacks._generator import GeneratorResult as GeneratorResult
from jaxrec.attacks._generator import ProfileDiscriminator as ProfileDiscriminator
from jaxrec.attacks._generator import ProfileGenerator as ProfileGenerator
from jaxrec.attacks._generator import discriminator_loss as discriminator_loss
from jaxrec.attacks._generator import generate as generate_profiles
from jaxrec.attacks._generator import generator_loss as generator_loss
from jaxrec.attacks._generator import sample_inputs as sample_templates
from jaxrec.attacks._generator import train_generator as train_generator
from jaxrec.attacks._generator import two_sample_accuracy as two_sample_accuracy
from jaxrec.attacks._implicit import LINEAR_SOLVERS as LINEAR_SOLVERS
from jaxrec.attacks._implicit import ALSSurrogate as ALSSurrogate
from jaxrec.attacks._implicit import als_surrogate as als_surrogate
from jaxrec.attacks._implicit import als_sweep as als_sweep
from jaxrec.attacks._implicit import fit_als as fit_als
from jaxrec.attacks._learned import Crafter as Crafter
from jaxrec.attacks._learned import bilevel_crafter as bilevel_crafter
from jaxrec.attacks._learned import craft_bilevel as craft_bilevel
from jaxrec.attacks._learned import craft_recipe as craft_recipe
from jaxrec.attacks._learned import default_surrogate as default_surrogate
from jaxrec.attacks._learned import dense_matrix as dense_matrix
from jaxrec.attacks._learned import generator_crafter as generator_crafter
from jaxrec.attacks._learned import precomputed_recipe as precomputed_recipe
from jaxrec.attacks._learned import profiles_from_binary as profiles_from_binary
from jaxrec.attacks._learned import straight_through_top_m as straight_through_top_m
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
from jaxrec.attacks._surrogate import RELAXATIONS as RELAXATIONS
from jaxrec.attacks._surrogate import LFMParams as LFMParams
from jaxrec.attacks._surrogate import LFMSurrogate as LFMSurrogate
from jaxrec.attacks._surrogate import Surrogate as BilevelSurrogate
from jaxrec.attacks._surrogate import fit_surrogate as fit_surrogate
from jaxrec.attacks._surrogate import lfm_scores as lfm_scores
from jaxrec.attacks._surrogate import lfm_surrogate as lfm_surrogate
from jaxrec.attacks._surrogate import weighted_mse as weighted_mse
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
    "ALSSurrogate", "AttackKnowledge", "BilevelObjective", "BilevelState", "BilevelSurrogate",
    "CellResult", "Crafter", "EmbeddingDelta", "FakeProfiles", "GENERATOR_ESTIMATORS",
    "GeneratorResult", "LFMParams", "LFMSurrogate", "LINEAR_SOLVERS", "NORMS",
    "ProfileDiscriminator", "ProfileGenerator", "RELAXATIONS", "Recipe", "STRATEGIES",
    "als_surrogate", "als_sweep", "attack_triples", "attacker_knowledge", "average_attack",
    "bandwagon_attack", "bilevel_attack", "bilevel_crafter", "bilevel_init", "bilevel_loss",
    "bilevel_step", "bim", "bpr_of_perturbed", "ce_loss", "clip_unit", "craft_bilevel",
    "craft_recipe", "default_filler_size", "default_surrogate", "dense_matrix",
    "discriminator_loss", "fgsm", "fit_als", "fit_surrogate", "generate_profiles",
    "generator_crafter", "generator_loss", "heldout_hr_at_k", "inject", "lfm_scores",
    "lfm_surrogate", "love_hate_attack", "margin_loss", "normalize", "num_fake_users",
    "perturb", "perturb_embeddings", "pgd", "poisoned_interactions", "power_user_attack",
    "precomputed_recipe", "profiles_from_binary", "project", "project_box", "project_l2_ball",
    "project_linf_ball", "project_threshold", "project_top_m", "random_attack", "random_start",
    "reverse_bandwagon_attack", "run", "run_poisoning", "sample_distinct", "sample_templates",
    "segment_attack", "select_targets", "sign", "straight_through_top_m", "target_hr_at_k",
    "train_generator", "tree_norms", "two_sample_accuracy", "weighted_mse",
]
