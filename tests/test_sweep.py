"""The resumable sweep runner: one file per run, finished runs are skipped, order is kept."""
import json

import pytest
import torch

from helpers import experiments as X
from helpers.sweep import cell_key, pending_cells, run_path, run_sweep
from helpers.train import TrainConfig


def test_cell_key_is_stable_and_names_every_setting():
    assert cell_key({"seed": 0, "gamma": 1.0, "norm": "post"}) == "gamma=1.0_norm=post_seed=0"
    assert cell_key({"target": "qk/vo"}) == "target=qk-vo"
    with pytest.raises(ValueError, match="at least one setting"):
        cell_key({})


def test_sweep_resumes_and_skips_finished_runs(tmp_path):
    calls = []

    def run(cell):
        calls.append(cell["seed"])
        return {"score": cell["seed"] * 10}

    cells = [{"seed": s} for s in range(3)]
    run_path(tmp_path, cells[1]).write_text(json.dumps({"seed": 1, "score": 99}))   # finished earlier
    records = run_sweep(run, cells, tmp_path, workers=1, progress=False)
    assert calls == [0, 2], "the finished run is not trained again"
    assert [r["score"] for r in records] == [0, 99, 20]
    assert all("seconds" in r for r in (records[0], records[2]))
    assert pending_cells(cells, tmp_path) == []
    assert run_sweep(run, cells, tmp_path, workers=1, progress=False) == records
    assert calls == [0, 2], "a second call runs nothing"
    assert not list(tmp_path.glob("*.tmp")), "results are written atomically"


def test_sweep_runs_cells_in_a_process_pool(tmp_path):
    cells = [{"seed": s, "name": "x"} for s in range(3)]
    records = run_sweep(dict, cells, tmp_path, workers=2, progress=False)   # dict(cell) is a picklable run
    assert [r["seed"] for r in records] == [0, 1, 2]
    assert len(list(tmp_path.glob("*.json"))) == 3


def test_sweep_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match="workers=0"):
        run_sweep(dict, [{"seed": 0}], tmp_path, workers=0)
    with pytest.raises(ValueError, match="share a key"):
        run_sweep(dict, [{"seed": 0}, {"seed": 0}], tmp_path)


def test_noise5_cells_and_one_tiny_run(tmp_path):
    """The 5L1H study's grid (no-noise runs first, every target incl. the unmatched control, per
    layer) and one run's record: per-hop steps to 95 %, weights kept, a control's noise in place."""
    cells = X.noise5_cells()
    assert len(cells) == 2 * (1 + 2 * len(X.NOISE_TARGETS) * 3) * 3 == 150
    assert all(c["sigma"] == 0 for c in cells[:6]) and {c["target"] for c in cells} == set(X.NOISE_TARGETS)
    cell = {"dataset": "with_order_after", "sigma": 1.0, "target": "unmatched", "layer": 1, "seed": 0}
    record = X._noise5_run(cell, train_cfg=TrainConfig(steps=20, batch_size=16, eval_every=10, eval_size=64),
                           run_dir=tmp_path)
    assert record["n_layers"] == 5 and record["noise_target"] == "unmatched" and record["noise_layer"] == 1
    assert set(record["steps_to_95_by_hop"]) == {"1", "2", "3"}
    assert {int(k) for k in record["acc_by_hop"]} == {1, 2, 3}
    assert (tmp_path / f"{cell_key(cell)}.pt").exists()


def test_authors_chain_run_records_what_the_ladder_records(tmp_path):
    """The authors' reference run (GPU-sized) goes through the same per-run record as the ladder;
    a tiny stand-in of its config checks the record and the kept weights."""
    from dataclasses import replace
    model_cfg = replace(X.AUTHORS_CHAIN_MODEL, d_model=16, d_head=16, d_ff=32)
    train_cfg = replace(X.AUTHORS_CHAIN_TRAIN, steps=6, batch_size=32, steps_per_epoch=3, warmup_epochs=1,
                        cosine_epochs=2, eval_every=3, eval_size=64)
    record = X._authors_chain_run({"seed": 0}, run_dir=tmp_path, model_cfg=model_cfg, train_cfg=train_cfg)
    assert record["model_config"]["pos_init_scale"] == "seq_len" and record["train_config"]["batch_size"] == 32
    assert record["history"]["steps"] == [3, 6]
    assert set(record["interventions"]["by_ratio"]) == {str(r) for r in X.LADDER_RATIOS}
    assert (tmp_path / "seed=0.pt").exists()


def test_a_stopped_authors_run_is_recorded_and_listed_until_its_full_run_exists(tmp_path, monkeypatch):
    """A GPU call that runs out of time brings back fp16 weights + history; the record made from
    them carries the curves, the evaluation of those weights and the interventions, and the
    aggregate lists it under "stopped_runs" for a seed without a full run only."""
    from dataclasses import replace
    tiny = replace(X.AUTHORS_CHAIN_MODEL, d_model=16, d_head=16, d_ff=32)
    train_cfg = replace(X.AUTHORS_CHAIN_TRAIN, steps=6, batch_size=32, steps_per_epoch=3, warmup_epochs=1,
                        cosine_epochs=2, eval_every=3, eval_size=64)
    monkeypatch.setattr(X, "AUTHORS_CHAIN_MODEL", tiny)
    monkeypatch.setattr(X, "AUTHORS_CHAIN_DIR", tmp_path)
    X._authors_chain_run({"seed": 0}, run_dir=tmp_path, model_cfg=tiny, train_cfg=train_cfg)
    model, meta = X.load_checkpoint(tmp_path / "seed=0.pt", expected=tiny)
    state = tmp_path / "seed=1.state_at_step_6.pt"
    torch.save({"model": {k: v.half() for k, v in model.state_dict().items()}, "step": 6,
                "history": {"steps": [3, 6], "train_loss": [2.0, 1.0], "acc": {"train": [0.1, 0.2], "test_id": [0.0, 0.6],
                            "test_ood": [0.3, 0.4]}, "loss": {"train": [2, 1], "test_id": [2, 1], "test_ood": [2, 1]},
                            "metrics": {}, "seconds": 1.0, "stop_step": None}}, state)
    out = X.record_stopped_authors_run(state, seed=1, device="cpu (test)", run_dir=tmp_path)
    record = json.loads(out.read_text())
    assert record["stopped_at_step"] == 6 and record["transition_step"] == 6 and record["final"]["test_id"] == 0.6
    evals = X.chain_eval_sets(2)
    assert record["full_eval_at_stop"]["test_ood"] == pytest.approx(X.evaluate(model, evals["test_ood"])["acc"], abs=2e-3)
    assert set(record["interventions"]["by_ratio"]) == {str(r) for r in X.LADDER_RATIOS}
    blob = json.loads(X.make_authors_chain(path=tmp_path / "agg.json", collect=True).read_text())
    assert [r["seed"] for r in blob["stopped_runs"]] == [1] and {c["seed"] for c in blob["pending"]} == {0, 1}
    (tmp_path / "seed=1.json").write_text(json.dumps({"seed": 1}))   # once seed 1's full run exists ...
    blob = json.loads(X.make_authors_chain(path=tmp_path / "agg.json", collect=True).read_text())
    assert blob["stopped_runs"] == [] and [r["seed"] for r in blob["runs"]] == [1]   # ... it replaces the stopped one


def test_noise5_seeds_trained_together_match_one_by_one(tmp_path):
    """`noise5_sweep --together 3`: the seeds of a noise setting as one vmapped model give the
    records of one-by-one training (frozen noise and all), up to floating-point order."""
    cfg = TrainConfig(steps=20, batch_size=16, eval_every=10, eval_size=64)
    cells = [{"dataset": "with_order_after", "sigma": 1.0, "target": "unmatched", "layer": 1, "seed": s} for s in (0, 1)]
    alone = [X._noise5_run(c, train_cfg=cfg, run_dir=tmp_path / "alone") for c in cells]
    together = X._noise5_group(cells, train_cfg=cfg, run_dir=tmp_path / "together")
    for a, b in zip(alone, together):
        assert a["history"]["steps"] == b["history"]["steps"] == [10, 20]
        assert b["history"]["train_loss"] == pytest.approx(a["history"]["train_loss"], rel=1e-4)
        assert b["acc_by_hop"] == pytest.approx(a["acc_by_hop"], abs=0.01)
        assert b["history"]["metrics"]["hop 2"] == pytest.approx(a["history"]["metrics"]["hop 2"], abs=0.01)


def test_a_ladder_embedding_control_names_an_allowed_recipe(tmp_path):
    with pytest.raises(ValueError, match="embed='shrunk' is not one of"):
        X._ladder_run({"d_model": 32, "seed": 0, "embed": "shrunk"}, run_dir=tmp_path)
    assert not list(tmp_path.iterdir()), "nothing is trained or written for a bad cell"


def test_ladder_embedding_controls_change_only_the_token_embedding():
    base = X.ladder_model_config(128)
    shared = X.embed_control_config(base, "shared")
    assert shared.embed_norm == "shared" and shared.embed_init_rate is None and not shared.freeze_embed
    frozen = X.embed_control_config(base, "frozen")
    assert frozen.freeze_embed and frozen.embed_init_rate == X.LADDER_EMBED_RATE and frozen.embed_norm == "none"
    assert all(X.is_ladder_control(c) for c in X.LADDER_EMBED_CONTROLS)
    assert {c["embed"] for c in X.LADDER_EMBED_CONTROLS} == set(X.EMBED_CONTROLS)


def test_unfinished_runs_are_listed_with_their_curves_until_they_finish(tmp_path):
    from helpers.sweep import in_progress_records, partial_path
    cells = [{"seed": 0}, {"seed": 1}]
    torch.save({"history": {"steps": [10, 20], "acc": {"test": [0.1, 0.3]}}, "step": 20, "model": {}},
               partial_path(tmp_path, cells[1]))
    assert in_progress_records(cells, tmp_path) == [{"seed": 1, "history": {"steps": [10, 20], "acc": {"test": [0.1, 0.3]}}, "step": 20}]
    run_path(tmp_path, cells[1]).write_text("{}")   # once its result exists, it is no longer in progress
    assert in_progress_records(cells, tmp_path) == []


def _fine_tune(cell):
    """A run that needs its source's result file (spawned workers import this module)."""
    if "source" in cell:
        source = json.loads(run_path(cell["dir"], {"seed": cell["source"], "dir": cell["dir"]}).read_text())
        return {"score": source["score"] + 1}
    return {"score": 10 * cell["seed"]}


def test_sweep_starts_a_run_only_after_the_run_it_needs(tmp_path):
    d = str(tmp_path)
    source, tune, orphan = {"seed": 0, "dir": d}, {"seed": 0, "source": 0, "dir": d}, {"seed": 1, "source": 5, "dir": d}
    other = {"seed": 2, "dir": d}
    after = lambda c: {"seed": c["source"], "dir": d} if "source" in c else None
    # the fine-tuning is listed first: it must still wait for its source
    records = run_sweep(_fine_tune, [tune, orphan, source, other], tmp_path, workers=2, progress=False, after=after)
    assert sorted(r["score"] for r in records) == [0, 1, 20]
    assert pending_cells([tune, orphan, source, other], tmp_path) == [orphan], "its source is in no sweep"
