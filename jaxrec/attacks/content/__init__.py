"""Content attacks: test-time perturbations of item images (pixels) and of the visual features
a content-aware recommender (VBPR) reads.

* :func:`perturb_images`: L-infinity FGSM / PGD on pixels, ``eps`` in /255 steps, inside
  ``[0, 1]``, minimising an attack loss: :func:`category_loss` (TAaMR's targeted
  misclassification), :func:`score_push_loss` (raise items' mean score through VBPR and the CNN)
  or :func:`top_k_push_loss` (the same, aimed at HR@k; thresholds from :func:`kth_scores`);
* :func:`perturb_features`: FGSM / PGD on item features (L2 per item), e.g. with
  :func:`feature_bpr_loss` (AMR's threat model).

The recommender is not retrained: features are re-extracted from the perturbed images
(:func:`replace_features`). Recipes and the driver are those of every attack
(:func:`jaxrec.attacks.evasion.pgd`, :func:`jaxrec.optim.run`).
"""

from jaxrec.attacks.content._pixels import category_loss as category_loss
from jaxrec.attacks.content._pixels import check_pixels as check_pixels
from jaxrec.attacks.content._pixels import feature_bpr_loss as feature_bpr_loss
from jaxrec.attacks.content._pixels import kth_scores as kth_scores
from jaxrec.attacks.content._pixels import perturb_features as perturb_features
from jaxrec.attacks.content._pixels import perturb_images as perturb_images
from jaxrec.attacks.content._pixels import pixel_eps as pixel_eps
from jaxrec.attacks.content._pixels import replace_features as replace_features
from jaxrec.attacks.content._pixels import score_push_loss as score_push_loss
from jaxrec.attacks.content._pixels import top_k_push_loss as top_k_push_loss

__all__ = ["category_loss", "check_pixels", "feature_bpr_loss", "kth_scores",
           "perturb_features", "perturb_images", "pixel_eps", "replace_features",
           "score_push_loss", "top_k_push_loss"]
