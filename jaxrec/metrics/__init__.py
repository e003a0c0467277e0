"""All-item ranking metrics (HR, Precision, Recall, nDCG, MRR) and beyond-accuracy metrics
(coverage, Gini, ARP, APLT, novelty), chunked over users."""

from jaxrec.metrics._evaluate import BEYOND_ACCURACY_METRICS as BEYOND_ACCURACY_METRICS
from jaxrec.metrics._evaluate import evaluate as evaluate
from jaxrec.metrics._evaluate import long_tail_items as long_tail_items
from jaxrec.metrics._evaluate import recommend as recommend
from jaxrec.metrics._evaluate import tie_priority as tie_priority
from jaxrec.metrics._evaluate import top_k_random_ties as top_k_random_ties
from jaxrec.metrics._gini import gini as gini
from jaxrec.metrics._ranking import ACCURACY_METRICS as ACCURACY_METRICS
from jaxrec.metrics._ranking import POPULARITY_METRICS as POPULARITY_METRICS
from jaxrec.metrics._ranking import accuracy_at_k as accuracy_at_k
from jaxrec.metrics._ranking import popularity_at_k as popularity_at_k

__all__ = [
    "ACCURACY_METRICS", "BEYOND_ACCURACY_METRICS", "POPULARITY_METRICS", "accuracy_at_k",
    "evaluate", "gini", "long_tail_items", "popularity_at_k", "recommend", "tie_priority",
    "top_k_random_ties",
]
