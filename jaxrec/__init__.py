"""jaxrec: a JAX engine for attacking and defending recommender systems.

Subpackages:
  data        interactions pytree, loaders, splits, graphs, dataset characteristics, sampling
  models      one model protocol (init, loss, score, score_all, scoring; data as an argument):
              BPR-MF, LightGCN, NeuMF, EASE, ItemKNN, most-popular, the LFM and ALS surrogates
  losses      ranking losses (BPR) and regularisers
  optim       the one optimisation driver ``run`` and its transforms and projections
  training    a Victim (model plus recipe); training epochs as ``run``, ``fit`` scans epochs
  metrics     chunked all-item ranking, beyond-accuracy and target-exposure metrics
  experiment  the one grid executor (cells as lane groups of one jitted vmap), typed TOML configs
  grid        poisoning grids from typed configs, run resumably into a results store
  attacks     ``attacks.evasion`` (FGSM, BIM, PGD) and ``attacks.poisoning`` (fake profiles)
  defenses    adversarial training (APR) and detection of injected profiles
  report      the tidy ``report.json`` schema shared by the CLI and experiments
  results     the resumable Parquet results store (one part per finished cell), load and plot
  audit       the ``jaxrec audit`` pipeline and the name registries of the CLI
  robustness  sub-datasets attacked and robustness regressed on their characteristics
  sharding    the (cells, items) device mesh grids and catalogues are sharded over

``checked(fn)`` runs jaxrec's value checks inside ``jit`` (see ``docs/validation.md``).
``enable_compilation_cache()`` turns on JAX's persistent compilation cache (in the user cache
folder ``~/.cache/jaxrec/xla``; importing jaxrec does not: the ``jaxrec`` command line does,
unless ``--no-compile-cache`` or ``JAXREC_COMPILE_CACHE=0``).
"""

__version__ = "0.2.0"

from jaxrec._cache import enable_compilation_cache as enable_compilation_cache
from jaxrec._checks import checked as checked
from jaxrec import attacks as attacks
from jaxrec import audit as audit
from jaxrec import data as data
from jaxrec import defenses as defenses
from jaxrec import experiment as experiment
from jaxrec import grid as grid
from jaxrec import losses as losses
from jaxrec import metrics as metrics
from jaxrec import models as models
from jaxrec import optim as optim
from jaxrec import report as report
from jaxrec import results as results
from jaxrec import robustness as robustness
from jaxrec import sharding as sharding
from jaxrec import training as training

__all__ = ["attacks", "audit", "checked", "data", "defenses", "enable_compilation_cache",
           "experiment", "grid", "losses", "metrics", "models", "optim", "report", "results",
           "robustness", "sharding", "training",
           "__version__"]
