"""The GPU-lease batch runner: its argument checks, its deadline, and its packing limits."""
import sys

import pytest
import torch

from helpers import batch as B
from helpers.model import ModelConfig
from helpers.train import make_model


def test_jobs_are_checked_before_anything_runs():
    assert B.parse_jobs(["authors_chain:2", "noise5_sweep", "iteration16_sweep:2:10"]) == {
        "authors_chain": ["authors_chain", "--workers", "2"], "noise5_sweep": ["noise5_sweep", "--workers", "1"],
        "iteration16_sweep": ["iteration16_sweep", "--workers", "2", "--together", "10"]}
    with pytest.raises(ValueError, match="sweep 'nosuch' is not one of"):
        B.parse_jobs(["nosuch:2"])
    with pytest.raises(ValueError, match=r"'noise5_sweep:0': after the sweep's name come at most two integers >= 1"):
        B.parse_jobs(["noise5_sweep:0"])


def test_side_by_side_runs_stop_at_the_deadline(tmp_path):
    codes = B.run_side_by_side({"quick": [sys.executable, "-c", "print('done')"],
                                "slow": [sys.executable, "-c", "import time; time.sleep(60)"]},
                               seconds=3, log_dir=tmp_path, poll=0.2)
    assert codes == {"quick": 0, "slow": None}
    assert (tmp_path / "quick.log").read_text().strip() == "done"


def test_packing_respects_the_size_and_count_limits(tmp_path):
    sizes = [60, 60, 30, 200, 60]
    files = []
    for i, s in enumerate(sizes):
        files.append(tmp_path / "runs" / f"f{i}.pt")
        files[-1].parent.mkdir(exist_ok=True)
        files[-1].write_bytes(b"x" * s)
    out = tmp_path / "out"
    out.mkdir()
    tars, left = B.pack(files, out, "weights", max_bytes=100, max_tars=2, root=tmp_path)
    assert [t.name for t in tars] == ["weights_1.tar", "weights_2.tar"]
    assert left == [files[3], files[4]]                     # too big alone; no tar left for the last
    import tarfile
    assert tarfile.open(tars[1]).getnames() == ["runs/f1.pt", "runs/f2.pt"]


def test_small_state_keeps_weights_in_fp16_and_the_curves(tmp_path):
    cfg = ModelConfig(vocab_size=12, seq_len=6, n_layers=1, n_heads=1, d_model=8, d_ff=16)
    model = make_model(cfg, device="cpu")
    partial = tmp_path / "run.partial.pt"
    torch.save({"model": model.state_dict(), "opt": {"big": torch.zeros(1000)}, "step": 7,
                "history": {"steps": [7], "acc": {"train": [0.5]}}}, partial)
    state = torch.load(B.small_state(partial, tmp_path / "run.state.pt"), weights_only=False)
    assert state["step"] == 7 and state["history"]["steps"] == [7] and "opt" not in state
    assert all(v.dtype == torch.float16 for v in state["model"].values() if v.is_floating_point())
    assert set(state["model"]) == set(model.state_dict())
