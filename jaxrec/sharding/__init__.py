"""Device meshes for grids and catalogues: a ``cells`` axis and an ``items`` axis.

:func:`make_mesh` builds the one mesh jaxrec shards over. ``cells`` splits the cells of a grid
(data parallel: each device runs whole cells; :func:`jaxrec.experiment.execute` with ``mesh=``);
``items`` splits embedding tables and score matrices by item rows, for catalogues that do not
fit one device (top-k becomes a two-stage top-k: per shard, then a global merge).
:func:`initialize` joins several processes (hosts) into one run (``jax.distributed``), after
which the mesh spans every process's devices (docs/sharding.md).
"""

from jaxrec.sharding._distributed import initialize as initialize
from jaxrec.sharding._mesh import AXES as AXES
from jaxrec.sharding._mesh import make_mesh as make_mesh

__all__ = ["AXES", "initialize", "make_mesh"]
