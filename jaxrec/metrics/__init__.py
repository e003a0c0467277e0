"""All-item ranking metrics (HR, Precision, Recall, nDCG, MRR), beyond-accuracy metrics
(coverage, Gini, ARP, APLT, novelty), target-item exposure, chunked over users, and the content
metrics (category hit ratio CHR@k, PSNR/SSIM perceptibility).

Every function takes a :class:`jaxrec.models.Model`, its params and (optionally) its data; ties
are ordered at random by one policy (:func:`tie_priority`), the same for top-k lists and for the
rank of a target; test relevance is binary (:func:`relevant_index`). :func:`top_k_dot` ranks a
dot-product model's catalogue in item blocks (bounded memory), optionally split by item rows
over a device mesh (a two-stage top-k)."""

from jaxrec.metrics._content import category_hit_ratio as category_hit_ratio
from jaxrec.metrics._content import perceptibility as perceptibility
from jaxrec.metrics._evaluate import BEYOND_ACCURACY_METRICS as BEYOND_ACCURACY_METRICS
from jaxrec.metrics._evaluate import Evaluator as Evaluator
from jaxrec.metrics._evaluate import evaluate as evaluate
from jaxrec.metrics._evaluate import long_tail_items as long_tail_items
from jaxrec.metrics._evaluate import make_evaluator as make_evaluator
from jaxrec.metrics._evaluate import relevant_index as relevant_index
from jaxrec.metrics._gini import gini as gini
from jaxrec.metrics._ranking import ACCURACY_METRICS as ACCURACY_METRICS
from jaxrec.metrics._ranking import POPULARITY_METRICS as POPULARITY_METRICS
from jaxrec.metrics._ranking import accuracy_at_k as accuracy_at_k
from jaxrec.metrics._ranking import popularity_at_k as popularity_at_k
from jaxrec.metrics._target import TARGET_METRICS as TARGET_METRICS
from jaxrec.metrics._target import TargetEvaluator as TargetEvaluator
from jaxrec.metrics._target import make_target_evaluator as make_target_evaluator
from jaxrec.metrics._target import target_exposure as target_exposure
from jaxrec.metrics._topk import recommend as recommend
from jaxrec.metrics._topk import tie_priority as tie_priority
from jaxrec.metrics._topk import tie_seed as tie_seed
from jaxrec.metrics._topk import top_k_random_ties as top_k_random_ties
from jaxrec.metrics._topk_scale import top_k_dot as top_k_dot

__all__ = [
    "ACCURACY_METRICS", "BEYOND_ACCURACY_METRICS", "Evaluator", "POPULARITY_METRICS",
    "TARGET_METRICS", "TargetEvaluator", "accuracy_at_k", "category_hit_ratio", "evaluate",
    "gini", "long_tail_items", "make_evaluator", "make_target_evaluator", "perceptibility",
    "popularity_at_k", "recommend", "relevant_index", "target_exposure", "tie_priority",
    "tie_seed", "top_k_dot", "top_k_random_ties",
]
