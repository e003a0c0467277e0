"""Interactions, loaders, splits, dataset characteristics and BPR sampling."""

from jaxrec.data._interactions import Dataset as Dataset
from jaxrec.data._interactions import Interactions as Interactions
from jaxrec.data._interactions import concatenate as concatenate
from jaxrec.data._interactions import from_arrays as from_arrays
from jaxrec.data._graph import Graph as Graph
from jaxrec.data._graph import as_graph as as_graph
from jaxrec.data._graph import check_graph as check_graph
from jaxrec.data._graph import graph_degrees as graph_degrees
from jaxrec.data._graph import graph_from_index as graph_from_index
from jaxrec.data._graph import make_graph as make_graph
from jaxrec.data._graph import user_rows as user_rows
from jaxrec.data._index import BITMAP_MAX_BITS as BITMAP_MAX_BITS
from jaxrec.data._index import PositiveIndex as PositiveIndex
from jaxrec.data._index import build_index as build_index
from jaxrec.data._index import dense_matrix as dense_matrix
from jaxrec.data._index import index_from_dense as index_from_dense
from jaxrec.data._index import index_interactions as index_interactions
from jaxrec.data._sampling import MAX_REJECTION_SHARE as MAX_REJECTION_SHARE
from jaxrec.data._sampling import BPRBatch as BPRBatch
from jaxrec.data._sampling import check_sampleable as check_sampleable
from jaxrec.data._sampling import sample_bpr_triples as sample_bpr_triples
from jaxrec.data._sampling import sample_negatives as sample_negatives
from jaxrec.data._images import FASHION_MNIST_CLASSES as FASHION_MNIST_CLASSES
from jaxrec.data._images import ML100K_GENRES as ML100K_GENRES
from jaxrec.data._images import ImageMap as ImageMap
from jaxrec.data._images import ItemImages as ItemImages
from jaxrec.data._images import bundled_fashion_mnist as bundled_fashion_mnist
from jaxrec.data._images import load_fashion_mnist as load_fashion_mnist
from jaxrec.data._images import load_image_folder as load_image_folder
from jaxrec.data._images import load_movielens_posters as load_movielens_posters
from jaxrec.data._images import read_categories as read_categories
from jaxrec.data._images import read_image_map as read_image_map
from jaxrec.data._images import (
    synthetic_category_interactions as synthetic_category_interactions)
from jaxrec.data._io import COLUMN_NAMES as COLUMN_NAMES
from jaxrec.data._io import DataFormatError as DataFormatError
from jaxrec.data._io import guess_columns as guess_columns
from jaxrec.data._io import load_delimited as load_delimited
from jaxrec.data._io import load_movielens_1m as load_movielens_1m
from jaxrec.data._io import load_movielens_100k as load_movielens_100k
from jaxrec.data._io import load_tsv_split as load_tsv_split
from jaxrec.data._parquet import load_parquet as load_parquet
from jaxrec.data._preprocess import binarize as binarize
from jaxrec.data._preprocess import deduplicate as deduplicate
from jaxrec.data._preprocess import remap_ids as remap_ids
from jaxrec.data._registry import DatasetInfo as DatasetInfo
from jaxrec.data._registry import DownloadError as DownloadError
from jaxrec.data._registry import dataset_info as dataset_info
from jaxrec.data._registry import list_datasets as list_datasets
from jaxrec.data._registry import load_dataset as load_dataset
from jaxrec.data._splits import leave_one_out as leave_one_out
from jaxrec.data._splits import random_holdout as random_holdout
from jaxrec.data._stats import characteristics as characteristics
from jaxrec.data._subsample import SubDataset as SubDataset
from jaxrec.data._subsample import sample_subdatasets as sample_subdatasets
from jaxrec.data._subsample import subsample as subsample

__all__ = [
    "BPRBatch",
    "MAX_REJECTION_SHARE",
    "Graph",
    "as_graph",
    "check_graph",
    "dense_matrix",
    "graph_degrees",
    "graph_from_index",
    "index_from_dense",
    "make_graph",
    "user_rows",
    "BITMAP_MAX_BITS",
    "PositiveIndex",
    "build_index",
    "check_sampleable",
    "index_interactions",
    "sample_bpr_triples",
    "sample_negatives",
    "FASHION_MNIST_CLASSES",
    "ML100K_GENRES",
    "ImageMap",
    "ItemImages",
    "bundled_fashion_mnist",
    "load_fashion_mnist",
    "load_image_folder",
    "load_movielens_posters",
    "read_categories",
    "read_image_map",
    "synthetic_category_interactions",
    "DataFormatError",
    "Dataset",
    "DatasetInfo",
    "DownloadError",
    "Interactions",
    "binarize",
    "characteristics",
    "SubDataset",
    "sample_subdatasets",
    "subsample",
    "concatenate",
    "dataset_info",
    "deduplicate",
    "from_arrays",
    "leave_one_out",
    "list_datasets",
    "load_dataset",
    "load_delimited",
    "load_parquet",
    "guess_columns",
    "COLUMN_NAMES",
    "load_movielens_100k",
    "load_movielens_1m",
    "load_tsv_split",
    "random_holdout",
    "remap_ids",
]
