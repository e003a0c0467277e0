"""Defences.

Adversarial training:

  apr                 a BPR-MF victim trained with APR (He et al., SIGIR 2018): BPR plus BPR
                      under the worst-case embedding perturbation (FGSM, or PGD inside)
  apr_loss            that training loss; adversarial_delta, its inner perturbation
  fit_apr_grid        BPR pre-training, then APR over an (eps, lambda_) grid on the executor
  amr                 a VBPR victim trained with AMR (Tang et al., TKDE 2019): APR's rule on the
                      item features; amr_loss, its training loss
  madry_adversary     PGD adversarial training of the image extractor (Madry et al., ICLR
                      2018), for jaxrec.training.train_extractor(adversary=...)

Detection of injected profiles (shilling detection): detectors score every user of the
(poisoned) training data, higher = more suspicious, without knowing which users are fake:

  pca_suspicion       PCA-VarSelect (Mehta and Nejdl, 2009) by randomized subspace iteration
  profile_suspicion   RDMA, DegSim, LengthVar (Chirita et al., 2005; Burke et al., 2006), a
                      popularity deviation, combined by the largest z-score

``flag_top`` turns scores into a flagged set; ``detection_metrics`` scores it against the ground
truth (precision, recall, survival of the fakes, and a random flagger's expected precision).
"""

from jaxrec.defenses._adversarial import adversarial_delta as adversarial_delta
from jaxrec.defenses._adversarial import apr as apr
from jaxrec.defenses._adversarial import apr_loss as apr_loss
from jaxrec.defenses._adversarial import fit_apr_grid as fit_apr_grid
from jaxrec.defenses._content import amr as amr
from jaxrec.defenses._content import amr_loss as amr_loss
from jaxrec.defenses._content import madry_adversary as madry_adversary
from jaxrec.defenses._detection import detection_metrics as detection_metrics
from jaxrec.defenses._detection import flag_top as flag_top
from jaxrec.defenses._pca import pca_suspicion as pca_suspicion
from jaxrec.defenses._profile_stats import profile_suspicion as profile_suspicion

__all__ = [
    "adversarial_delta", "amr", "amr_loss", "apr", "apr_loss", "detection_metrics",
    "fit_apr_grid", "flag_top", "pca_suspicion", "profile_suspicion",
]
