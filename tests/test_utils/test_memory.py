"""peak_tensor_bytes: the profiler's allocation record, summed."""
import torch

from mmrazor_udskd.utils.memory import peak_tensor_bytes, tensor_memory_curve

MIB = 2**20


def test_hand_computed_peak_and_end():

    def work():
        a = torch.empty(MIB // 4)  # 1 MiB of fp32
        b = torch.empty(MIB // 2)  # 2 MiB
        del a  # 2 MiB live
        c = torch.empty(MIB)  # 6 MiB live: the peak
        del b, c  # 0

    peak, end = tensor_memory_curve(work)
    assert peak == 6 * MIB
    assert end == 0


def test_result_dropped_inside_and_earlier_blocks_not_counted():
    before = torch.empty(MIB // 4)  # allocated before profiling
    holder = [before]
    del before

    def work():
        holder.clear()  # frees 1 MiB the profiler never saw allocated
        return torch.empty(MIB // 2)  # 2 MiB, dropped inside

    peak, end = tensor_memory_curve(work)
    assert (peak, end) == (2 * MIB, 0)
    # 3 MiB of ones and a scalar sum
    assert 3 * MIB <= peak_tensor_bytes(
        lambda: torch.ones(3 * MIB // 4).sum()) < 3 * MIB + 1024


def test_block_of_an_earlier_profiled_region_freed_here_not_counted():
    """torch remembers the sizes of blocks allocated while any profiler ran
    and reports their frees later: 0.5 MiB kept from one measurement and
    freed in the next must not lower the next one's curve."""
    keep = []
    assert tensor_memory_curve(
        lambda: keep.append(torch.empty(MIB // 8))) == (MIB // 2, MIB // 2)

    def work():
        keep.clear()  # frees the 0.5 MiB of the region before
        return torch.empty(MIB // 2)  # 2 MiB, dropped inside

    assert tensor_memory_curve(work) == (2 * MIB, 0)
