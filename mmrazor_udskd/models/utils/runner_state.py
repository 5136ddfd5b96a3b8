"""Where the runner is (iteration, epoch), read from MMEngine's
``MessageHub`` so that models need no runner reference."""
from typing import Dict, Optional

from mmengine.logging import MessageHub

__all__ = ['runner_position', 'current_epoch']


def runner_position() -> Dict[str, Optional[int]]:
    """The 1-based training iteration and epoch, for error messages.

    Returns:
        Dict[str, int | None]: ``iteration`` and ``epoch`` (None outside a
        runner).
    """
    hub = MessageHub.get_current_instance()
    it, ep = hub.get_info('iter'), hub.get_info('epoch')
    return dict(iteration=None if it is None else int(it) + 1,
                epoch=None if ep is None else int(ep) + 1)


def current_epoch() -> int:
    """The 0-based epoch (0 if unknown), for epoch-dependent schedules.

    Returns:
        int: The epoch.
    """
    epoch = MessageHub.get_current_instance().get_info('epoch')
    return int(epoch) if epoch is not None else 0
