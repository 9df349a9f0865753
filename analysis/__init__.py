"""Thermoscope's analysis: a model plus its LayerTaps and data -> warehouse rows (see README.md here).

Every measurement is a plain function importable from here, e.g. `from analysis import numerical_rank`.
Importing this package loads torch; the warehouse and the app never import it.
"""

from analysis.alignment import alignment_matrix, layer_alignment
from analysis.capture import Rep, capture, feature_subset, reps_from_taps, sample_subset
from analysis.collapse import nc1, nc2, nc3, nc4, neural_collapse
from analysis.logits import init_norm_rows, logits_norm, softmax_ranks
from analysis.ood import MahalanobisFit, NecoFit, auroc, detection_metrics, fpr_at_tpr, ood_scores
from analysis.orthodev import orthodev, orthodev_classmean, orthodev_sample
from analysis.probes import Probe, linear_probe_accuracies, train_probes
from analysis.rank import numerical_rank, rank_tolerance, rank_with_detail
from analysis.run import analyse_model
from analysis.taps import LayerTap
from analysis.theory import theory_rows
from analysis.tunnel import kappa, kappa_detail, rho, rho_detail
from analysis.types import AnalysisData, AnalysisError, AnalysisSettings, Split


def solution_rank(logits, method: str = "auto") -> int:
    """Solution rank (SR): the numerical rank of the logits matrix (samples × classes) on the evaluation set."""
    return numerical_rank(logits, method)


__all__ = [
    "AnalysisData", "AnalysisError", "AnalysisSettings", "LayerTap", "MahalanobisFit", "NecoFit", "Probe", "Rep",
    "Split", "alignment_matrix", "analyse_model", "auroc", "capture", "detection_metrics", "feature_subset",
    "fpr_at_tpr", "init_norm_rows", "kappa", "kappa_detail", "layer_alignment", "linear_probe_accuracies",
    "logits_norm", "nc1", "nc2", "nc3", "nc4", "neural_collapse", "numerical_rank", "ood_scores", "orthodev",
    "orthodev_classmean", "orthodev_sample", "rank_tolerance", "rank_with_detail", "reps_from_taps", "rho",
    "rho_detail", "sample_subset", "softmax_ranks", "solution_rank", "theory_rows", "train_probes",
]
