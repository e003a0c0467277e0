"""Pure training loops (``lax.scan`` epochs) and a host-side driver."""

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

__all__ = [
    "Objective", "TrainState", "Victim", "bpr_mf_victim", "epoch", "fit", "fit_victim",
    "init_state", "scores_of", "steps_per_epoch", "train",
]
