"""jaxloss: differentiable loss functions for JAX.

Every loss is a pure, ``jax.jit``-compiled function ``name(input, target, ..., *,
reduction="mean", where=None, <options>)`` that composes with ``vmap``, ``grad`` and ``jacrev``.
The PyTorch losses carry their ``torch.nn.functional`` names, options and values, with the class
axis last. `Objective` and `make_train_step` turn a model and losses into what optax minimises.
"""

from . import rl as rl
from ._boxes import complete_box_iou_loss as complete_box_iou_loss
from ._boxes import distance_box_iou_loss as distance_box_iou_loss
from ._boxes import generalized_box_iou_loss as generalized_box_iou_loss
from ._checked import checked as checked
from ._classification import binary_cross_entropy as binary_cross_entropy
from ._classification import binary_cross_entropy_with_logits as binary_cross_entropy_with_logits
from ._classification import cross_entropy as cross_entropy
from ._classification import hinge_loss as hinge_loss
from ._classification import js_divergence as js_divergence
from ._classification import kl_div as kl_div
from ._classification import multiclass_hinge_loss as multiclass_hinge_loss
from ._classification import nll_loss as nll_loss
from ._classification import poly1_cross_entropy as poly1_cross_entropy
from ._classification import sigmoid_focal_loss as sigmoid_focal_loss
from ._classification import softmax_focal_loss as softmax_focal_loss
from ._classification import sparsemax_loss as sparsemax_loss
from ._classification import squared_hinge_loss as squared_hinge_loss
from ._contrastive import clip_loss as clip_loss
from ._contrastive import info_nce_loss as info_nce_loss
from ._contrastive import siglip_loss as siglip_loss
from ._margin import cosine_embedding_loss as cosine_embedding_loss
from ._margin import hinge_embedding_loss as hinge_embedding_loss
from ._margin import margin_ranking_loss as margin_ranking_loss
from ._margin import multi_margin_loss as multi_margin_loss
from ._margin import multilabel_margin_loss as multilabel_margin_loss
from ._margin import multilabel_soft_margin_loss as multilabel_soft_margin_loss
from ._margin import soft_margin_loss as soft_margin_loss
from ._margin import triplet_margin_loss as triplet_margin_loss
from ._margin import triplet_margin_with_distance_loss as triplet_margin_with_distance_loss
from ._preference import dpo_loss as dpo_loss
from ._preference import simpo_loss as simpo_loss
from ._ranking import pairwise_hinge_loss as pairwise_hinge_loss
from ._ranking import pairwise_logistic_loss as pairwise_logistic_loss
from ._ranking import ranking_softmax_loss as ranking_softmax_loss
from ._regression import gaussian_nll_loss as gaussian_nll_loss
from ._regression import general_robust_loss as general_robust_loss
from ._regression import huber_loss as huber_loss
from ._regression import l1_loss as l1_loss
from ._regression import log_cosh_loss as log_cosh_loss
from ._regression import mse_loss as mse_loss
from ._regression import poisson_nll_loss as poisson_nll_loss
from ._regression import quantile_loss as quantile_loss
from ._regression import smooth_l1_loss as smooth_l1_loss
from ._segmentation import dice_loss as dice_loss
from ._segmentation import jaccard_loss as jaccard_loss
from ._segmentation import tversky_loss as tversky_loss
from ._sequence import ctc_loss as ctc_loss
from ._vocab import LinearCrossEntropyStats as LinearCrossEntropyStats
from ._vocab import linear_cross_entropy as linear_cross_entropy
from .objective import L1 as L1
from .objective import L2 as L2
from .objective import Objective as Objective
from .objective import Term as Term
from .objective import make_train_step as make_train_step
from .objective import per_example_gradients as per_example_gradients
from .rl import double_q_learning_loss as double_q_learning_loss
from .rl import entropy_loss as entropy_loss
from .rl import expected_sarsa_loss as expected_sarsa_loss
from .rl import policy_gradient_loss as policy_gradient_loss
from .rl import ppo_clip_loss as ppo_clip_loss
from .rl import ppo_value_loss as ppo_value_loss
from .rl import q_learning_loss as q_learning_loss
from .rl import quantile_regression_loss as quantile_regression_loss
from .rl import sarsa_loss as sarsa_loss
from .rl import td_lambda_loss as td_lambda_loss
from .rl import td_loss as td_loss

__version__ = "0.1.0.dev0"

__all__ = [
    "L1",
    "L2",
    "LinearCrossEntropyStats",
    "Objective",
    "Term",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "checked",
    "clip_loss",
    "complete_box_iou_loss",
    "cosine_embedding_loss",
    "cross_entropy",
    "ctc_loss",
    "dice_loss",
    "distance_box_iou_loss",
    "double_q_learning_loss",
    "dpo_loss",
    "entropy_loss",
    "expected_sarsa_loss",
    "gaussian_nll_loss",
    "general_robust_loss",
    "generalized_box_iou_loss",
    "hinge_embedding_loss",
    "hinge_loss",
    "huber_loss",
    "info_nce_loss",
    "jaccard_loss",
    "js_divergence",
    "kl_div",
    "l1_loss",
    "linear_cross_entropy",
    "log_cosh_loss",
    "make_train_step",
    "margin_ranking_loss",
    "mse_loss",
    "multi_margin_loss",
    "multiclass_hinge_loss",
    "multilabel_margin_loss",
    "multilabel_soft_margin_loss",
    "nll_loss",
    "pairwise_hinge_loss",
    "pairwise_logistic_loss",
    "per_example_gradients",
    "poisson_nll_loss",
    "policy_gradient_loss",
    "poly1_cross_entropy",
    "ppo_clip_loss",
    "ppo_value_loss",
    "q_learning_loss",
    "quantile_loss",
    "quantile_regression_loss",
    "ranking_softmax_loss",
    "sarsa_loss",
    "siglip_loss",
    "sigmoid_focal_loss",
    "simpo_loss",
    "smooth_l1_loss",
    "soft_margin_loss",
    "softmax_focal_loss",
    "sparsemax_loss",
    "squared_hinge_loss",
    "td_lambda_loss",
    "td_loss",
    "triplet_margin_loss",
    "triplet_margin_with_distance_loss",
    "tversky_loss",
]
