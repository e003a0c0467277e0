"""Ranking losses (BPR) and regularisers."""

from jaxrec.losses._ranking import bpr as bpr
from jaxrec.losses._ranking import l2 as l2

__all__ = ["bpr", "l2"]
