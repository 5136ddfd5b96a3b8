"""The ``mmrazor_udskd`` registry scope.

A config that inherits one of ours by scope,
``_base_ = ['mmrazor_udskd::udskd/<config>.py']``, gets ``_scope_='mmrazor_udskd'``
on every dict of that base that names no scope of its own (data sets,
transforms, hooks, evaluators, ...). MMEngine then imports this module and
builds those dicts from the registries below. Each one is a child of
MMPretrain's registry of the same kind, so a name resolves exactly as it
does under ``default_scope='mmpretrain'``, the default scope of every config
of the plugin: MMPretrain's classes, then MMEngine's. The plugin registers
its own classes in MMRazor's, MMPretrain's or MMEngine's registries; nothing
is registered here.
"""
from mmengine.registry import Registry
from mmpretrain import registry as pre

__all__ = [
    'RUNNERS', 'RUNNER_CONSTRUCTORS', 'LOOPS', 'HOOKS', 'LOG_PROCESSORS',
    'OPTIMIZERS', 'OPTIM_WRAPPERS', 'OPTIM_WRAPPER_CONSTRUCTORS',
    'PARAM_SCHEDULERS', 'DATASETS', 'DATA_SAMPLERS', 'TRANSFORMS', 'MODELS',
    'MODEL_WRAPPERS', 'WEIGHT_INITIALIZERS', 'TASK_UTILS', 'METRICS',
    'EVALUATORS', 'VISUALIZERS', 'VISBACKENDS'
]

SCOPE = 'mmrazor_udskd'


def _child(parent: Registry) -> Registry:
    # importing the package registers every class of the plugin
    return Registry(parent.name, parent=parent, scope=SCOPE,
                    locations=[SCOPE])


RUNNERS = _child(pre.RUNNERS)
RUNNER_CONSTRUCTORS = _child(pre.RUNNER_CONSTRUCTORS)
LOOPS = _child(pre.LOOPS)
HOOKS = _child(pre.HOOKS)
LOG_PROCESSORS = _child(pre.LOG_PROCESSORS)
OPTIMIZERS = _child(pre.OPTIMIZERS)
OPTIM_WRAPPERS = _child(pre.OPTIM_WRAPPERS)
OPTIM_WRAPPER_CONSTRUCTORS = _child(pre.OPTIM_WRAPPER_CONSTRUCTORS)
PARAM_SCHEDULERS = _child(pre.PARAM_SCHEDULERS)
DATASETS = _child(pre.DATASETS)
DATA_SAMPLERS = _child(pre.DATA_SAMPLERS)
TRANSFORMS = _child(pre.TRANSFORMS)
MODELS = _child(pre.MODELS)
MODEL_WRAPPERS = _child(pre.MODEL_WRAPPERS)
WEIGHT_INITIALIZERS = _child(pre.WEIGHT_INITIALIZERS)
TASK_UTILS = _child(pre.TASK_UTILS)
METRICS = _child(pre.METRICS)
EVALUATORS = _child(pre.EVALUATORS)
VISUALIZERS = _child(pre.VISUALIZERS)
VISBACKENDS = _child(pre.VISBACKENDS)
