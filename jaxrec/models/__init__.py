"""Recommenders: a params pytree plus pure scoring functions.

Data-dependent models (LightGCN, EASE, ItemKNN) take the interactions as an argument
(:class:`jaxrec.data.Graph`), so gradients reach the (relaxed) interactions.
"""

from jaxrec.models._base import Recommender as Recommender
from jaxrec.models._ease import EASEParams as EASEParams
from jaxrec.models._ease import ease_score_all as ease_score_all
from jaxrec.models._ease import fit_ease as fit_ease
from jaxrec.models._ease import item_gram as item_gram
from jaxrec.models._itemknn import ItemKNNParams as ItemKNNParams
from jaxrec.models._itemknn import fit_itemknn as fit_itemknn
from jaxrec.models._itemknn import itemknn_score_all as itemknn_score_all
from jaxrec.models._lightgcn import LightGCNParams as LightGCNParams
from jaxrec.models._lightgcn import lightgcn_bpr_objective as lightgcn_bpr_objective
from jaxrec.models._lightgcn import init as lightgcn_init
from jaxrec.models._lightgcn import propagate as lightgcn_propagate
from jaxrec.models._lightgcn import to_mf as lightgcn_to_mf
from jaxrec.models._mf import MFParams as MFParams
from jaxrec.models._mf import mf as mf
from jaxrec.models._mf import mf_bpr_objective as mf_bpr_objective
from jaxrec.models._neumf import NeuMFParams as NeuMFParams
from jaxrec.models._neumf import neumf as neumf
from jaxrec.models._neumf import neumf_bpr_objective as neumf_bpr_objective
from jaxrec.models._popularity import PopularityParams as PopularityParams
from jaxrec.models._popularity import fit_popularity as fit_popularity
from jaxrec.models._popularity import popularity as popularity

__all__ = [
    "EASEParams", "ItemKNNParams", "LightGCNParams", "MFParams", "NeuMFParams",
    "PopularityParams", "Recommender", "ease_score_all", "fit_ease", "fit_itemknn",
    "fit_popularity", "item_gram", "itemknn_score_all", "lightgcn_bpr_objective",
    "lightgcn_init", "lightgcn_propagate", "lightgcn_to_mf", "mf", "mf_bpr_objective", "neumf",
    "neumf_bpr_objective", "popularity",
]
