"""Training several seeds as one vmapped model gives each the run `train` would give it."""
from dataclasses import replace

import pytest
import torch

from helpers import experiments as X
from helpers.data import make_chain_data
from helpers.together import can_resume_together, train_together
from helpers.train import TrainConfig, make_model, train

TINY = replace(X.CHAIN_1HOP_MODEL, d_model=16, d_head=16, d_ff=32, dropout=0.0)
CFG = TrainConfig(steps=40, batch_size=32, lr=3e-3, warmup_steps=5, eval_every=10, eval_size=64, grad_clip=0.5,
                  optimizer="adamw", weight_decay=0.01)


def _setup(seeds, freeze_embed=False):
    models = [make_model(TINY, seed=s, device="cpu") for s in seeds]
    if freeze_embed:
        for m in models:
            m.embed.weight.requires_grad_(False)
    datas = [make_chain_data(300, 1, "train", seed=s) for s in seeds]
    evals = [{"test_id": make_chain_data(64, 1, "test_id", seed=s)} for s in seeds]
    return models, datas, evals


@pytest.mark.parametrize("freeze_embed", [False, True])
def test_together_matches_one_by_one(freeze_embed):
    seeds = (0, 1, 2)
    alone, datas, evals = _setup(seeds, freeze_embed)
    expected = [train(m, d, e, replace(CFG, seed=s), progress=False) for m, d, e, s in zip(alone, datas, evals, seeds)]
    together, datas, evals = _setup(seeds, freeze_embed)
    got = train_together(together, datas, evals, [replace(CFG, seed=s) for s in seeds])
    for a, b, ma, mb in zip(expected, got, alone, together):
        assert a.steps == b.steps
        assert b.train_loss == pytest.approx(a.train_loss, rel=1e-4)
        for split in a.acc:
            assert b.acc[split] == pytest.approx(a.acc[split], abs=1 / 64 + 1e-9)
        for (name, pa), pb in zip(ma.named_parameters(), mb.parameters()):
            assert torch.allclose(pa, pb, atol=1e-4), name
    if freeze_embed:
        fresh = make_model(TINY, seed=1, device="cpu")
        assert torch.equal(together[1].embed.weight, fresh.embed.weight)


def test_a_model_that_meets_its_stop_rule_stops_there():
    seeds = (0, 1)
    models, datas, evals = _setup(seeds)
    cfgs = [replace(CFG, seed=s, stop_at={"train": 0.0}, steps_after_stop=10) for s in seeds]
    histories = train_together(models, datas, evals, cfgs)
    assert all(h.stop_step == 10 and h.steps == [10, 20] for h in histories)


def test_configs_must_differ_only_in_seed():
    models, datas, evals = _setup((0, 1))
    with pytest.raises(ValueError, match=r"differ only in seed; config 1 differs in \{'lr'"):
        train_together(models, datas, evals, [CFG, replace(CFG, seed=1, lr=1e-3)])


def test_a_stopped_group_leaves_checkpoints_that_train_finishes_alone(tmp_path):
    """A group cut off at step 20 (`checkpoints`) continues one by one in `train` to step 40 as
    the uninterrupted run would have gone."""
    seeds, cfg = (0, 1), replace(CFG, schedule="constant")
    alone, datas, evals = _setup(seeds)
    expected = [train(m, d, e, replace(cfg, seed=s), progress=False) for m, d, e, s in zip(alone, datas, evals, seeds)]
    together, datas, evals = _setup(seeds)
    files = [tmp_path / f"seed{s}.partial.pt" for s in seeds]
    train_together(together, datas, evals, [replace(cfg, seed=s, steps=20) for s in seeds],
                   checkpoints=files, checkpoint_every_s=0)
    assert all(f.exists() for f in files)
    resumed, datas, evals = _setup(seeds)
    for m, d, e, s, f, a, ma in zip(resumed, datas, evals, seeds, files, expected, alone):
        h = train(m, d, e, replace(cfg, seed=s), progress=False, checkpoint=f)
        assert h.steps == a.steps == [10, 20, 30, 40]
        assert h.train_loss == pytest.approx(a.train_loss, rel=1e-4)
        for (name, pa), pb in zip(ma.named_parameters(), m.parameters()):
            assert torch.allclose(pa, pb, atol=1e-4), name


def test_a_stopped_group_resumes_together(tmp_path):
    """The same cut at step 20, continued as a group (`resume=True`): each model ends where the
    uninterrupted run alone would have, with its history from step 10 on."""
    seeds, cfg = (0, 1), replace(CFG, schedule="constant")
    alone, datas, evals = _setup(seeds)
    expected = [train(m, d, e, replace(cfg, seed=s), progress=False) for m, d, e, s in zip(alone, datas, evals, seeds)]
    files = [tmp_path / f"seed{s}.partial.pt" for s in seeds]
    models, datas, evals = _setup(seeds)
    train_together(models, datas, evals, [replace(cfg, seed=s, steps=20) for s in seeds],
                   checkpoints=files, checkpoint_every_s=0)
    assert can_resume_together(files)
    resumed, datas, evals = _setup(seeds)
    got = train_together(resumed, datas, evals, [replace(cfg, seed=s) for s in seeds], checkpoints=files,
                         resume=True)
    for a, b, ma, mb in zip(expected, got, alone, resumed):
        assert b.steps == a.steps == [10, 20, 30, 40]
        assert b.train_loss == pytest.approx(a.train_loss, rel=1e-4)
        for (name, pa), pb in zip(ma.named_parameters(), mb.parameters()):
            assert torch.allclose(pa, pb, atol=1e-4), name


def test_a_group_resumes_only_from_one_step(tmp_path):
    seeds, cfg = (0, 1), replace(CFG, schedule="constant")
    files = [tmp_path / f"seed{s}.partial.pt" for s in seeds]
    models, datas, evals = _setup(seeds)
    train_together(models, datas, evals, [replace(cfg, seed=s, steps=20) for s in seeds],
                   checkpoints=files, checkpoint_every_s=0)
    files[1].unlink()
    assert not can_resume_together(files)
    models, datas, evals = _setup(seeds)
    with pytest.raises(ValueError, match="a checkpoint for every model, all from the same step"):
        train_together(models, datas, evals, [replace(cfg, seed=s) for s in seeds], checkpoints=files, resume=True)
    with pytest.raises(ValueError, match="resume=True needs `checkpoints`"):
        train_together(models, datas, evals, [replace(cfg, seed=s) for s in seeds], resume=True)


def test_one_checkpoint_file_per_model():
    models, datas, evals = _setup((0, 1))
    with pytest.raises(ValueError, match="one checkpoint file per model: got 1 for 2 models"):
        train_together(models, datas, evals, [replace(CFG, seed=s) for s in (0, 1)], checkpoints=["a.pt"])
