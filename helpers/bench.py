"""A performance benchmark of the course on this machine (a benchmark, not a test).

    python -m helpers.bench [--threads N] [--skip-notebooks] [--out data/bench.json]
    python -m helpers.bench --notebook 08_cot_vs_depth   # re-time one notebook in the shipped report

prints and writes:
- the machine's matmul peak (GFLOP/s of a large fp32 product on the same threads);
- training throughput (sequences/s, achieved GFLOP/s, share of the peak) of the helpers model
  for every notebook config, and of the same step written the plain way (nn.MultiheadAttention,
  nn.Linear) for comparison;
- the wall time of each notebook under nbval, and the total;
- every slider's answer time (`slider_seconds`: the update function the widget calls, drawn once).
FLOPs are counted analytically (2 per multiply-add; a training step = 3 x the forward pass).
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from .course import DATA_DIR, NOTEBOOKS_DIR, ROOT_DIR
from .data import make_chain_data, make_iteration_data
from .model import ModelConfig
from .train import default_device, make_model, train_step

COMMAND = "python -m helpers.bench"


def forward_flops(cfg: ModelConfig, seq_len: int) -> int:
    """FLOPs of one forward pass over one sequence (matmuls only; 2 per multiply-add)."""
    T, d, dh, h = seq_len, cfg.d_model, cfg.d_head, cfg.n_heads
    per_layer = (2 * T * d * dh * h * 4          # Q, K, V, O projections
                 + 2 * 2 * T * T * dh * h        # scores and pattern @ V
                 + 2 * 2 * T * d * cfg.d_ff)     # the two FFN matrices
    return cfg.n_layers * per_layer + 2 * T * d * cfg.vocab_size


def matmul_peak_gflops(n: int = 1024, repeats: int = 10, trials: int = 5) -> float:
    """The best of `trials` timings of a large fp32 matmul: this machine's practical peak."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    best = 0.0
    for _ in range(trials):
        start = time.perf_counter()
        for _ in range(repeats):
            a @ b
        best = max(best, 2 * n ** 3 * repeats / (time.perf_counter() - start) / 1e9)
    return best


class PlainTransformer(nn.Module):
    """The same network as `Transformer` for a post-LN/pre-LN config, written with
    nn.MultiheadAttention and nn.Linear: the "plain way" the benchmark compares against."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos_embed = nn.Embedding(cfg.seq_len, cfg.d_model)
        self.attn = nn.ModuleList(nn.MultiheadAttention(cfg.d_model, cfg.n_heads, bias=cfg.bias, batch_first=True)
                                  for _ in range(cfg.n_layers))
        self.ff = nn.ModuleList(nn.Sequential(nn.Linear(cfg.d_model, cfg.d_ff, bias=cfg.bias),
                                              nn.ReLU() if cfg.activation == "relu" else nn.GELU(),
                                              nn.Linear(cfg.d_ff, cfg.d_model, bias=cfg.bias))
                                for _ in range(cfg.n_layers))
        self.ln = nn.ModuleList(nn.LayerNorm(cfg.d_model) for _ in range(2 * cfg.n_layers))
        self.unembed = nn.Linear(cfg.d_model, cfg.vocab_size, bias=cfg.unembed_bias)
        self.register_buffer("mask", torch.triu(torch.ones(cfg.seq_len, cfg.seq_len, dtype=torch.bool), 1))

    def forward(self, tokens):
        T = tokens.shape[1]
        x = self.embed(tokens) + self.pos_embed(torch.arange(T, device=tokens.device))
        for i, (attn, ff) in enumerate(zip(self.attn, self.ff)):
            if self.cfg.norm == "pre":
                y = self.ln[2 * i](x)
                x = x + attn(y, y, y, attn_mask=self.mask[:T, :T], need_weights=False)[0]
                x = x + ff(self.ln[2 * i + 1](x))
            else:
                x = self.ln[2 * i](x + attn(x, x, x, attn_mask=self.mask[:T, :T], need_weights=False)[0])
                x = self.ln[2 * i + 1](x + ff(x))
        return self.unembed(x)


def time_training(model: nn.Module, data, batch_size: int, steps: int = 30, warmup: int = 10,
                  trials: int = 3) -> float:
    """Seconds per training step (forward, loss, backward, clipping, AdamW), as `train` does it;
    the best of `trials` runs of `steps` steps."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(0)
    model.train()

    def step():
        train_step(model, opt, data[torch.randint(0, len(data), (batch_size,), generator=g)], grad_clip=1.0)

    for _ in range(warmup):
        step()
    best = float("inf")
    for _ in range(trials):
        start = time.perf_counter()
        for _ in range(steps):
            step()
        best = min(best, (time.perf_counter() - start) / steps)
    return best


# ----------------------------------------------------------------------------------------------
# Several seeds at once: one vmapped model against a process pool
# ----------------------------------------------------------------------------------------------
VMAP_WIDTHS = (32, 64, 128)
VMAP_SEEDS = 2          # models trained side by side (the machine's 2 cores)


def _vmapped_step_fn(models: list, batch_size: int):
    """(step, stacked parameters): one AdamW step on `len(models)` models stacked into one
    vmapped forward/backward. (No gradient clipping: it would need a per-model norm.)"""
    from torch.func import functional_call, stack_module_state

    params, buffers = stack_module_state(models)
    params = {k: v.detach().requires_grad_() for k, v in params.items()}
    base = copy.deepcopy(models[0]).to("meta")
    opt = torch.optim.AdamW(params.values(), lr=1e-3)

    def loss_one(p, b, inputs, targets, mask):
        logits = functional_call(base, (p, b), (inputs,))
        return F.cross_entropy(logits[mask], targets[mask])

    batched = torch.func.vmap(loss_one, in_dims=(0, 0, 0, 0, None))

    def step(inputs, targets, mask):
        loss = batched(params, buffers, inputs, targets, mask).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return step, params


def time_vmap(cfg, data, batch_size: int, n_models: int, steps: int = 20, warmup: int = 3) -> float:
    """Seconds per step of `n_models` models trained together (one process)."""
    models = [make_model(cfg, seed=s, device="cpu") for s in range(n_models)]
    step, _ = _vmapped_step_fn(models, batch_size)
    g = torch.Generator().manual_seed(0)
    # every model sees the same positions' mask (the chain task scores the last position only)
    mask = data.mask[0]

    def one():
        idx = torch.randint(0, len(data), (n_models, batch_size), generator=g)
        step(data.inputs[idx], data.targets[idx], mask[None, :].expand(batch_size, -1))

    for _ in range(warmup):
        one()
    start = time.perf_counter()
    for _ in range(steps):
        one()
    return (time.perf_counter() - start) / steps


def _pool_worker(args) -> float:
    cfg, batch_size, steps = args
    torch.set_num_threads(1)
    data = make_chain_data(4096, 1, "train", seed=0)
    return time_training(make_model(cfg, seed=0, device="cpu"), data, batch_size, steps=steps, trials=1)


def vmap_vs_pool(batch_size: int = 128, steps: int = 20) -> list[dict]:
    """Throughput (model-steps per second) of VMAP_SEEDS models: a pool of that many one-thread
    processes against one vmapped process on as many threads, per width (1-hop chain, 3 layers)."""
    from multiprocessing import get_context

    from . import experiments as X
    rows = []
    data = make_chain_data(4096, 1, "train", seed=0)
    for d in VMAP_WIDTHS:
        cfg = replace(X.CHAIN_1HOP_MODEL, d_model=d, d_head=min(d, 64), d_ff=4 * d)
        start = time.perf_counter()
        with get_context("spawn").Pool(VMAP_SEEDS) as pool:
            per_step = pool.map(_pool_worker, [(cfg, batch_size, steps)] * VMAP_SEEDS)
        pool_rate = VMAP_SEEDS / max(per_step)          # the slower worker sets the pace
        threads = torch.get_num_threads()
        torch.set_num_threads(VMAP_SEEDS)
        vmap_rate = VMAP_SEEDS / time_vmap(cfg, data, batch_size, VMAP_SEEDS, steps)
        torch.set_num_threads(threads)
        rows.append({"d_model": d, "batch_size": batch_size, "models": VMAP_SEEDS,
                     "pool_model_steps_per_s": pool_rate, "vmap_model_steps_per_s": vmap_rate,
                     "vmap_over_pool": vmap_rate / pool_rate, "pool_wall_s": time.perf_counter() - start})
        print(f"d_model {d:4d}: pool {pool_rate:6.1f} model-steps/s, vmap {vmap_rate:6.1f} "
              f"({vmap_rate / pool_rate:.2f}x)")
    return rows


def iteration16_together_speed(sizes=(1, 16), steps: int = 100, device=None) -> list[dict]:
    """Model-steps per second of `train_together` on the n_len-16 polynomial task (the authors'
    model, batch 256, shuffled, two evaluations included), for groups of each size, on `device`
    (default: the GPU if there is one): how many seeds to vmap on a borrowed GPU
    (`python -m helpers.bench --iteration16-together`; prints, writes nothing)."""
    from . import experiments as X
    from .together import train_together
    device = device or default_device()
    cfg = replace(X.ITER16_TRAIN, steps=steps, eval_every=steps // 2, shuffle=True, stop_at=None)
    data = make_iteration_data("polynomial", "train", n_len=X.AUTHORS_N_LEN, seed=0, split_rule="authors")
    evals = {"test": make_iteration_data("polynomial", "test", n_len=X.AUTHORS_N_LEN, seed=0, split_rule="authors")}
    rows = []
    for n in sizes:
        models = [make_model(X.AUTHORS_ITER_MODEL, seed=s, device=device) for s in range(n)]
        start = time.perf_counter()
        train_together(models, [data] * n, [evals] * n, [replace(cfg, seed=s) for s in range(n)])
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        rows.append({"models": n, "device": str(device), "group_steps_per_s": steps / seconds,
                     "model_steps_per_s": n * steps / seconds})
        print(f"{n:3d} model(s) vmapped on {device}: {steps / seconds:6.1f} steps/s, {n * steps / seconds:7.1f} model-steps/s",
              flush=True)
    return rows


def notebook_configs() -> dict:
    from . import experiments as X
    chain = lambda hops, **kw: make_chain_data(4096, hops, "train", seed=0, **kw)
    return {
        "02-04 chain 1 hop (d_model 64)": (X.CHAIN_1HOP_MODEL, X.CHAIN_1HOP_TRAIN.batch_size, chain(1)),
        "02 chain 2 hops (d_model 32)": (X.CHAIN_2HOP_MODEL, X.CHAIN_2HOP_TRAIN.batch_size, chain(2)),
        "05 parallel, depth 5 (d_model 64)": (X.parallel_model_config(5), X.PARALLEL_TRAIN.batch_size,
                                              chain(list(X.PARALLEL_HOPS), variant="with_order")),
        "06-07 iteration (d_model 64)": (X.ITER_MODEL, X.ITER_TRAIN.batch_size,
                                         make_iteration_data("polynomial", "train", n_len=X.N_LEN, seed=0,
                                                             split_rule=X.ITER_SPLIT_RULE)),
    }


def bench_training(peak: float) -> list[dict]:
    rows = []
    for name, (cfg, batch_size, data) in notebook_configs().items():
        seq_len = data.inputs.shape[1]
        flops_per_step = 3 * forward_flops(cfg, seq_len) * batch_size
        row = {"config": name, "d_model": cfg.d_model, "n_layers": cfg.n_layers, "batch_size": batch_size,
               "seq_len": seq_len, "train_gflop_per_step": flops_per_step / 1e9}
        for label, model in (("helpers", make_model(cfg, seed=0, device="cpu")),
                             ("plain", PlainTransformer(replace(cfg, dropout=0.0)))):
            seconds = time_training(model, data, batch_size)
            row[label] = {"ms_per_step": 1e3 * seconds, "sequences_per_s": batch_size / seconds,
                          "gflops": flops_per_step / seconds / 1e9,
                          "share_of_peak": flops_per_step / seconds / 1e9 / peak}
        rows.append(row)
        print(f"{name:36s} helpers {row['helpers']['sequences_per_s']:8.0f} seq/s "
              f"{row['helpers']['gflops']:6.1f} GFLOP/s ({row['helpers']['share_of_peak']:.0%} of peak) | "
              f"plain {row['plain']['sequences_per_s']:8.0f} seq/s {row['plain']['gflops']:6.1f} GFLOP/s")
    return rows


def slider_settings() -> dict:
    """Every slider of the course: name -> (update function, list of settings to time). Each
    update function is the one the notebook's widget calls on every move."""
    from . import experiments as X
    from . import sliders as S
    init = X.load_sweep(DATA_DIR / "init_ln_sweep.json")
    noise = X.load_sweep(DATA_DIR / "noise_sweep.json")
    parallel = X.load_sweep(DATA_DIR / "parallel_sweep.json")
    return {
        "01 chain example (hops, split, seed)": (S.chain_example_view, [(2, "test_ood", 0), (5, "train", 7)]),
        "01 iteration example (task, length, seed)": (S.iteration_example_view, [("polynomial", 5, 0), ("parity", 8, 3)]),
        "03 init rate x LayerNorm": (lambda g, n: S.init_rate_view(init, g, n), [(1.0, "post"), (0.2, "pre")]),
        "04 noise sigma x target": (lambda s, t: S.noise_view(noise, s, t), [(1.0, "both"), (0.5, "vo")]),
        "05 depth x hops": (lambda d, k: S.depth_hops_view(parallel, d, k), [(3, 2), (5, 4)]),
    }


def slider_seconds(repeats: int = 2) -> dict:
    """name -> the slowest answer (seconds) of each slider over its settings: the update
    function's call plus drawing the figure, as the widget does."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    times = {}
    for name, (update, settings) in slider_settings().items():
        worst = 0.0
        for args in settings:
            for _ in range(repeats):
                start = time.perf_counter()
                fig = update(*args)
                (fig or plt.gcf()).canvas.draw()
                worst = max(worst, time.perf_counter() - start)
                plt.close("all")
        times[name] = worst
        print(f"slider {name:44s} answers in {worst:.2f} s")
    return times


def notebook_seconds(stems=None) -> dict:
    """Wall time of each notebook (or only those in `stems`) under nbval, and whether it passed."""
    times = {}
    for path in sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb")):
        if stems and path.stem not in stems:
            continue
        start = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0", str(path)],
                                cwd=ROOT_DIR, capture_output=True, text=True)
        times[path.stem] = {"seconds": time.perf_counter() - start, "passed": result.returncode == 0}
        print(f"{path.stem:32s} {times[path.stem]['seconds']:6.1f} s  "
              f"{'passed' if result.returncode == 0 else 'FAILED'}")
    return times


def course_wall_seconds() -> dict:
    """Wall time of `pytest notebooks/` as the README runs it: every core, whole notebooks per worker."""
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "notebooks"],
                            cwd=ROOT_DIR, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    print(f"whole course under nbval: {seconds:.0f} s on {os.cpu_count()} cores, "
          f"{'passed' if result.returncode == 0 else 'FAILED'}")
    return {"seconds": seconds, "cores": os.cpu_count(), "passed": result.returncode == 0}


def _update_report(path: Path, **fields) -> None:
    """Replace `fields` in the shipped report at `path`, keeping everything else."""
    report = json.loads(path.read_text())
    report.update(fields)
    path.write_text(json.dumps(report, indent=1))
    print(f"updated {', '.join(fields)} in {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (notebooks use 1)")
    parser.add_argument("--skip-notebooks", action="store_true", help="do not time the notebooks under nbval")
    parser.add_argument("--sliders-only", action="store_true",
                        help="only re-time the sliders and update slider_seconds in the existing report")
    parser.add_argument("--vmap-only", action="store_true",
                        help="only measure vmap against a process pool and update vmap_vs_pool in the report")
    parser.add_argument("--notebook", action="append", default=[], metavar="STEM",
                        help="only re-time this notebook (repeatable) and update the existing report")
    parser.add_argument("--course-wall", action="store_true",
                        help="only time `pytest notebooks/` on every core and update course_wall in the report")
    parser.add_argument("--iteration16-together", action="store_true",
                        help="only time vmapped groups of n_len-16 runs (for sizing --together on a GPU); writes nothing")
    parser.add_argument("--out", type=Path, default=DATA_DIR / "bench.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.iteration16_together:
        iteration16_together_speed()
        return
    if args.vmap_only:
        return _update_report(args.out, vmap_vs_pool=vmap_vs_pool())
    if args.course_wall:
        return _update_report(args.out, course_wall=course_wall_seconds())
    if args.notebook:
        unknown = set(args.notebook) - {p.stem for p in NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb")}
        if unknown:
            raise ValueError(f"--notebook {sorted(unknown)}: no such notebook in {NOTEBOOKS_DIR}")
        notebooks = {**json.loads(args.out.read_text())["notebooks"], **notebook_seconds(args.notebook)}
        return _update_report(args.out, notebooks=notebooks,
                              notebooks_total_seconds=sum(t["seconds"] for t in notebooks.values()))
    if args.sliders_only:
        return _update_report(args.out, slider_seconds=slider_seconds())
    peak = matmul_peak_gflops()
    print(f"matmul peak on {args.threads} thread(s): {peak:.1f} GFLOP/s")
    report = {"command": COMMAND, "machine": {"platform": platform.platform(), "processor": platform.machine(),
                                              "cpus": os.cpu_count(), "torch": torch.__version__,
                                              "threads": args.threads},
              "matmul_peak_gflops": peak, "training": bench_training(peak),
              "slider_seconds": slider_seconds(), "vmap_vs_pool": vmap_vs_pool()}
    if not args.skip_notebooks:
        report["notebooks"] = notebook_seconds()
        report["notebooks_total_seconds"] = sum(t["seconds"] for t in report["notebooks"].values())
        print(f"whole course under nbval: {report['notebooks_total_seconds'] / 60:.1f} min")
    args.out.write_text(json.dumps(report, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
