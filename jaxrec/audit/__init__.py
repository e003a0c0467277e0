"""The robustness audit behind ``jaxrec audit``: train, evaluate, write one tidy report."""

from jaxrec.audit._config import AuditConfig as AuditConfig
from jaxrec.audit._config import make_optimizer as make_optimizer
from jaxrec.audit._config import prepare_split as prepare_split
from jaxrec.audit._run import clean_section as clean_section
from jaxrec.audit._run import run_audit as run_audit
from jaxrec.audit._run import train_bpr_mf as train_bpr_mf

__all__ = [
    "AuditConfig", "clean_section", "make_optimizer", "prepare_split", "run_audit",
    "train_bpr_mf",
]
