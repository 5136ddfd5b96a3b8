"""One optimizer wrapper per student, built from one default.

A multi-student algorithm (``MultiStudentDistill``, or any model that lists
its trained children in ``student_names`` or ``branch_names``) updates each
student with its own optimizer. Instead of one ``optim_wrapper.<name>`` entry
per student (which breaks as soon as a student is renamed or added), the
config gives the wrapper once and, optionally, per-student overrides::

    optim_wrapper = dict(
        constructor='mmrazor.StudentOptimWrapperConstructor',
        type='OptimWrapper',
        optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4),
        mbv2=dict(optimizer=dict(lr=0.05)))  # optional, merged into the default
"""
import copy
import inspect
from typing import Any, Dict, List, Optional

from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapperDict
from mmrazor.registry import OPTIM_WRAPPER_CONSTRUCTORS, OPTIM_WRAPPERS
from torch import nn

from ...models.utils import unwrap_model

__all__ = ['StudentOptimWrapperConstructor', 'trained_child_names',
           'merge_cfg']

#: keys of an optimizer wrapper config that are never student names
WRAPPER_KEYS = frozenset(('type', 'optimizer', 'paramwise_cfg', 'clip_grad',
                          'accumulative_counts', 'dtype', 'loss_scale',
                          'use_fsdp'))


def merge_cfg(base: Dict[str, Any], override: Dict[str, Any]) -> dict:
    """``override`` merged into a copy of ``base``: nested dicts merged key by
    key (unless the override has ``_delete_=True``), other values replaced.

    Args:
        base (dict): The default wrapper config.
        override (dict): One student's override.

    Returns:
        dict: The merged config (plain dicts).
    """
    out = copy.deepcopy(dict(base))
    for key, value in override.items():
        if key == '_delete_':
            continue
        if isinstance(value, dict) and isinstance(out.get(key), dict) and \
                not value.get('_delete_', False):
            out[key] = merge_cfg(out[key], value)
        elif isinstance(value, dict):
            out[key] = {k: copy.deepcopy(v) for k, v in value.items()
                        if k != '_delete_'}
        else:
            out[key] = copy.deepcopy(value)
    return out


def trained_child_names(model: nn.Module) -> List[str]:
    """The names of the children that get an optimizer each.

    Args:
        model (nn.Module): The algorithm, possibly in a DDP wrapper.

    Returns:
        List[str]: Its ``student_names`` (or ``branch_names``).

    Raises:
        TypeError: If the model lists neither.
    """
    model = unwrap_model(model)
    for attr in ('student_names', 'branch_names'):
        names = getattr(model, attr, None)
        if names:
            return list(names)
    raise TypeError(
        'StudentOptimWrapperConstructor needs a model with `student_names` '
        f'(e.g. MultiStudentDistill); {type(model).__name__} has none. Use '
        'the default constructor for a single model.')


def _wrapper_keys(wrapper_type: Any) -> frozenset:
    """The config keys the wrapper type accepts (plus the common ones)."""
    cls = OPTIM_WRAPPERS.get(wrapper_type) if isinstance(wrapper_type,
                                                         str) else wrapper_type
    keys = set(WRAPPER_KEYS)
    for klass in inspect.getmro(cls) if inspect.isclass(cls) else ():
        init = klass.__dict__.get('__init__')
        if init is not None:
            keys.update(inspect.signature(init).parameters)
    return frozenset(keys - {'self', 'args', 'kwargs'})


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class StudentOptimWrapperConstructor:
    """Build one optimizer wrapper per student from one default config.

    The top level of ``optim_wrapper`` (``type``, ``optimizer``,
    ``paramwise_cfg``, ``clip_grad``...) is the default wrapper of every
    student the model lists in ``student_names``; a key equal to a student
    name holds that student's override, merged into the default (nested
    dicts key by key, so ``mbv2=dict(optimizer=dict(lr=0.05))`` changes
    only the learning rate). The result is an ``OptimWrapperDict`` keyed by
    the student names, the same as ``SeparateOptimWrapperConstructor``
    builds from one explicit entry per student.

    Errors, raised when the runner builds the optimizers (before the first
    iteration), name the field: an override of a student the model does not
    have (``optim_wrapper.<name>``), or a student left without an optimizer
    when the default has none (``optim_wrapper.<name>.optimizer``).

    Args:
        optim_wrapper_cfg (dict): ``optim_wrapper`` without ``constructor``
            and ``paramwise_cfg``.
        paramwise_cfg (dict, optional): The default's parameter-wise options
            (``optim_wrapper.paramwise_cfg``). Defaults to None.
    """

    def __init__(self,
                 optim_wrapper_cfg: dict,
                 paramwise_cfg: Optional[dict] = None) -> None:
        if not isinstance(optim_wrapper_cfg, dict):
            raise TypeError('`optim_wrapper` must be a dict, got '
                            f'{type(optim_wrapper_cfg).__name__}')
        self.optim_wrapper_cfg = dict(optim_wrapper_cfg)
        self.paramwise_cfg = paramwise_cfg

    def student_cfgs(self, names: List[str]) -> Dict[str, dict]:
        """Each student's wrapper config (default merged with override).

        Args:
            names (List[str]): The model's student names.

        Returns:
            Dict[str, dict]: Per student, its wrapper config, with its
            ``paramwise_cfg`` (if any) still inside.

        Raises:
            ValueError: For an override of an unknown student, a student
                name that is also a wrapper field, or a student without an
                optimizer.
        """
        cfg = dict(self.optim_wrapper_cfg)
        cfg.setdefault('type', 'OptimWrapper')
        fields = _wrapper_keys(cfg['type'])
        clash = sorted(set(names) & fields)
        if clash:
            raise ValueError(
                f'student names {clash} are also optimizer wrapper fields '
                f'(`optim_wrapper.{clash[0]}`); rename the students to use '
                'StudentOptimWrapperConstructor')
        overrides = {k: v for k, v in cfg.items() if k not in fields}
        default = {k: v for k, v in cfg.items() if k in fields}
        if self.paramwise_cfg is not None:
            default['paramwise_cfg'] = self.paramwise_cfg
        for key, value in overrides.items():
            if key not in names:
                raise ValueError(
                    f'`optim_wrapper.{key}` overrides the optimizer of a '
                    f'student {key!r}, but the model has no such student '
                    f'(students: {names}; wrapper fields: '
                    f'{sorted(fields)})')
            if not isinstance(value, dict):
                raise ValueError(
                    f'`optim_wrapper.{key}` must be a dict that overrides '
                    f'the default wrapper for student {key!r}, got {value!r}')
        out = {}
        for name in names:
            own = merge_cfg(default, overrides.get(name, {}))
            if not own.get('optimizer'):
                raise ValueError(
                    f'`optim_wrapper.{name}.optimizer` is missing: student '
                    f'{name!r} has no optimizer. Set the default '
                    '`optim_wrapper.optimizer` (used for every student) or '
                    f'`optim_wrapper.{name}=dict(optimizer=...)`')
            out[name] = own
        return out

    def __call__(self, model: nn.Module) -> OptimWrapperDict:
        """Build the wrappers.

        Args:
            model (nn.Module): The algorithm (possibly in a DDP wrapper).

        Returns:
            OptimWrapperDict: One wrapper per student name.
        """
        names = trained_child_names(model)
        algorithm = unwrap_model(model)
        wrappers = {}
        for name, cfg in self.student_cfgs(names).items():
            paramwise = cfg.pop('paramwise_cfg', None)
            constructor = DefaultOptimWrapperConstructor(cfg, paramwise)
            wrappers[name] = constructor(
                unwrap_model(algorithm._modules[name]))
        return OptimWrapperDict(**wrappers)
