"""Defences against profile injection: unsupervised detection of fake users (shilling detection).

Detectors score every user of the (poisoned) training data, higher = more suspicious, without
knowing which users are fake:

  pca_suspicion       PCA-VarSelect (Mehta and Nejdl, 2009) by randomized subspace iteration
  profile_suspicion   RDMA, DegSim, LengthVar (Chirita et al., 2005; Burke et al., 2006) and
                      jaxrec's z-score sum of them

``flag_top`` turns scores into a flagged set; ``detection_metrics`` scores it against the ground
truth (precision, recall, survival of the fakes, and a random flagger's expected precision).
"""

from jaxrec.defenses._detection import detection_metrics as detection_metrics
from jaxrec.defenses._detection import flag_top as flag_top
from jaxrec.defenses._pca import pca_suspicion as pca_suspicion
from jaxrec.defenses._profile_stats import profile_suspicion as profile_suspicion

__all__ = ["detection_metrics", "flag_top", "pca_suspicion", "profile_suspicion"]
