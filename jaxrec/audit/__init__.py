"""The robustness audit behind ``jaxrec audit``: train, evaluate, attack, write one tidy report.

The audit's string registries live here (:data:`MODELS`, :data:`ATTACKS`,
:func:`model_defaults`, :func:`make_victim`): the library itself exports plain functions.
"""

from jaxrec.audit._config import AuditConfig as AuditConfig
from jaxrec.audit._content_section import CONTENT_ATTACKS as CONTENT_ATTACKS
from jaxrec.audit._content_section import CONTENT_DEFENSES as CONTENT_DEFENSES
from jaxrec.audit._content_section import ContentSettings as ContentSettings
from jaxrec.audit._content_section import content_section as content_section
from jaxrec.audit._config import prepare_split as prepare_split
from jaxrec.audit._registry import ATTACKS as ATTACKS
from jaxrec.audit._registry import MODELS as MODELS
from jaxrec.audit._registry import ModelDefaults as ModelDefaults
from jaxrec.audit._registry import make_optimizer as make_optimizer
from jaxrec.audit._registry import make_victim as make_victim
from jaxrec.audit._registry import model_defaults as model_defaults
from jaxrec.audit._summary import QUANTITIES as QUANTITIES
from jaxrec.audit._summary import Condition as Condition
from jaxrec.audit._summary import Summary as Summary
from jaxrec.audit._summary import parse_condition as parse_condition
from jaxrec.audit._summary import summarize as summarize
from jaxrec.audit._run import TrainingDiverged as TrainingDiverged
from jaxrec.audit._run import clean_section as clean_section
from jaxrec.audit._run import run_audit as run_audit
from jaxrec.audit._run import train_victim as train_victim

__all__ = [
    "ATTACKS", "AuditConfig", "CONTENT_ATTACKS", "CONTENT_DEFENSES", "Condition",
    "ContentSettings", "content_section", "MODELS", "ModelDefaults", "QUANTITIES", "Summary",
    "TrainingDiverged", "clean_section", "make_optimizer", "make_victim", "model_defaults",
    "parse_condition", "prepare_split", "run_audit", "summarize", "train_victim",
]
