import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    """Tests share two cores with other work (docs/testing.md): torch gets one thread, and a fixed seed."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
