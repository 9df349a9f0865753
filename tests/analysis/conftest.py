import pytest
import torch

from tests.analysis.helpers import TinyMLP, tiny_data, train_briefly


@pytest.fixture(autouse=True)
def one_thread():
    """Tests share two cores with other work (docs/testing.md): torch gets one thread, and a fixed seed."""
    torch.set_num_threads(1)
    torch.manual_seed(0)


@pytest.fixture(scope="module")
def trained():
    """A tiny MLP trained briefly on the tiny data set (tests.analysis.helpers): a real network to measure."""
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model, data = TinyMLP(), tiny_data()
    train_briefly(model, data.id_train)
    return model, data

