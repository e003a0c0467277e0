"""Why is one dataset easier to attack than another: attack many sub-datasets of one source and
regress the attack's effect on their characteristics (Deldjoo, Di Noia, Di Sciascio, Merra,
SIGIR 2020). See ``docs/characteristics.md``."""

from jaxrec.robustness._regression import Coefficient as Coefficient
from jaxrec.robustness._regression import OLSFit as OLSFit
from jaxrec.robustness._regression import fit_ols as fit_ols
from jaxrec.robustness._study import STUDY_CHARACTERISTICS as STUDY_CHARACTERISTICS
from jaxrec.robustness._study import Attack as Attack
from jaxrec.robustness._study import SampleResult as SampleResult
from jaxrec.robustness._study import attack_subdatasets as attack_subdatasets
from jaxrec.robustness._study import heuristic_attack as heuristic_attack
from jaxrec.robustness._study import learned_attack as learned_attack
from jaxrec.robustness._study import study_table as study_table
from jaxrec.robustness._run import INTUITION as INTUITION
from jaxrec.robustness._run import StudyConfig as StudyConfig
from jaxrec.robustness._run import run_study as run_study
from jaxrec.robustness._run import verdict as verdict

__all__ = ["INTUITION", "STUDY_CHARACTERISTICS", "Attack", "Coefficient", "OLSFit",
           "SampleResult", "StudyConfig", "attack_subdatasets", "fit_ols", "heuristic_attack",
           "learned_attack", "run_study", "study_table", "verdict"]
