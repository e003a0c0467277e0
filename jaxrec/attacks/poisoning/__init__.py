"""Poisoning attacks: fake user profiles injected into the training data (shilling).

* Profiles and knowledge: :class:`FakeProfiles` (fixed capacity plus a mask),
  :func:`attacker_knowledge`; threat-model helpers :func:`select_targets`, :func:`num_fake_users`,
  :func:`default_filler_size`.
* Heuristic recipes (push or nuke): :func:`random_attack`, :func:`average_attack`,
  :func:`bandwagon_attack`, :func:`segment_attack`, :func:`love_hate_attack`,
  :func:`reverse_bandwagon_attack`, :func:`power_user_attack`.
* The pipeline: :func:`inject`, :func:`run_poisoning` (poison -> retrain -> measure on the
  experiment executor), :func:`poisoned_interactions` (for detectors).
* Learned profiles: attack losses :func:`ce_loss`, :func:`margin_loss`; :func:`bilevel_loss` and
  :func:`bilevel_attack` (RevAdv, one :func:`jaxrec.optim.run`) through a surrogate victim
  (:func:`lfm_surrogate` unrolled, :func:`als_surrogate` implicit, :func:`default_surrogate`,
  trained by :func:`fit_surrogate`);
  :func:`craft_bilevel` (exact filler budget); :func:`train_generator` (a generator network, with
  a discriminator); crafters :func:`bilevel_crafter`, :func:`generator_crafter` and
  :func:`craft_recipe` / :func:`precomputed_recipe` to run them through :func:`run_poisoning`;
  :func:`two_sample_accuracy` (stealth).
"""

from jaxrec.attacks.poisoning._bilevel import TargetLoss as TargetLoss
from jaxrec.attacks.poisoning._bilevel import bilevel_attack as bilevel_attack
from jaxrec.attacks.poisoning._bilevel import bilevel_loss as bilevel_loss
from jaxrec.attacks.poisoning._bilevel import ce_loss as ce_loss
from jaxrec.attacks.poisoning._bilevel import margin_loss as margin_loss
from jaxrec.attacks.poisoning._generator import GeneratorResult as GeneratorResult
from jaxrec.attacks.poisoning._generator import train_generator as train_generator
from jaxrec.attacks.poisoning._generator import two_sample_accuracy as two_sample_accuracy
from jaxrec.attacks.poisoning._heuristics import average_attack as average_attack
from jaxrec.attacks.poisoning._heuristics import bandwagon_attack as bandwagon_attack
from jaxrec.attacks.poisoning._heuristics import love_hate_attack as love_hate_attack
from jaxrec.attacks.poisoning._heuristics import power_user_attack as power_user_attack
from jaxrec.attacks.poisoning._heuristics import random_attack as random_attack
from jaxrec.attacks.poisoning._heuristics import (
    reverse_bandwagon_attack as reverse_bandwagon_attack)
from jaxrec.attacks.poisoning._heuristics import segment_attack as segment_attack
from jaxrec.attacks.poisoning._learned import Crafter as Crafter
from jaxrec.attacks.poisoning._learned import bilevel_crafter as bilevel_crafter
from jaxrec.attacks.poisoning._learned import craft_bilevel as craft_bilevel
from jaxrec.attacks.poisoning._learned import craft_recipe as craft_recipe
from jaxrec.attacks.poisoning._learned import generator_crafter as generator_crafter
from jaxrec.attacks.poisoning._learned import precomputed_recipe as precomputed_recipe
from jaxrec.attacks.poisoning._learned import profiles_from_binary as profiles_from_binary
from jaxrec.attacks.poisoning._pipeline import CellResult as CellResult
from jaxrec.attacks.poisoning._pipeline import Recipe as Recipe
from jaxrec.attacks.poisoning._pipeline import inject as inject
from jaxrec.attacks.poisoning._pipeline import poisoned_interactions as poisoned_interactions
from jaxrec.attacks.poisoning._pipeline import run_poisoning as run_poisoning
from jaxrec.attacks.poisoning._profiles import AttackKnowledge as AttackKnowledge
from jaxrec.attacks.poisoning._profiles import FakeProfiles as FakeProfiles
from jaxrec.attacks.poisoning._profiles import attacker_knowledge as attacker_knowledge
from jaxrec.attacks.poisoning._surrogates import als_surrogate as als_surrogate
from jaxrec.attacks.poisoning._surrogates import default_surrogate as default_surrogate
from jaxrec.attacks.poisoning._surrogates import fit_surrogate as fit_surrogate
from jaxrec.attacks.poisoning._surrogates import lfm_surrogate as lfm_surrogate
from jaxrec.attacks.poisoning._targets import default_filler_size as default_filler_size
from jaxrec.attacks.poisoning._targets import num_fake_users as num_fake_users
from jaxrec.attacks.poisoning._targets import select_targets as select_targets

__all__ = [
    "AttackKnowledge", "CellResult", "Crafter", "FakeProfiles", "GeneratorResult", "Recipe",
    "TargetLoss", "als_surrogate", "attacker_knowledge", "average_attack", "bandwagon_attack",
    "bilevel_attack", "bilevel_crafter", "bilevel_loss", "ce_loss", "craft_bilevel",
    "craft_recipe", "default_filler_size", "default_surrogate", "fit_surrogate",
    "generator_crafter", "inject",
    "lfm_surrogate", "love_hate_attack", "margin_loss", "num_fake_users", "poisoned_interactions",
    "power_user_attack", "precomputed_recipe", "profiles_from_binary", "random_attack",
    "reverse_bandwagon_attack", "run_poisoning", "segment_attack", "select_targets",
    "train_generator", "two_sample_accuracy",
]
