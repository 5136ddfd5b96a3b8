"""No hook is needed for DKEL (arXiv 2312.11218).

:class:`~mmrazor_udskd.models.algorithms.DecoupledOnlineDistill` runs the
teacher initialisation and the EMA updates inside its own ``train_step`` and
reads the epoch from MMEngine's ``MessageHub``, so that its phase counters
live in the model's state dict and are restored by ``--resume``.
"""
__all__ = []
