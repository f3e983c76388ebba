"""Every exercise checker accepts the reference answer, rejects a wrong one, and treats the
notebook's placeholder as "not attempted" (so a notebook runs top to bottom untouched)."""
import pytest
import torch

from helpers import exercises as E
from helpers import experiments as X


def stub(*_):
    raise NotImplementedError


def test_follow_chain(capsys):
    assert E.check_follow_chain(E.solution_follow_chain, n=50) is True
    assert E.check_follow_chain(lambda pairs, start, k: dict(pairs)[start], n=50) is False  # always 1 hop
    assert E.check_follow_chain(stub) is None
    assert "not attempted" in capsys.readouterr().out


def test_matching_matrix(capsys):
    model, _ = X.load_chain_2hop()
    model = model.cpu()
    assert E.check_matching_matrix(E.solution_matching_matrix, model) is True
    assert E.check_matching_matrix(lambda m, t: E.solution_matching_matrix(m, t).T, model) is False
    assert "transposed" in capsys.readouterr().out
    assert E.check_matching_matrix(lambda m, t: m.embed.weight[t] @ m.embed.weight[t].T, model) is False
    assert E.check_matching_matrix(stub, model) is None


def test_init_ln_prediction():
    assert E.check_init_ln_prediction(E.solution_init_ln_prediction()) is True
    flipped = {cell: not v for cell, v in E.solution_init_ln_prediction().items()}
    assert E.check_init_ln_prediction(flipped) is False
    assert E.check_init_ln_prediction({("post", 1.0): True, ("pre", 1.0): None}) is None
    assert E.check_init_ln_prediction({("sideways", 1.0): True}) is False


def test_offdiagonal_ratio():
    assert E.check_offdiagonal_ratio(E.solution_offdiagonal_ratio) is True
    assert E.check_offdiagonal_ratio(lambda d, s, seed: E.solution_offdiagonal_ratio(d, s, seed) * s) is False
    assert E.check_offdiagonal_ratio(stub) is None


def test_layer2_prediction():
    model, _ = X.load_parallel_best()
    truth = E.layer2_offset_on_one_hop(model.cpu())
    assert E.check_layer2_prediction(truth, model.cpu()) is True
    assert E.check_layer2_prediction(truth + 1, model.cpu()) is False
    assert E.check_layer2_prediction(None, model) is None


def test_peakiness():
    assert E.check_peakiness(E.solution_peakiness) is True
    assert E.check_peakiness(lambda p, q, k: (p[q][:, k] > 0.5).float().mean().item()) is False
    assert E.check_peakiness(stub) is None


def test_transfer_prediction():
    truth = E.fastest_pretraining()
    assert truth == "polynomial"
    assert E.check_transfer_prediction(truth) is True
    assert E.check_transfer_prediction("copy") is False
    assert E.check_transfer_prediction("parity") is False
    assert E.check_transfer_prediction(None) is None
