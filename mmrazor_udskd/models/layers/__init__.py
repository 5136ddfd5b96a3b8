"""Layers (registered in mmengine's root ``MODELS``, as mmcv's are)."""
from .inplace_relu6 import InplaceReLU6, relu6_saving_output

__all__ = ['InplaceReLU6', 'relu6_saving_output']
