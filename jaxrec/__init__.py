"""jaxrec: a JAX engine for attacking and defending recommender systems.

Subpackages:
  data      interactions pytree, loaders, splits, dataset characteristics, BPR sampling
  models    recommenders as a params pytree plus pure scoring functions (BPR-MF, popularity)
  losses    ranking losses (BPR) and regularisers
  training  pure training epochs (``lax.scan``) and drivers
  metrics   chunked all-item ranking metrics and beyond-accuracy metrics
  report    the tidy ``report.json`` schema shared by the CLI and experiments
  attacks   fake-profile (shilling) recipes and the poison -> retrain -> measure pipeline
  defenses  detection of injected profiles
  audit     the ``jaxrec audit`` pipeline as functions
"""

__version__ = "0.1.0"

from jaxrec import attacks as attacks
from jaxrec import audit as audit
from jaxrec import data as data
from jaxrec import defenses as defenses
from jaxrec import losses as losses
from jaxrec import metrics as metrics
from jaxrec import models as models
from jaxrec import report as report
from jaxrec import training as training

__all__ = ["attacks", "audit", "data", "defenses", "losses", "metrics", "models", "report", "training", "__version__"]
