"""Neural network parts: featurisation, encoder, heads, losses, checkpoints."""

from gnnnas.nn.encoder import ArchEncoder, DirectedGCNLayer
from gnnnas.nn.featurize import DenseGraphBatch, GraphFeaturizer
from gnnnas.nn.heads import RankingHead
from gnnnas.nn.losses import RANKING_LOSSES, ranking_loss
from gnnnas.nn.model import RankingModel

__all__ = [
    "RANKING_LOSSES",
    "ArchEncoder",
    "DenseGraphBatch",
    "DirectedGCNLayer",
    "GraphFeaturizer",
    "RankingHead",
    "RankingModel",
    "ranking_loss",
]
