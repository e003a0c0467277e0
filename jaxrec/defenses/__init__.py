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
                      the model of T epochs earlier (sharpcf_loss, TrajectoryModel; the
                      snapshots: jaxrec.optim.trajectory_snapshots)
  amr                 a VBPR victim trained with AMR (Tang et al., TKDE 2019): APR's rule on the
                      item features; amr_loss, its training loss
  madry_adversary     PGD adversarial training of the image extractor (Madry et al., ICLR
                      2018), for jaxrec.training.train_extractor(adversary=...)

Certified robustness:

  pore_ensemble       PORE (Jia et al., USENIX Security 2023): bagged item-based CF over users
                      sampled with replacement, vmapped on the executor; pore_recommend its
                      top-N, pore_certify / pore_certified_accuracy the number of items that
                      provably stay against e fake users, pore_bound its probability slack

Detection of injected profiles (shilling detection): detectors score every user of the
(poisoned) training data, higher = more suspicious, without knowing which users are fake:

  pca_suspicion       PCA-VarSelect (Mehta and Nejdl, 2009) by randomized subspace iteration
  profile_suspicion   RDMA, DegSim, LengthVar (Chirita et al., 2005; Burke et al., 2006), a
                      popularity deviation, combined by the largest z-score

Detect, remove, retrain (a defense in the poisoning pipeline: ``run_poisoning(sanitize=...)``):

  detect_and_remove   a jittable sanitizer: score every user of the poisoned index
                      (pca_suspicion_index, profile_suspicion_index), remove the num_flag most
                      suspicious (remove_flagged); the victim retrains on the rest

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
from jaxrec.defenses._pore import PoreEnsemble as PoreEnsemble
from jaxrec.defenses._pore import pore_bound as pore_bound
from jaxrec.defenses._pore import pore_certified_accuracy as pore_certified_accuracy
from jaxrec.defenses._pore import pore_certify as pore_certify
from jaxrec.defenses._pore import pore_ensemble as pore_ensemble
from jaxrec.defenses._pore import pore_recommend as pore_recommend
from jaxrec.defenses._profile_stats import profile_suspicion as profile_suspicion
from jaxrec.defenses._sanitize import detect_and_remove as detect_and_remove
from jaxrec.defenses._sanitize import pca_suspicion_index as pca_suspicion_index
from jaxrec.defenses._sanitize import profile_suspicion_index as profile_suspicion_index
from jaxrec.defenses._sanitize import remove_flagged as remove_flagged
from jaxrec.defenses._sharpcf import TrajectoryModel as TrajectoryModel
from jaxrec.defenses._sharpcf import sharpcf as sharpcf
from jaxrec.defenses._sharpcf import sharpcf_loss as sharpcf_loss

__all__ = [
    "PoreEnsemble", "TrajectoryModel", "adversarial_delta", "amr", "amr_loss", "apr",
    "apr_loss", "detect_and_remove", "detection_metrics", "fit_apr_grid", "flag_top",
    "madry_adversary", "pamacf", "pamacf_weights", "pca_suspicion", "pca_suspicion_index",
    "pore_bound", "pore_certified_accuracy", "pore_certify", "pore_ensemble", "pore_recommend",
    "profile_suspicion", "profile_suspicion_index", "remove_flagged", "sharpcf", "sharpcf_loss",
    "triple_delta", "user_apr", "user_apr_loss", "vat", "vat_weights",
]
