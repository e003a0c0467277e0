"""The one experiment executor: axes -> cells (:func:`product`), cells of equal shape as one
jitted ``vmap`` per lane group with a compile cache and timings (:func:`execute`)."""

from jaxrec.experiment._executor import default_lanes as default_lanes
from jaxrec.experiment._executor import execute as execute
from jaxrec.experiment._executor import product as product

__all__ = ["default_lanes", "execute", "product"]
