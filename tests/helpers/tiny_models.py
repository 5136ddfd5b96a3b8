"""A tiny mmpretrain classifier for in-process algorithm and loader tests."""
from .runner_configs import tiny_net


def tiny_pair(norm_eval: bool = False, width: int = 4,
              num_classes: int = 5) -> dict:
    """A one-stage ResNet_CIFAR ``ImageClassifier`` config (mmpretrain
    scope), with ``norm_eval`` for its BN layers."""
    cfg = tiny_net(width, num_classes)
    cfg.pop('_delete_')
    cfg['backbone']['norm_eval'] = norm_eval
    cfg['_scope_'] = 'mmpretrain'
    return cfg
