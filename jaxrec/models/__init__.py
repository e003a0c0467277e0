"""Recommenders, surrogates and baselines, all implementing one protocol (:class:`Model`).

A model is a small frozen configuration with pure methods ``init(key, data)``,
``loss(params, batch, data)``, ``score(params, data, users, items)``,
``score_all(params, data, users)`` and ``scoring(params, data)``; the data (an interaction
index, a graph, a dense matrix, item features) are always an argument, so gradients reach them.
Build a model with its factory (validated): :func:`mf` (BPR-MF), :func:`lightgcn`,
:func:`neumf`, :func:`vbpr` (visual, over :class:`ContentData`), :func:`ease`,
:func:`itemknn`, :func:`popularity`, and the surrogates of bilevel poisoning :func:`lfm`
(unrolled) and :func:`als` (implicit); :func:`extractor` is the CNN whose features VBPR reads.
Train one with :mod:`jaxrec.training` (a model plus its recipe is a
:class:`jaxrec.training.Victim`).
"""

from jaxrec.models._als import ALS as ALS
from jaxrec.models._als import als as als
from jaxrec.models._als import als_sweep as als_sweep
from jaxrec.models._base import Model as Model
from jaxrec.models._base import RowSparseModel as RowSparseModel
from jaxrec.models._base import gather_rows as gather_rows
from jaxrec.models._cnn import ConvNet as ConvNet
from jaxrec.models._cnn import Extractor as Extractor
from jaxrec.models._cnn import extractor as extractor
from jaxrec.models._cnn import load_extractor as load_extractor
from jaxrec.models._cnn import save_extractor as save_extractor
from jaxrec.models._ease import EASE as EASE
from jaxrec.models._ease import EASEParams as EASEParams
from jaxrec.models._ease import ease as ease
from jaxrec.models._ease import item_gram as item_gram
from jaxrec.models._itemknn import ItemKNN as ItemKNN
from jaxrec.models._itemknn import ItemKNNParams as ItemKNNParams
from jaxrec.models._itemknn import itemknn as itemknn
from jaxrec.models._lfm import LFM as LFM
from jaxrec.models._lfm import lfm as lfm
from jaxrec.models._lfm import weighted_mse as weighted_mse
from jaxrec.models._lightgcn import LightGCN as LightGCN
from jaxrec.models._lightgcn import LightGCNParams as LightGCNParams
from jaxrec.models._lightgcn import lightgcn as lightgcn
from jaxrec.models._lightgcn import propagate as propagate
from jaxrec.models._mf import MF as MF
from jaxrec.models._mf import MFParams as MFParams
from jaxrec.models._mf import mf as mf
from jaxrec.models._neumf import NeuMF as NeuMF
from jaxrec.models._neumf import NeuMFParams as NeuMFParams
from jaxrec.models._neumf import neumf as neumf
from jaxrec.models._popularity import Popularity as Popularity
from jaxrec.models._popularity import PopularityParams as PopularityParams
from jaxrec.models._popularity import popularity as popularity
from jaxrec.models._vbpr import VBPR as VBPR
from jaxrec.models._vbpr import ContentData as ContentData
from jaxrec.models._vbpr import VBPRParams as VBPRParams
from jaxrec.models._vbpr import content_data as content_data
from jaxrec.models._vbpr import vbpr as vbpr

__all__ = [
    "ContentData", "ConvNet", "Extractor", "VBPR", "VBPRParams", "content_data", "extractor",
    "load_extractor", "save_extractor", "vbpr",
    "ALS", "EASE", "EASEParams", "ItemKNN", "ItemKNNParams", "LFM", "LightGCN",
    "LightGCNParams", "MF", "MFParams", "Model", "NeuMF", "NeuMFParams", "Popularity",
    "PopularityParams", "RowSparseModel", "als", "als_sweep", "ease", "gather_rows",
    "item_gram", "itemknn", "lfm", "lightgcn",
    "mf", "neumf", "popularity", "propagate", "weighted_mse",
]
