"""From model outputs and data samples to logits, labels and predictions.

Shared by both algorithms and the multi-model validation loop, so every
model of a run is labelled the same way.
"""
from typing import List, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from mmpretrain.structures import DataSample

__all__ = [
    'logits_of', 'gt_labels', 'ce_targets', 'to_predictions',
    'logits_to_predictions'
]


def logits_of(output: Union[torch.Tensor, Sequence[torch.Tensor]]
              ) -> torch.Tensor:
    """The classification logits of a ``mode='tensor'`` forward.

    Args:
        output (Tensor | Sequence[Tensor]): What a classifier returns in
            tensor mode: the logits, or a tuple whose last item holds them.

    Returns:
        Tensor: The logits, shape (B, C).
    """
    if isinstance(output, (tuple, list)):
        output = output[-1]
    return output


def gt_labels(data_samples: List[DataSample]) -> torch.Tensor:
    """The hard labels of a batch.

    Args:
        data_samples (List[DataSample]): Samples with ``gt_label``.

    Returns:
        Tensor: Class indices, shape (B,), ``long``.
    """
    return torch.cat([s.gt_label for s in data_samples]).long()


def ce_targets(data_samples: List[DataSample]) -> torch.Tensor:
    """Hard labels (B,) or, after batch augmentation, soft scores (B, C).

    Args:
        data_samples (List[DataSample]): Samples with ``gt_label`` or
            ``gt_score``.

    Returns:
        Tensor: The cross-entropy target.
    """
    if 'gt_score' in data_samples[0]:
        return torch.stack([s.gt_score for s in data_samples])
    return gt_labels(data_samples)


def to_predictions(
        scores: torch.Tensor,
        data_samples: Optional[List[DataSample]]) -> List[DataSample]:
    """Class probabilities to ``DataSample`` predictions.

    Mirrors mmpretrain's ``ClsHead._get_predictions`` (``pred_score`` =
    probabilities, ``pred_label`` = argmax) but writes to shallow copies,
    so several models can label the same batch.

    Args:
        scores (Tensor): Probabilities, shape (B, C).
        data_samples (List[DataSample], optional): Input samples (their
            labels and meta information are kept).

    Returns:
        List[DataSample]: One prediction per sample.
    """
    labels = scores.argmax(dim=1, keepdim=True).detach()
    out = []
    for i in range(scores.size(0)):
        sample = data_samples[i].clone() if data_samples else DataSample()
        sample.set_pred_score(scores[i]).set_pred_label(labels[i])
        out.append(sample)
    return out


def logits_to_predictions(
        logits: torch.Tensor,
        data_samples: Optional[List[DataSample]]) -> List[DataSample]:
    """:func:`to_predictions` of ``softmax(logits)`` (in ``float32``).

    Args:
        logits (Tensor): Logits, shape (B, C).
        data_samples (List[DataSample], optional): Input samples.

    Returns:
        List[DataSample]: One prediction per sample.
    """
    return to_predictions(F.softmax(logits.float(), dim=1), data_samples)
