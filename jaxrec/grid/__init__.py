"""Experiment grids from typed configs: :class:`PoisonGridConfig` (a TOML file read by
:func:`jaxrec.experiment.load_config`), expanded into cells (:func:`grid_cells`: attack x budget
x target x seed, plus a clean cell per seed) and run by :func:`run_grid` into a resumable
results store (:mod:`jaxrec.results`); ``jaxrec grid CONFIG --out DIR`` on the command line."""

from jaxrec.grid._config import DATASETS as DATASETS
from jaxrec.grid._config import PoisonGridConfig as PoisonGridConfig
from jaxrec.grid._config import grid_cells as grid_cells
from jaxrec.grid._run import GridRun as GridRun
from jaxrec.grid._run import data_fingerprint as data_fingerprint
from jaxrec.grid._run import run_grid as run_grid

__all__ = ["DATASETS", "GridRun", "PoisonGridConfig", "data_fingerprint", "grid_cells",
           "run_grid"]
