"""Recommenders: a params pytree plus pure scoring functions."""

from jaxrec.models._base import Recommender as Recommender
from jaxrec.models._mf import MFParams as MFParams
from jaxrec.models._mf import mf as mf
from jaxrec.models._mf import mf_bpr_objective as mf_bpr_objective
from jaxrec.models._popularity import PopularityParams as PopularityParams
from jaxrec.models._popularity import fit_popularity as fit_popularity
from jaxrec.models._popularity import popularity as popularity

__all__ = [
    "MFParams", "PopularityParams", "Recommender", "fit_popularity", "mf", "mf_bpr_objective",
    "popularity",
]
