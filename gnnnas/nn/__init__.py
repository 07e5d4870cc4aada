"""Neural network parts: featurisation, encoder, heads, losses, checkpoints."""

from gnnnas.nn.convs import CONVS, DirectedGCNConv, RelationalConv, register_conv
from gnnnas.nn.encoder import ArchEncoder
from gnnnas.nn.featurize import DenseGraphBatch, GraphFeaturizer
from gnnnas.nn.graph_batch import GraphBatch
from gnnnas.nn.heads import RankingHead
from gnnnas.nn.losses import RANKING_LOSSES, ranking_loss
from gnnnas.nn.model import RankingModel

__all__ = [
    "CONVS",
    "RANKING_LOSSES",
    "ArchEncoder",
    "DenseGraphBatch",
    "DirectedGCNConv",
    "GraphBatch",
    "GraphFeaturizer",
    "RankingHead",
    "RankingModel",
    "RelationalConv",
    "ranking_loss",
    "register_conv",
]
