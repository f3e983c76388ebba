"""The benchmark counts FLOPs right and compares like with like; its shipped report is whole."""
import json

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from helpers import DATA_DIR
from helpers import bench as B
from helpers import experiments as X
from helpers.model import count_parameters
from helpers.train import make_model


@pytest.mark.parametrize("cfg", [X.CHAIN_1HOP_MODEL, X.CHAIN_2HOP_MODEL, X.ITER_MODEL], ids=["1hop", "2hop", "iter"])
def test_forward_flops_match_torch_flop_counter(cfg):
    model = make_model(cfg, device="cpu")
    tokens = torch.randint(1, 60, (3, cfg.seq_len))
    with FlopCounterMode(display=False) as counter:
        model(tokens)
    assert counter.get_total_flops() == 3 * B.forward_flops(cfg, cfg.seq_len)


def test_plain_model_is_the_same_size_and_shape():
    cfg = X.CHAIN_1HOP_MODEL
    plain = B.PlainTransformer(cfg)
    assert count_parameters(plain) == count_parameters(make_model(cfg, device="cpu"))
    assert plain(torch.randint(1, 100, (2, cfg.seq_len))).shape == (2, cfg.seq_len, cfg.vocab_size)


def test_shipped_bench_report():
    path = DATA_DIR / "bench.json"
    report = json.loads(path.read_text())
    assert report["command"] == B.COMMAND and report["matmul_peak_gflops"] > 0
    assert {row["config"] for row in report["training"]} == set(B.notebook_configs())
    for row in report["training"]:
        for impl in ("helpers", "plain"):
            assert row[impl]["sequences_per_s"] > 0 and 0 < row[impl]["share_of_peak"] < 1
    assert set(report["slider_seconds"]) == set(B.slider_settings()), "run `python -m helpers.bench --sliders-only`"
    assert all(0 < s < 1 for s in report["slider_seconds"].values()), report["slider_seconds"]
    assert [row["d_model"] for row in report["vmap_vs_pool"]] == list(B.VMAP_WIDTHS), "run `python -m helpers.bench --vmap-only`"
    assert all(row["vmap_over_pool"] > 0 for row in report["vmap_vs_pool"])
    stems = {p.stem for p in (DATA_DIR.parent / "notebooks").glob("[0-9][0-9]_*.ipynb")}
    assert set(report["notebooks"]) == stems and all(t["passed"] for t in report["notebooks"].values())


def test_vmapped_models_train_like_separate_ones():
    """One vmapped AdamW step on two stacked models moves each exactly as its own step would."""
    from dataclasses import replace
    from helpers.data import make_chain_data
    from helpers.train import masked_loss

    cfg = replace(X.CHAIN_1HOP_MODEL, d_model=16, d_head=16, d_ff=32)
    data = make_chain_data(64, 1, "train", seed=0)
    models = [make_model(cfg, seed=s, device="cpu") for s in range(2)]
    step, params = B._vmapped_step_fn(models, 64)
    step(torch.stack([data.inputs] * 2), torch.stack([data.targets] * 2), data.mask[0].expand(64, -1))
    for i, model in enumerate(models):
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
        loss = masked_loss(model(data.inputs), data)
        loss.backward()
        opt.step()
        assert torch.allclose(params["embed.weight"][i], model.embed.weight, atol=1e-6)
