"""The tidy ``report.json`` schema shared by the CLI, experiments, results store and plots."""

from jaxrec.report._legend import GROUPS as GROUPS
from jaxrec.report._legend import MetricInfo as MetricInfo
from jaxrec.report._legend import describe as describe
from jaxrec.report._legend import legend as legend
from jaxrec.report._plots import perturbation_figure as perturbation_figure
from jaxrec.report._plots import plot_apr_grid as plot_apr_grid
from jaxrec.report._plots import plot_coefficients as plot_coefficients
from jaxrec.report._plots import plot_content_effects as plot_content_effects
from jaxrec.report._schema import REQUIRED_KEYS as REQUIRED_KEYS
from jaxrec.report._schema import SCHEMA_VERSION as SCHEMA_VERSION
from jaxrec.report._schema import build_report as build_report
from jaxrec.report._schema import load_report as load_report
from jaxrec.report._schema import make_row as make_row
from jaxrec.report._schema import rows_from_evaluation as rows_from_evaluation
from jaxrec.report._schema import to_markdown as to_markdown
from jaxrec.report._schema import validate_report as validate_report
from jaxrec.report._schema import versions as versions
from jaxrec.report._schema import write_report as write_report

__all__ = [
    "GROUPS", "MetricInfo", "REQUIRED_KEYS", "SCHEMA_VERSION", "build_report", "describe",
    "legend", "load_report", "make_row", "perturbation_figure", "plot_apr_grid",
    "plot_coefficients", "plot_content_effects",
    "rows_from_evaluation", "to_markdown", "validate_report", "versions", "write_report",
]
