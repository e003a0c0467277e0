"""Training: a :class:`Victim` is a model plus its recipe; an epoch is one
:func:`jaxrec.optim.run`; :func:`fit` scans over epochs (pure, vmappable), :func:`train` is the
host-side driver with a progress bar."""

from jaxrec.training._extractor import feature_scale as feature_scale
from jaxrec.training._extractor import train_extractor as train_extractor
from jaxrec.training._loop import TrainState as TrainState
from jaxrec.training._loop import epoch as epoch
from jaxrec.training._loop import fit as fit
from jaxrec.training._loop import fit_victim as fit_victim
from jaxrec.training._loop import init_state as init_state
from jaxrec.training._loop import train as train
from jaxrec.training._victim import Victim as Victim
from jaxrec.training._victim import steps_per_epoch as steps_per_epoch

__all__ = [
    "TrainState", "Victim", "epoch", "feature_scale", "fit", "fit_victim", "init_state",
    "steps_per_epoch", "train", "train_extractor",
]
