"""Pure training loops (``lax.scan`` epochs) and a host-side driver."""

from jaxrec.training._loop import Objective as Objective
from jaxrec.training._loop import TrainState as TrainState
from jaxrec.training._loop import epoch as epoch
from jaxrec.training._loop import fit as fit
from jaxrec.training._loop import init_state as init_state
from jaxrec.training._loop import steps_per_epoch as steps_per_epoch
from jaxrec.training._loop import train as train

__all__ = ["Objective", "TrainState", "epoch", "fit", "init_state", "steps_per_epoch", "train"]
