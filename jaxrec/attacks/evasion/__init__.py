"""Evasion attacks: test-time perturbations of model parameters, item features or pixels.

Recipes are optax transforms run by :func:`jaxrec.optim.run` (one driver for every
optimisation): :func:`fgsm`, :func:`bim`, :func:`pgd` (budgets: L2 per row or per array,
L-infinity, optionally a box). :func:`perturb_embeddings` attacks BPR-MF's factors with them
(white-box worst case, He et al., SIGIR 2018); :mod:`jaxrec.attacks.content` uses the same
recipes on item images and features. Compose new attacks from an ``attack_loss(delta,
args)``, a recipe and :func:`jaxrec.optim.run` (``docs/compose.md``).
"""

from jaxrec.attacks.evasion._embedding import EmbeddingDelta as EmbeddingDelta
from jaxrec.attacks.evasion._embedding import attack_triples as attack_triples
from jaxrec.attacks.evasion._embedding import bpr_of_perturbed as bpr_of_perturbed
from jaxrec.attacks.evasion._embedding import perturb as perturb
from jaxrec.attacks.evasion._embedding import perturb_embeddings as perturb_embeddings
from jaxrec.attacks.evasion._recipes import bim as bim
from jaxrec.attacks.evasion._recipes import fgsm as fgsm
from jaxrec.attacks.evasion._recipes import pgd as pgd

__all__ = ["EmbeddingDelta", "attack_triples", "bim", "bpr_of_perturbed", "fgsm", "perturb",
           "perturb_embeddings", "pgd"]
