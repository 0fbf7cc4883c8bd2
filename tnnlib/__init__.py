"""tnnlib: the reference library of the open course on tensorized neural networks.

One concept per module, in the order the lessons meet them:

==================  =====================================================  ======
module              what it holds                                          lesson
==================  =====================================================  ======
``runtime``         device choice, seeding, fast mode, environment report  00
``data``            MNIST, Fashion-MNIST and photographs, offline          00
``validation``      argument checks shared by every module                 all
``tensor_ops``      unfold, fold, mode-n product, relative error           01
``contraction``     einsum by loops, FLOPs of a contraction, chain order   01
``diagrams``        tensor diagrams drawn with matplotlib                  01
``svd``             truncated SVD and choosing a rank                      02
``tt``              tensor train / MPS: TT-SVD, canonical forms, rounding  03
``tucker``          HOSVD, HOOI                                            04
``cp``              CP-ALS, Khatri-Rao, MTTKRP                             04
``tr``              tensor ring: TR-SVD, TR-ALS                            05
``ttm``             TT-matrix / MPO and its matvec                         05
``nn``              tensorized PyTorch layers and ``tensorize``            06-07
``models``          the reference CNN; a tiny character transformer        06-11
``compress``        compressing a trained network, then healing it         07
``train``           the course's training loop: ``fit``, ``evaluate``      08
``timing``          timing done right (sync, warm-up, median)              08
``distributed``     the training loop on N processes (torchrun, DDP)       08
``bonds``           bond spectra, entropies, features; rank allocation     09, 12
``mps``             matrix product state classifiers                       10
``text``            Python's documentation as characters and sentences     11
``pretrained``      all-MiniLM-L6-v2 offline: load, embed                  11
``distill``         healing by distillation; cosine and neighbour checks   11
``scaling``         params and FLOPs of TT layers; dense vs TT sweeps      12
``checks``          the exercise checkers, one module per lesson           all
``grade``           grading notebooks; ``slides``: lecture decks           all
==================  =====================================================  ======

Every decomposition takes a NumPy array or a torch tensor and returns results
of the same kind, with one interface (``shape``, ``rank``, ``n_params``,
``to_dense()``, ``norm()``, ``copy()``, ``to()``); ``relative_error(x, result)``
measures any of them. The most used names are importable from ``tnnlib`` itself.
"""
from .backend import to_numpy
from .contraction import contraction_flops, einsum_loops, matrix_chain_order
from .cp import CPTensor, cp_als, khatri_rao, mttkrp
from .runtime import FAST, get_device, pick, seed_everything
from .svd import low_rank_approx, rank_for_energy, rank_for_error, truncated_svd
from .tensor_ops import fold, mode_n_product, relative_error, unfold
from .tr import TRTensor, tr_als, tr_svd
from .tt import TTTensor, bond_spectra, entanglement_entropy, inner, orthogonalize, tt_round, tt_svd
from .ttm import TTMatrix, factorize_dim, ttm_svd
from .tucker import TuckerTensor, hooi, hosvd

__version__ = "0.1.0"

__all__ = [
    "CPTensor", "FAST", "TRTensor", "TTMatrix", "TTTensor", "TuckerTensor", "bond_spectra", "contraction_flops",
    "cp_als", "einsum_loops", "entanglement_entropy", "factorize_dim", "fold", "get_device", "hooi", "hosvd",
    "inner", "khatri_rao", "low_rank_approx", "matrix_chain_order", "mode_n_product", "mttkrp", "orthogonalize",
    "pick", "rank_for_energy", "rank_for_error", "relative_error", "seed_everything", "to_numpy", "tr_als", "tr_svd",
    "truncated_svd", "tt_round", "tt_svd", "ttm_svd", "unfold",
]
