"""Optimizer wrapper constructors."""
__all__ = []
