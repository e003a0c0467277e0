"""The resumable results store: tidy report rows in Parquet, one part per finished grid cell,
each with its provenance (jaxrec version, git revision, config hash, seed, device kind);
:func:`load` reads a store into a pandas DataFrame, :func:`plot` draws the standard figures.
Needs the ``results`` extra (``pip install 'jaxrec[results]'``: pyarrow and pandas)."""

from jaxrec.results._plots import plot as plot
from jaxrec.results._store import PROVENANCE_COLUMNS as PROVENANCE_COLUMNS
from jaxrec.results._store import ResultsStore as ResultsStore
from jaxrec.results._store import cell_id as cell_id
from jaxrec.results._store import finished_cells as finished_cells
from jaxrec.results._store import git_revision as git_revision
from jaxrec.results._store import load as load
from jaxrec.results._store import load_rows as load_rows

__all__ = ["PROVENANCE_COLUMNS", "ResultsStore", "cell_id", "finished_cells", "git_revision",
           "load", "load_rows", "plot"]
