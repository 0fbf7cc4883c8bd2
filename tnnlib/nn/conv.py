"""Factorised convolutions: CP (Lebedev et al. 2015) and Tucker-2 (Kim et al. 2016).

A ``nn.Conv2d`` kernel ``K`` has shape ``(C_out, C_in, k_h, k_w)``. Factorising
it turns one convolution into a pipeline of cheap ones:

* CP, rank R (Lebedev et al. 2015, arXiv:1412.6553):
  ``K[o, c, y, x] = sum_r L[o, r] F[r, c] V[r, y] H[r, x]`` is

      1x1 conv C_in -> R  (F)
      k_h x 1 depthwise conv on the R channels  (V, with the vertical stride/padding)
      1 x k_w depthwise conv  (H, horizontal stride/padding)
      1x1 conv R -> C_out  (L, plus the bias)

* Tucker-2, rank (R_out, R_in) (Kim et al. 2016, arXiv:1511.06530):
  ``K[o, c, y, x] = sum_{s, t} L[o, s] C[s, t, y, x] F[t, c]`` is

      1x1 conv C_in -> R_in  (F)
      k_h x k_w conv R_in -> R_out  (the core C, with the stride/padding)
      1x1 conv R_out -> C_out  (L, plus the bias)

Zero padding commutes with the 1x1 and depthwise stages (a 1x1 convolution of
zeros is zero), so both pipelines compute exactly the convolution with the
rebuilt kernel: ``reference_forward(x)``, the definition (one convolution with
``dense_weight()``), against which the tests check ``forward``, the pipeline.
Only ``groups=1`` and zero padding are supported.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..cp import cp_als
from ..tucker import hooi, hosvd
from ..validation import check_eps, check_max_rank, check_positive_int, check_rank, is_int
from .base import copy_into, working_copy
from .init import bias_uniform_, cp_std, linear_std, normal_, tucker_std
from .planning import LayerCost


def _pair(v, name: str, where: str, minimum: int = 1) -> tuple:
    """An int or a pair of ints as a pair, checked (``minimum`` 0 for the padding)."""
    pair = (v, v) if is_int(v) else tuple(v) if isinstance(v, (tuple, list)) else None
    if pair is None or len(pair) != 2 or not all(is_int(a) for a in pair):
        raise TypeError(f"{where}: {name} must be an int or a pair of ints, got {v!r}")
    if any(a < minimum for a in pair):
        raise ValueError(f"{where}: {name} must be >= {minimum}, got {v!r}")
    return tuple(int(a) for a in pair)


def _out_size(n: int, k: int, stride: int, padding: int, dilation: int) -> int:
    return (n + 2 * padding - dilation * (k - 1) - 1) // stride + 1


def _conv_parts(conv: nn.Conv2d, where: str):
    """Weight, bias and geometry of a ``nn.Conv2d`` we can factorise (clear errors otherwise)."""
    if not isinstance(conv, nn.Conv2d):
        raise TypeError(f"{where}: expected an nn.Conv2d, got {type(conv).__name__}")
    if conv.groups != 1:
        raise ValueError(f"{where}: only groups=1 convolutions can be factorised, got groups={conv.groups}")
    if conv.padding_mode != "zeros":
        raise ValueError(f"{where}: only zero padding is supported, got padding_mode={conv.padding_mode!r}")
    if isinstance(conv.padding, str):
        if conv.padding != "valid":
            raise ValueError(f"{where}: padding={conv.padding!r} is not supported; give the padding as numbers")
        padding = (0, 0)
    else:
        padding = conv.padding
    geometry = dict(stride=conv.stride, padding=padding, dilation=conv.dilation)
    return conv.weight, conv.bias, geometry


class _FactorizedConv2d(nn.Module):
    """Shapes, geometry, bias and the report shared by the two factorised convolutions."""

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation, bias, device, dtype):
        super().__init__()
        where = type(self).__name__
        self.in_channels = check_positive_int(in_channels, "in_channels", where)
        self.out_channels = check_positive_int(out_channels, "out_channels", where)
        self.kernel_size, self.stride = _pair(kernel_size, "kernel_size", where), _pair(stride, "stride", where)
        self.padding = _pair(padding, "padding", where, minimum=0)
        self.dilation = _pair(dilation, "dilation", where)
        if bias:
            self.bias = nn.Parameter(torch.empty(self.out_channels, device=device, dtype=dtype))
        else:
            self.register_parameter("bias", None)

    @property
    def fan_in(self) -> int:
        return self.in_channels * self.kernel_size[0] * self.kernel_size[1]

    def dense_weight(self) -> torch.Tensor:
        """The kernel ``(out_channels, in_channels, k_h, k_w)`` rebuilt from the factors (differentiable)."""
        raise NotImplementedError

    def reference_forward(self, x: torch.Tensor) -> torch.Tensor:
        """The definition: one convolution with the rebuilt kernel (``forward`` runs the cheap pipeline)."""
        return F.conv2d(x, self.dense_weight(), self.bias, stride=self.stride, padding=self.padding,
                        dilation=self.dilation)

    def weight_parameters(self) -> int:
        return sum(p.numel() for name, p in self.named_parameters() if name != "bias")

    @property
    def compression(self) -> float:
        return self.out_channels * self.fan_in / self.weight_parameters()

    @torch.no_grad()
    def to_dense(self) -> nn.Conv2d:
        """The equivalent ``nn.Conv2d`` (same geometry, device, dtype), kernel = ``dense_weight()``."""
        kernel = self.dense_weight()
        conv = nn.Conv2d(self.in_channels, self.out_channels, self.kernel_size, stride=self.stride,
                         padding=self.padding, dilation=self.dilation, bias=self.bias is not None,
                         device=kernel.device, dtype=kernel.dtype)
        conv.weight.copy_(kernel)
        if self.bias is not None:
            conv.bias.copy_(self.bias)
        return conv

    def _output_size(self, input_size):
        (h, w), (kh, kw) = input_size, self.kernel_size
        return (_out_size(h, kh, self.stride[0], self.padding[0], self.dilation[0]),
                _out_size(w, kw, self.stride[1], self.padding[1], self.dilation[1]))

    def cost(self, batch_size: int, input_size) -> LayerCost:
        """Parameters, forward flops and kept activations for ``batch_size`` images of ``input_size``
        ``(H, W)``, against the dense convolution (which keeps only its input)."""
        h, w = _pair(input_size, "input_size", f"{type(self).__name__}.cost")
        ho, wo = self._output_size((h, w))
        flops, kept = self._stage_costs(batch_size, h, w, ho, wo)
        dense_flops = 2 * batch_size * self.out_channels * ho * wo * self.fan_in
        p = next(self.parameters())
        return LayerCost(batch_size, "factored", self.weight_parameters(), flops, kept,
                         self.out_channels * self.fan_in, dense_flops, batch_size * self.in_channels * h * w,
                         p.element_size())

    def _geometry_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, dilation={self.dilation}")


class CPConv2d(_FactorizedConv2d):
    """Rank-R CP convolution: 1x1 -> (k_h x 1) -> (1 x k_w) -> 1x1 (Lebedev et al. 2015, arXiv:1412.6553).

    ``forward`` runs the four cheap convolutions; :meth:`reference_forward` is
    the definition they compute, one convolution with the rebuilt kernel
    ``K[o, c, y, x] = sum_r last[o, r] first[r, c] vertical[r, y] horizontal[r, x]``.

    Parameters
    ----------
    in_channels, out_channels, kernel_size : as ``nn.Conv2d``
    rank : int (R; never capped)
    stride, padding, dilation, bias, device, dtype : keyword-only, as ``nn.Conv2d``
        (``groups=1``, zero padding given as numbers).

    Attributes
    ----------
    first : Parameter (R, C_in)         the 1x1 conv into R channels
    vertical : Parameter (R, k_h)       depthwise column filters
    horizontal : Parameter (R, k_w)     depthwise row filters
    last : Parameter (C_out, R)         the 1x1 conv out, with ``bias``
    rank : int

    Shapes: ``(B, C_in, H, W) -> (B, C_out, H_out, W_out)`` as the dense conv.

    >>> CPConv2d(16, 32, 3, 8, padding=1).weight_parameters()
    432
    """

    def __init__(self, in_channels, out_channels, kernel_size, rank: int, *, stride=1, padding=0, dilation=1,
                 bias: bool = True, device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, bias, device, dtype)
        self.rank = check_positive_int(rank, "rank", "CPConv2d")
        (kh, kw), factory = self.kernel_size, dict(device=device, dtype=dtype)
        self.first = nn.Parameter(torch.empty(self.rank, self.in_channels, **factory))
        self.vertical = nn.Parameter(torch.empty(self.rank, kh, **factory))
        self.horizontal = nn.Parameter(torch.empty(self.rank, kw, **factory))
        self.last = nn.Parameter(torch.empty(self.out_channels, self.rank, **factory))
        self.reset_parameters()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        (sh, sw), (ph, pw), (dh, dw), R = self.stride, self.padding, self.dilation, self.rank
        h = F.conv2d(x, self.first[:, :, None, None])
        h = F.conv2d(h, self.vertical[:, None, :, None], stride=(sh, 1), padding=(ph, 0), dilation=(dh, 1), groups=R)
        h = F.conv2d(h, self.horizontal[:, None, None, :], stride=(1, sw), padding=(0, pw), dilation=(1, dw), groups=R)
        return F.conv2d(h, self.last[:, :, None, None], self.bias)

    def dense_weight(self) -> torch.Tensor:
        """``K[o, c, y, x] = sum_r last[o, r] first[r, c] vertical[r, y] horizontal[r, x]``."""
        spatial = self.vertical[:, :, None] * self.horizontal[:, None, :]              # (R, kh, kw)
        per_rank = self.first[:, :, None, None] * spatial[:, None]                     # (R, C_in, kh, kw)
        return (self.last @ per_rank.reshape(self.rank, -1)).reshape(self.out_channels, self.in_channels,
                                                                      *self.kernel_size)

    def reset_parameters(self) -> None:
        """The 4 factors ``N(0, s^2)``, ``s = (sigma / sqrt(R))^(1/4)``, ``sigma = 1/sqrt(3 C_in k_h k_w)``
        (``nn.Conv2d``'s default kernel std); the bias as ``nn.Conv2d``'s."""
        normal_([self.first, self.vertical, self.horizontal, self.last], cp_std(linear_std(self.fan_in), self.rank, 4))
        bias_uniform_(self.bias, self.fan_in)

    @classmethod
    def from_dense(cls, conv: nn.Conv2d, *, rank=None, n_sweeps: int = 100, seed: int = 0):
        """CP-ALS of the kernel (:func:`tnnlib.cp.cp_als`, SVD start); ``rank`` (keyword) is required.

        The CP weights are absorbed in ``last``. CP-ALS can degenerate (huge,
        cancelling components): check ``dense_weight()`` against the original.
        """
        where = "CPConv2d.from_dense"
        if rank is None:
            raise TypeError(f"{where}: rank= is required (the number of rank-one terms; CP takes no max_rank/eps)")
        rank = check_positive_int(rank, "rank", where)
        weight, bias, geometry = _conv_parts(conv, where)
        cp = cp_als(working_copy(weight), rank, n_sweeps=n_sweeps, init="svd", seed=seed)
        out_f, in_f, v_f, h_f = cp.factors                                 # (C_out, R), (C_in, R), (kh, R), (kw, R)
        new = cls(conv.in_channels, conv.out_channels, conv.kernel_size, cp.rank, bias=bias is not None,
                  device=weight.device, dtype=weight.dtype, **geometry)
        return copy_into(new, {"last": out_f * cp.weights, "first": in_f.t(), "vertical": v_f.t(),
                               "horizontal": h_f.t()}, bias)

    def _stage_costs(self, B, h, w, ho, wo):
        (kh, kw), R = self.kernel_size, self.rank
        flops = 2 * B * R * h * w * self.in_channels                  # 1x1 in
        flops += 2 * B * R * ho * w * kh                              # vertical (rows strided)
        flops += 2 * B * R * ho * wo * kw                             # horizontal
        flops += 2 * B * self.out_channels * ho * wo * R              # 1x1 out
        kept = B * (self.in_channels * h * w + R * h * w + R * ho * w + R * ho * wo)
        return flops, kept

    def extra_repr(self) -> str:
        return (f"{self._geometry_repr()}, rank={self.rank}, bias={self.bias is not None}, "
                f"params={self.weight_parameters():,} (compression {self.compression:.1f}x)")


def _tucker_conv_limits(c_out: int, c_in: int, kh: int, kw: int) -> tuple:
    """Largest useful ``(R_out, R_in)``: each channel count, and the size of the rest of the kernel."""
    return min(c_out, c_in * kh * kw), min(c_in, c_out * kh * kw)


class TuckerConv2d(_FactorizedConv2d):
    """Tucker-2 convolution: 1x1 -> k_h x k_w core -> 1x1 (Kim et al. 2016, arXiv:1511.06530).

    ``forward`` runs the three convolutions; :meth:`reference_forward` is the
    definition, one convolution with the kernel
    ``K[o, c, y, x] = sum_{s,t} last[o, s] core[s, t, y, x] first[t, c]``.

    Parameters
    ----------
    in_channels, out_channels, kernel_size : as ``nn.Conv2d``
    rank : int or (R_out, R_in)
        An int is used for both, capped at the largest useful ranks
        (``min(C_out, C_in k_h k_w)``, ``min(C_in, C_out k_h k_w)``); a pair is checked.
    stride, padding, dilation, bias, device, dtype : keyword-only, as ``nn.Conv2d``

    Attributes
    ----------
    first : Parameter (R_in, C_in)                 1x1 conv into R_in channels
    core : Parameter (R_out, R_in, k_h, k_w)       the small full convolution
    last : Parameter (C_out, R_out)                1x1 conv out, with ``bias``
    rank : (R_out, R_in)

    >>> TuckerConv2d(16, 32, 3, (8, 4), padding=1).rank
    (8, 4)
    """

    def __init__(self, in_channels, out_channels, kernel_size, rank, *, stride=1, padding=0, dilation=1,
                 bias: bool = True, device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, bias, device, dtype)
        self.rank = check_rank(rank, _tucker_conv_limits(self.out_channels, self.in_channels, *self.kernel_size),
                               "TuckerConv2d")
        r_out, r_in = self.rank
        factory = dict(device=device, dtype=dtype)
        self.first = nn.Parameter(torch.empty(r_in, self.in_channels, **factory))
        self.core = nn.Parameter(torch.empty(r_out, r_in, *self.kernel_size, **factory))
        self.last = nn.Parameter(torch.empty(self.out_channels, r_out, **factory))
        self.reset_parameters()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.conv2d(x, self.first[:, :, None, None])
        h = F.conv2d(h, self.core, stride=self.stride, padding=self.padding, dilation=self.dilation)
        return F.conv2d(h, self.last[:, :, None, None], self.bias)

    def dense_weight(self) -> torch.Tensor:
        """``K[o, c, y, x] = sum_{s,t} last[o, s] core[s, t, y, x] first[t, c]``."""
        r_out, r_in = self.rank
        kh, kw = self.kernel_size
        inner = (self.last @ self.core.reshape(r_out, -1)).reshape(self.out_channels, r_in, kh * kw)
        return (self.first.t() @ inner).reshape(self.out_channels, self.in_channels, kh, kw)

    def reset_parameters(self) -> None:
        """Core and both factors ``N(0, s^2)``, ``s = (sigma / sqrt(R_out R_in))^(1/3)``
        (Tucker with N = 2 factor matrices; the spatial modes stay in the core)."""
        normal_([self.first, self.core, self.last], tucker_std(linear_std(self.fan_in), self.rank))
        bias_uniform_(self.bias, self.fan_in)

    @classmethod
    def from_dense(cls, conv: nn.Conv2d, *, max_rank=None, eps=None, n_sweeps: int = 0):
        """Tucker-2 of the kernel: HOSVD (:func:`tnnlib.tucker.hosvd`) in the two channel modes.

        The spatial modes keep full rank (their orthogonal factors are folded
        into the core). ``max_rank``: an int for both channel ranks (capped at
        the largest useful ones) or a pair ``(R_out, R_in)`` (checked);
        ``eps``: relative error target (HOSVD bound). Neither: exact. With
        ``n_sweeps > 0``, refine by HOOI.
        """
        where = "TuckerConv2d.from_dense"
        weight, bias, geometry = _conv_parts(conv, where)
        c_out, c_in, kh, kw = weight.shape
        limits = _tucker_conv_limits(c_out, c_in, kh, kw)
        channels = check_max_rank(max_rank, limits, where) or limits
        eps = check_eps(eps, where)
        kernel = working_copy(weight)
        tucker = hosvd(kernel, max_rank=(*channels, kh, kw), eps=eps)
        if eps is not None:                                  # keep the spatial modes whole
            tucker = hosvd(kernel, max_rank=(*tucker.rank[:2], kh, kw))
        if n_sweeps > 0:
            tucker = hooi(kernel, tucker.rank, n_sweeps=n_sweeps)
        out_f, in_f, y_f, x_f = tucker.factors
        core = torch.einsum("stab,ya,xb->styx", tucker.core, y_f, x_f)
        new = cls(c_in, c_out, (kh, kw), tucker.rank[:2], bias=bias is not None, device=weight.device,
                  dtype=weight.dtype, **geometry)
        return copy_into(new, {"last": out_f, "core": core, "first": in_f.t()}, bias)

    def _stage_costs(self, B, h, w, ho, wo):
        (kh, kw), (r_out, r_in) = self.kernel_size, self.rank
        flops = 2 * B * r_in * h * w * self.in_channels
        flops += 2 * B * r_out * ho * wo * r_in * kh * kw
        flops += 2 * B * self.out_channels * ho * wo * r_out
        kept = B * (self.in_channels * h * w + r_in * h * w + r_out * ho * wo)
        return flops, kept

    def extra_repr(self) -> str:
        return (f"{self._geometry_repr()}, rank={self.rank}, bias={self.bias is not None}, "
                f"params={self.weight_parameters():,} (compression {self.compression:.1f}x)")
