"""Pure training loops (``lax.scan`` epochs), a host-side driver, and the victim zoo."""

from jaxrec.training._loop import Objective as Objective
from jaxrec.training._loop import TrainState as TrainState
from jaxrec.training._loop import epoch as epoch
from jaxrec.training._loop import fit as fit
from jaxrec.training._loop import init_state as init_state
from jaxrec.training._loop import steps_per_epoch as steps_per_epoch
from jaxrec.training._loop import train as train
from jaxrec.training._victim import Victim as Victim
from jaxrec.training._victim import bpr_mf_victim as bpr_mf_victim
from jaxrec.training._victim import fit_victim as fit_victim
from jaxrec.training._victim import scores_of as scores_of
from jaxrec.training._victim_closed_form import ease_victim as ease_victim
from jaxrec.training._victim_closed_form import itemknn_victim as itemknn_victim
from jaxrec.training._victim_lightgcn import lightgcn_victim as lightgcn_victim
from jaxrec.training._victim_neumf import neumf_victim as neumf_victim
from jaxrec.training._zoo import MODELS as MODELS
from jaxrec.training._zoo import ModelDefaults as ModelDefaults
from jaxrec.training._zoo import make_optimizer as make_optimizer
from jaxrec.training._zoo import make_victim as make_victim
from jaxrec.training._zoo import model_defaults as model_defaults

__all__ = [
    "MODELS", "ModelDefaults", "Objective", "TrainState", "Victim", "bpr_mf_victim",
    "ease_victim", "epoch", "fit", "fit_victim", "init_state", "itemknn_victim",
    "lightgcn_victim", "make_optimizer", "make_victim", "model_defaults", "neumf_victim",
    "scores_of", "steps_per_epoch", "train",
]
