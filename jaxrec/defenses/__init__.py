"""Defences.

Adversarial training:

  apr                 a BPR-MF victim trained with APR (He et al., SIGIR 2018): BPR plus BPR
                      under the worst-case embedding perturbation (FGSM, or PGD inside)
  apr_loss            that training loss; adversarial_delta, its inner perturbation
  fit_apr_grid        BPR pre-training, then APR over an (eps, lambda_) grid on the executor
  user_apr            APR with a radius per user, perturbing every triple's rows; its loss
                      user_apr_loss and perturbation triple_delta
  vat                 VAT (Zhang et al., RecSys 2024): radius by the user's fit (vat_weights)
  pamacf              PamaCF (Zhang et al., NeurIPS 2024): radius by the user embedding's scale
                      (pamacf_weights)
  sharpcf             SharpCF (Chen et al., RecSys 2023): BPR plus a trajectory loss towards
                      the model of T epochs earlier (sharpcf_loss, TrajectoryModel,
                      trajectory_snapshots)
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
from jaxrec.defenses._personalized import pamacf as pamacf
from jaxrec.defenses._personalized import pamacf_weights as pamacf_weights
from jaxrec.defenses._personalized import triple_delta as triple_delta
from jaxrec.defenses._personalized import user_apr as user_apr
from jaxrec.defenses._personalized import user_apr_loss as user_apr_loss
from jaxrec.defenses._personalized import vat as vat
from jaxrec.defenses._personalized import vat_weights as vat_weights
from jaxrec.defenses._profile_stats import profile_suspicion as profile_suspicion
from jaxrec.defenses._sharpcf import TrajectoryModel as TrajectoryModel
from jaxrec.defenses._sharpcf import TrajectoryParams as TrajectoryParams
from jaxrec.defenses._sharpcf import sharpcf as sharpcf
from jaxrec.defenses._sharpcf import sharpcf_loss as sharpcf_loss
from jaxrec.defenses._sharpcf import trajectory_snapshots as trajectory_snapshots

__all__ = [
    "TrajectoryModel", "TrajectoryParams", "adversarial_delta", "amr", "amr_loss", "apr",
    "apr_loss", "detection_metrics", "fit_apr_grid", "flag_top", "pamacf", "pamacf_weights",
    "pca_suspicion", "profile_suspicion", "sharpcf", "sharpcf_loss", "trajectory_snapshots",
    "triple_delta", "user_apr", "user_apr_loss", "vat", "vat_weights",
]
