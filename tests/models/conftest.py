import pytest
import torch


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    # Tiny convs gain nothing from a second thread, and on a shared, busy 2-core machine
    # OpenMP threads spinning for a core made these tests ~40x slower than one thread.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
