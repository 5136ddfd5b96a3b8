"""Speed options of a distillation algorithm: memory format, the teacher's
autograd mode and ``torch.compile``. None of them changes the math."""
from typing import Dict, Iterable, Optional, Tuple, Union

import torch
from torch import nn

from ...utils.validation import check_choice
from .data_samples import logits_of

__all__ = [
    'MEMORY_FORMATS', 'TEACHER_GRAD_MODES', 'check_speed_options',
    'apply_speed_options', 'to_memory_format', 'logits_without_grad'
]

#: accepted ``memory_format`` values and the torch formats they select
MEMORY_FORMATS: Dict[str, torch.memory_format] = {
    'contiguous_format': torch.contiguous_format,
    'channels_last': torch.channels_last
}
#: accepted ``teacher_grad_mode`` values
TEACHER_GRAD_MODES = ('no_grad', 'inference_mode')


def check_speed_options(
    memory_format: str, teacher_grad_mode: str,
    torch_compile: Union[bool, dict]
) -> Tuple[torch.memory_format, str, Optional[dict]]:
    """Validate the speed options.

    Args:
        memory_format (str): ``model.memory_format``.
        teacher_grad_mode (str): ``model.teacher_grad_mode``.
        torch_compile (bool | dict): ``model.torch_compile``.

    Returns:
        Tuple[torch.memory_format, str, dict | None]: The torch memory
        format, the teacher grad mode and the ``torch.compile`` keyword
        arguments (None: no compilation).

    Raises:
        ValueError: For an unknown value, naming the config field.
    """
    check_choice(memory_format, tuple(MEMORY_FORMATS), 'model.memory_format')
    check_choice(teacher_grad_mode, TEACHER_GRAD_MODES,
                 'model.teacher_grad_mode')
    if isinstance(torch_compile, bool):
        compile_kwargs = {} if torch_compile else None
    elif isinstance(torch_compile, dict):
        compile_kwargs = dict(torch_compile)
    else:
        raise ValueError('`model.torch_compile` must be a bool or a dict '
                         'of torch.compile keyword arguments, got '
                         f'{type(torch_compile).__name__}')
    return MEMORY_FORMATS[memory_format], teacher_grad_mode, compile_kwargs


def apply_speed_options(nets: Iterable[nn.Module],
                        memory_format: torch.memory_format,
                        compile_kwargs: Optional[dict]) -> None:
    """Put ``nets`` in ``memory_format`` and compile their forwards.

    Args:
        nets (Iterable[nn.Module]): The teacher and the students.
        memory_format (torch.memory_format): Layout of their 4-D weights.
        compile_kwargs (dict, optional): ``torch.compile`` keyword
            arguments; None compiles nothing.
    """
    for net in nets:
        if memory_format is torch.channels_last:
            # converts 4-D parameters and buffers in place of the module;
            # init_weights() and load_state_dict() write into them and keep
            # the layout
            net.to(memory_format=torch.channels_last)
        if compile_kwargs is not None:
            # compiles __call__; state_dict keys stay unchanged
            net.compile(**compile_kwargs)


def to_memory_format(inputs: torch.Tensor,
                     memory_format: torch.memory_format) -> torch.Tensor:
    """The preprocessed inputs in ``memory_format`` (a no-op when they
    already are, or are not 4-D).

    Args:
        inputs (Tensor): Preprocessed inputs.
        memory_format (torch.memory_format): The algorithm's layout.

    Returns:
        Tensor: The same data in that layout.
    """
    if memory_format is torch.channels_last and inputs.dim() == 4:
        return inputs.contiguous(memory_format=torch.channels_last)
    return inputs


def logits_without_grad(model: nn.Module, inputs: torch.Tensor,
                        grad_mode: str = 'no_grad') -> torch.Tensor:
    """One forward that records no graph, e.g. of a frozen teacher.

    Args:
        model (nn.Module): A classifier (``mode='tensor'`` gives logits).
        inputs (Tensor): Preprocessed inputs.
        grad_mode (str): ``'no_grad'`` or ``'inference_mode'`` (which also
            skips version counting). Defaults to ``'no_grad'``.

    Returns:
        Tensor: Logits, shape (B, C), a normal tensor without grad.
    """
    if grad_mode == 'inference_mode':
        with torch.inference_mode():
            logits = logits_of(model(inputs, mode='tensor'))
        # (B, C) copy as a normal tensor: the losses save it for backward
        return logits.clone()
    with torch.no_grad():
        return logits_of(model(inputs, mode='tensor')).detach()
