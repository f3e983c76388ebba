import math
from dataclasses import replace

import pytest
import torch

from helpers.data import make_chain_data, make_iteration_data
from helpers.model import ModelConfig
from helpers.train import (TrainConfig, accuracy_by, evaluate, load_checkpoint, lr_at,
                           make_model, save_checkpoint, train)

TINY = ModelConfig(vocab_size=201, seq_len=13, n_layers=2, d_model=32, d_ff=64)


def test_authors_epoch_schedule():
    """Paper A's reference run: 5e-5 -> 2e-4 over 10 epochs, then a cosine toward 2e-5 (T 100)."""
    from helpers.experiments import AUTHORS_CHAIN_TRAIN as cfg
    per_epoch = [lr_at(e * cfg.steps_per_epoch, cfg) for e in range(100)]
    assert per_epoch[0] == pytest.approx(5e-5) and per_epoch[10] == pytest.approx(2e-4)
    assert per_epoch[5] == pytest.approx(1.25e-4)
    assert lr_at(cfg.steps_per_epoch - 1, cfg) == per_epoch[0], "constant within an epoch"
    assert all(a > b for a, b in zip(per_epoch[10:], per_epoch[11:])) and 2e-5 < per_epoch[-1] < 3e-5
    assert cfg.steps == 100 * 270 and cfg.batch_size == 1000 and cfg.decay_all


def test_lr_schedule():
    cfg = TrainConfig(steps=110, lr=1.0, warmup_steps=10)
    assert lr_at(0, cfg) == pytest.approx(0.1)
    assert lr_at(9, cfg) == pytest.approx(1.0)
    assert lr_at(60, cfg) == pytest.approx(0.5)
    assert lr_at(110, cfg) == pytest.approx(0.0)
    constant = TrainConfig(steps=110, lr=1.0, warmup_steps=10, schedule="constant")
    assert lr_at(100, constant) == 1.0


def short_run(seed, steps=30):
    data = make_chain_data(512, hops=1, seed=0)
    model = make_model(TINY, seed=seed)
    cfg = TrainConfig(steps=steps, batch_size=64, eval_every=10, seed=seed)
    return model, train(model, data, {"test_id": make_chain_data(256, 1, "test_id")}, cfg, progress=False)


def test_training_is_deterministic_under_seed():
    m1, h1 = short_run(seed=3)
    m2, h2 = short_run(seed=3)
    m3, h3 = short_run(seed=4)
    assert h1.train_loss == h2.train_loss and h1.acc == h2.acc
    assert all(torch.equal(p, q) for p, q in zip(m1.parameters(), m2.parameters()))
    assert h1.train_loss != h3.train_loss
    assert h1.steps == [10, 20, 30] and set(h1.acc) == {"train", "test_id"}


def test_model_memorises_a_small_training_set():
    data = make_chain_data(256, hops=1, seed=1)
    model = make_model(TINY, seed=0)
    before = evaluate(model, data)
    history = train(model, data, cfg=TrainConfig(steps=300, batch_size=64, lr=3e-3, eval_every=100),
                    progress=False)
    assert before["acc"] < 0.05
    assert history.final("train") >= 0.95
    assert history.train_loss[-1] < before["loss"] / 4


def test_masked_iteration_training_runs_and_scores_by_length():
    data = make_iteration_data("copy", n_len=3, n_per_length=64)
    cfg = ModelConfig(vocab_size=64, seq_len=8, n_layers=2, d_model=32, d_ff=64, norm="pre", init_rate=0.5)
    model = make_model(cfg, seed=0)
    history = train(model, data, cfg=TrainConfig(steps=20, batch_size=32, eval_every=10), progress=False)
    assert len(history.train_loss) == 2 and all(math.isfinite(x) for x in history.train_loss)
    by_length = accuracy_by(model, data, "lengths")
    assert set(by_length) == {1, 2, 3} and all(0 <= a <= 1 for a in by_length.values())


def test_stop_at_and_metrics():
    data = make_chain_data(256, hops=1, seed=1)
    model = make_model(TINY, seed=0)
    calls = []
    cfg = TrainConfig(steps=400, batch_size=64, lr=3e-3, eval_every=20, stop_at={"train": 0.5})
    history = train(model, data, cfg=cfg, metrics={"calls": lambda m: len(calls.append(1) or calls)},
                    progress=False)
    assert history.steps[-1] < 400 and history.final("train") >= 0.5
    assert history.metrics["calls"] == list(range(1, len(history.steps) + 1))
    assert history.steps_to("train", 0.5) == history.steps[-1]


@pytest.mark.parametrize("kwargs,message", [
    (dict(steps=0), "steps=0 must be >= 1"),
    (dict(lr=0), "lr=0 must be > 0"),
    (dict(schedule="linear"), "schedule='linear' is not one of"),
    (dict(optimizer="sgd"), "optimizer='sgd' is not one of"),
    (dict(early_eval_every=-1), "early_eval_every=-1 must be >= 0"),
])
def test_train_config_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**kwargs)


def test_eval_steps_are_every_eval_every_the_last_and_the_early_ones():
    assert [s for s in range(1, 101) if TrainConfig(steps=100, eval_every=40).is_eval_step(s)] == [40, 80, 100]
    early = TrainConfig(steps=100, eval_every=40, early_eval_every=5, early_eval_until=20)
    assert [s for s in range(1, 101) if early.is_eval_step(s)] == [5, 10, 15, 20, 40, 80, 100]


def test_stop_at_unknown_split_fails_before_training():
    model = make_model(TINY)
    before = model.embed.weight.clone()
    with pytest.raises(ValueError, match="stop_at names split 'test_ood'"):
        train(model, make_chain_data(64), cfg=TrainConfig(stop_at={"test_ood": 0.9}), progress=False)
    assert torch.equal(model.embed.weight, before)


def test_checkpoint_round_trip_and_mismatch(tmp_path):
    model = make_model(TINY, seed=5)
    x = make_chain_data(8).inputs
    path = save_checkpoint(tmp_path / "m.pt", model, note="hello", results={"acc": 0.5})
    loaded, meta = load_checkpoint(path, expected=TINY)
    assert meta == {"note": "hello", "results": {"acc": 0.5}}
    assert torch.allclose(loaded(x), model.eval()(x))
    other = ModelConfig(**{**TINY.to_dict(), "d_model": 64, "norm": "pre", "final_norm": None})
    with pytest.raises(ValueError, match=r"d_model=32 \(expected 64\).*norm='post' \(expected 'pre'\)"):
        load_checkpoint(path, expected=other)
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "missing.pt")


@pytest.mark.parametrize("kwargs,message", [
    (dict(hops=[1, 7]), r"hops=\[1, 7\] must lie in the allowed range 1..6"),
    (dict(hops=[]), "must lie in the allowed range"),
    (dict(n_layers=0), "n_layers=0 must be >= 1"),
])
def test_chain_cot_bad_input_fails_before_training(kwargs, message):
    from helpers.experiments import train_chain_cot
    args = {"n_layers": 2, "cot": True, **kwargs}
    with pytest.raises(ValueError, match=message):
        train_chain_cot(args.pop("n_layers"), progress=False, **args)


def test_interrupted_run_resumes_exactly(tmp_path):
    """A run stopped at step 30 and resumed from its checkpoint ends where a straight run ends."""
    data = make_chain_data(2000, seed=3)
    cfg = TrainConfig(steps=60, batch_size=64, eval_every=10, eval_size=200, schedule="constant", warmup_steps=5)
    cfg_model = ModelConfig(d_model=16, d_ff=32, n_layers=2)
    straight = make_model(cfg_model, seed=1)
    h_straight = train(straight, data, cfg=cfg, progress=False)
    ckpt = tmp_path / "run.partial.pt"
    first = make_model(cfg_model, seed=1)
    train(first, data, cfg=replace(cfg, steps=30), progress=False, checkpoint=ckpt, checkpoint_every_s=0)
    assert ckpt.exists()
    resumed = make_model(cfg_model, seed=99)          # other weights: they must come from the file
    h_resumed = train(resumed, data, cfg=cfg, progress=False, checkpoint=ckpt, checkpoint_every_s=0)
    assert h_resumed.steps == h_straight.steps
    for a, b in zip(straight.parameters(), resumed.parameters()):
        assert torch.allclose(a, b, atol=1e-6)


def test_steps_after_stop_keeps_training():
    data = make_chain_data(2000, seed=3)
    cfg = TrainConfig(steps=200, batch_size=64, eval_every=10, eval_size=100, stop_at={"train": 0.0},
                      steps_after_stop=30)
    history = train(make_model(ModelConfig(d_model=16, d_ff=32, n_layers=2)), data, cfg=cfg, progress=False)
    assert history.stop_step == 10 and history.steps[-1] == 40
    with pytest.raises(ValueError, match="steps_after_stop=-1 must be >= 0"):
        TrainConfig(steps_after_stop=-1)


def test_steps_to_reads_accuracies_and_tracked_metrics():
    from helpers.train import History
    h = History(steps=[10, 20, 30], acc={"test_id": [0.1, 0.96, 0.99]}, metrics={"hop 2": [0.0, 0.5, 0.95]})
    assert h.steps_to("test_id", 0.95) == 20 and h.steps_to("hop 2", 0.95) == 30
    assert h.steps_to("hop 2", 0.99) is None
