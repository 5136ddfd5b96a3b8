"""Keep in-process runners of these tests from leaking global state."""
from typing import Iterator

import pytest


@pytest.fixture(autouse=True)
def _restore_mmengine_globals() -> Iterator[None]:
    """Restore MMEngine's current ``DefaultScope`` and ``MessageHub``.

    A ``Runner`` built in a test makes its scope (``mmpretrain``) and its
    message hub the current instances, which would change how later tests
    resolve unscoped registry types and what ``train_step`` reads as the
    iteration.
    """
    from mmengine.logging import MessageHub
    from mmengine.registry import DefaultScope
    saved = {cls: dict(cls._instance_dict) for cls in (DefaultScope,
                                                       MessageHub)}
    yield
    for cls, instances in saved.items():
        cls._instance_dict.clear()
        cls._instance_dict.update(instances)
