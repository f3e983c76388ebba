import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    """Small models train faster on one thread, and results do not depend on the core count."""
    torch.set_num_threads(1)
