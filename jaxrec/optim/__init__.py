"""Optimisation pieces shared by attacks, training and defenses: the one driver and the
transforms and projections it steps with.

* :func:`run` minimises ``loss(x, args)`` by ``num_steps`` steps of an optax transform (every
  optimisation in jaxrec: attacks, training, bilevel poisoning, generators).
* Transforms (optax-style, for ``optax.chain``): :func:`sign`, :func:`normalize`,
  :func:`project` (any projection as the last link), :func:`random_start`, :func:`tree_norms`,
  :func:`trajectory_snapshots` (an optimiser that also rolls past snapshots of the parameters,
  :class:`TrajectoryParams`: SharpCF's anchor).
* Row-sparse training (each step touches only the rows a minibatch gathers): :class:`Rows`
  gradients, :func:`sparse_sgd` and :func:`sparse_adagrad` (optax transforms, dense leaves as
  optax's), :func:`apply_updates` (scatter-adds Rows updates; :func:`run` uses it).
* Projections (budgets live here): :func:`project_l2_ball`, :func:`project_linf_ball`,
  :func:`project_box`, :func:`project_top_m`, :func:`project_threshold`, and
  :func:`straight_through` for straight-through estimators of them.
"""

from jaxrec.optim._projections import project_box as project_box
from jaxrec.optim._projections import project_l2_ball as project_l2_ball
from jaxrec.optim._projections import project_linf_ball as project_linf_ball
from jaxrec.optim._projections import project_threshold as project_threshold
from jaxrec.optim._projections import project_top_m as project_top_m
from jaxrec.optim._projections import straight_through as straight_through
from jaxrec.optim._run import RunResult as RunResult
from jaxrec.optim._sparse import Rows as Rows
from jaxrec.optim._sparse import RowSparseTransformation as RowSparseTransformation
from jaxrec.optim._sparse import apply_updates as apply_updates
from jaxrec.optim._sparse import is_rows as is_rows
from jaxrec.optim._sparse import sparse_adagrad as sparse_adagrad
from jaxrec.optim._sparse import sparse_sgd as sparse_sgd
from jaxrec.optim._run import run as run
from jaxrec.optim._transforms import NORMS as NORMS
from jaxrec.optim._transforms import TrajectoryParams as TrajectoryParams
from jaxrec.optim._transforms import normalize as normalize
from jaxrec.optim._transforms import project as project
from jaxrec.optim._transforms import random_start as random_start
from jaxrec.optim._transforms import sign as sign
from jaxrec.optim._transforms import trajectory_snapshots as trajectory_snapshots
from jaxrec.optim._transforms import tree_norms as tree_norms

__all__ = [
    "NORMS", "RowSparseTransformation", "Rows", "RunResult", "TrajectoryParams",
    "apply_updates", "is_rows", "normalize", "project", "project_box", "project_l2_ball",
    "project_linf_ball", "project_threshold", "project_top_m", "random_start", "run", "sign",
    "sparse_adagrad", "sparse_sgd", "straight_through", "trajectory_snapshots", "tree_norms",
]
