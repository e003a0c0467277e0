"""The one experiment executor: axes -> cells (:func:`product`), cells of equal shape as one
jitted ``vmap`` per lane group with a compile cache and timings (:func:`execute`); typed configs
(frozen dataclasses read from TOML: :func:`load_config`, hashed by :func:`config_hash`)."""

from jaxrec.experiment._config import config_from_dict as config_from_dict
from jaxrec.experiment._config import config_hash as config_hash
from jaxrec.experiment._config import config_to_dict as config_to_dict
from jaxrec.experiment._config import load_config as load_config
from jaxrec.experiment._executor import default_lanes as default_lanes
from jaxrec.experiment._executor import execute as execute
from jaxrec.experiment._executor import product as product

__all__ = ["config_from_dict", "config_hash", "config_to_dict", "default_lanes", "execute",
           "load_config", "product"]
