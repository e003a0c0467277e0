"""Attacks on recommenders. Interaction data: heuristic fake-profile (shilling) recipes and the
poison -> retrain -> measure pipeline."""

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
from jaxrec.attacks._targets import STRATEGIES as STRATEGIES
from jaxrec.attacks._targets import default_filler_size as default_filler_size
from jaxrec.attacks._targets import num_fake_users as num_fake_users
from jaxrec.attacks._targets import select_targets as select_targets

__all__ = [
    "AttackKnowledge", "CellResult", "FakeProfiles", "Recipe", "STRATEGIES", "attacker_knowledge",
    "average_attack", "bandwagon_attack", "default_filler_size", "inject", "love_hate_attack",
    "num_fake_users", "poisoned_interactions", "power_user_attack", "random_attack",
    "reverse_bandwagon_attack", "run_poisoning", "sample_distinct", "segment_attack",
    "select_targets",
]
