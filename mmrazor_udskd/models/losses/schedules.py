"""Schedules of the loss weights, as pure functions of plain numbers.

Each takes the step or epoch and returns a float, so it can be checked by
hand. DKEL (Shao & Chen, arXiv 2312.11218):

* EMA momentum of the decoupled teachers (the mean-teacher rule):
  :math:`\\alpha_s = \\min(1 - \\frac{1}{s + 1}, \\alpha_{max})`
  (:func:`ema_momentum`; the update itself is
  :func:`mmrazor_udskd.models.utils.ema_update_`).
* Decaying ensemble weight :math:`w_e = e^{-k e}`, 0 once it falls below a
  cut-off (:func:`decay_weight`).
* Sigmoid ramp-up of the distillation terms
  :math:`r_e = \\exp(-5 (1 - \\min(e, T) / T)^2)`, :math:`r_e = 1` when
  :math:`T = 0` (:func:`sigmoid_rampup`).

UDSKD's loss weights :math:`\\alpha, \\beta, \\gamma` as functions of the
epoch or iteration ``t`` (the paper's future work, arXiv 2511.18826), applied
by ``LossWeightScheduleHook``: :func:`constant_weight`,
:func:`linear_weight`, :func:`cosine_weight` (a half-cosine ramp) and
:func:`step_weight`, by name in ``WEIGHT_SCHEDULES``.
"""
import bisect
import math
from typing import Sequence

__all__ = [
    'ema_momentum', 'decay_weight', 'sigmoid_rampup', 'constant_weight',
    'linear_weight', 'cosine_weight', 'step_weight', 'WEIGHT_SCHEDULES'
]


def ema_momentum(step: int, max_momentum: float = 0.999) -> float:
    """Momentum of the EMA teacher at update ``step``.

    :math:`\\alpha_s = \\min(1 - 1 / (s + 1), \\alpha_{max})`: the first
    update (``step=0``) copies the student, the following ones are the true
    running mean of the student's weights until that mean would forget more
    slowly than ``max_momentum`` allows (arXiv 2312.11218, after Tarvainen &
    Valpola's mean teacher). ``DecoupledOnlineDistill`` starts at
    ``step=1`` when its teachers were CE-initialised, so the initialised
    weights are the first sample of that mean rather than overwritten.

    Args:
        step (int): Number of EMA updates done before this one (>= 0).
        max_momentum (float): Upper bound :math:`\\alpha_{max}`.
            Defaults to 0.999.

    Returns:
        float: The momentum :math:`\\alpha_s` in ``[0, max_momentum]``.
    """
    if step < 0:
        raise ValueError(f'step must be >= 0, got {step}')
    return min(1.0 - 1.0 / (step + 1), float(max_momentum))


def decay_weight(epoch: float, k: float = 0.5, cutoff: float = 0.01) -> float:
    """Weight of the teachers' ensemble in DKEL's decaying ensemble scheme.

    :math:`w_e = e^{-k e}` if :math:`e^{-k e} \\ge` ``cutoff`` else 0
    (arXiv 2312.11218, Sec. "decaying ensemble"): large at the start of
    training, when the ensemble of the teachers is the stronger target, then
    gone, so that an over-fitted ensemble no longer biases the students.

    Args:
        epoch (float): Current epoch, 0-based.
        k (float): Decay rate. Defaults to 0.5.
        cutoff (float): Weights below this value become 0. Defaults to 0.01.

    Returns:
        float: The weight :math:`w_e` in ``[0, 1]``.
    """
    weight = math.exp(-float(k) * float(epoch))
    return weight if weight >= cutoff else 0.0


def sigmoid_rampup(epoch: float, length: float) -> float:
    """Sigmoid-shaped ramp-up from about 0 to 1 over ``length`` epochs.

    :math:`r_e = \\exp(-5 (1 - t)^2)` with :math:`t = \\mathrm{clip}(e / T,
    0, 1)`; :math:`r_e = 1` when :math:`T = 0` (ramp-up off). Unlike the
    authors' helper, which divides the epoch by the loss weight instead of
    the ramp length (so that the terms stay near 0 for 80 epochs), ``t``
    here reaches 1 exactly at ``epoch == length``.

    Args:
        epoch (float): Current epoch, 0-based.
        length (float): Ramp-up length in epochs; 0 switches it off.

    Returns:
        float: The ramp-up factor :math:`r_e` in ``(0, 1]``.
    """
    if length < 0:
        raise ValueError(f'length must be >= 0, got {length}')
    if length == 0:
        return 1.0
    t = min(max(float(epoch), 0.0), float(length)) / float(length)
    return math.exp(-5.0 * (1.0 - t)**2)


def constant_weight(t: float, value: float) -> float:
    """:math:`w(t) = v` for every ``t``.

    Args:
        t (float): Epoch or iteration (unused).
        value (float): The weight :math:`v`.

    Returns:
        float: ``value``.
    """
    return float(value)


def _ramp_fraction(t: float, begin_at: float, end_at: float) -> float:
    """``clip((t - begin_at) / (end_at - begin_at), 0, 1)``."""
    if end_at <= begin_at:
        raise ValueError(f'end_at ({end_at}) must be > begin_at ({begin_at})')
    return min(max((float(t) - begin_at) / (end_at - begin_at), 0.0), 1.0)


def linear_weight(t: float, start: float, end: float, begin_at: float = 0,
                  end_at: float = 1) -> float:
    """Linear ramp from ``start`` to ``end``.

    :math:`w(t) = s + (e - s) \\, u`, :math:`u = \\mathrm{clip}((t - t_0) /
    (t_1 - t_0), 0, 1)`: ``start`` until ``begin_at``, ``end`` from
    ``end_at`` on.

    Args:
        t (float): Epoch or iteration, 0-based.
        start (float): Weight :math:`s` up to ``begin_at``.
        end (float): Weight :math:`e` from ``end_at`` on.
        begin_at (float): :math:`t_0`. Defaults to 0.
        end_at (float): :math:`t_1 > t_0`. Defaults to 1.

    Returns:
        float: The weight.
    """
    u = _ramp_fraction(t, begin_at, end_at)
    return float(start) + (float(end) - float(start)) * u


def cosine_weight(t: float, start: float, end: float, begin_at: float = 0,
                  end_at: float = 1) -> float:
    """Half-cosine ramp from ``start`` to ``end`` (flat at both ends).

    :math:`w(t) = s + (e - s) (1 - \\cos(\\pi u)) / 2` with ``u`` as in
    :func:`linear_weight`.

    Args:
        t (float): Epoch or iteration, 0-based.
        start (float): Weight :math:`s` up to ``begin_at``.
        end (float): Weight :math:`e` from ``end_at`` on.
        begin_at (float): :math:`t_0`. Defaults to 0.
        end_at (float): :math:`t_1 > t_0`. Defaults to 1.

    Returns:
        float: The weight.
    """
    u = _ramp_fraction(t, begin_at, end_at)
    return float(start) + (float(end) - float(start)) * 0.5 * (
        1.0 - math.cos(math.pi * u))


def step_weight(t: float, milestones: Sequence[float],
                values: Sequence[float]) -> float:
    """Piecewise-constant weight: ``values[k]`` where ``k`` milestones are
    ``<= t``.

    Args:
        t (float): Epoch or iteration, 0-based.
        milestones (Sequence[float]): Strictly increasing change points.
        values (Sequence[float]): ``len(milestones) + 1`` weights.

    Returns:
        float: The weight.
    """
    milestones = [float(m) for m in milestones]
    if any(b <= a for a, b in zip(milestones, milestones[1:])):
        raise ValueError(f'milestones must increase, got {milestones}')
    if len(values) != len(milestones) + 1:
        raise ValueError(f'{len(milestones)} milestones need '
                         f'{len(milestones) + 1} values, got {len(values)}')
    return float(values[bisect.bisect_right(milestones, float(t))])


#: the schedules of ``LossWeightScheduleHook``, by config ``type``
WEIGHT_SCHEDULES = dict(constant=constant_weight, linear=linear_weight,
                        cosine=cosine_weight, step=step_weight)
