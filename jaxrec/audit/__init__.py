"""The robustness audit behind ``jaxrec audit``: train, evaluate, write one tidy report."""

from jaxrec.audit._config import AuditConfig as AuditConfig
from jaxrec.audit._config import prepare_split as prepare_split
from jaxrec.audit._run import TrainingDiverged as TrainingDiverged
from jaxrec.audit._run import clean_section as clean_section
from jaxrec.audit._run import run_audit as run_audit
from jaxrec.audit._run import train_victim as train_victim

__all__ = [
    "AuditConfig", "TrainingDiverged", "clean_section", "prepare_split", "run_audit",
    "train_victim",
]
