"""The notebooks' sliders: each answers from a shipped sweep, without training, in well under 1 s.

Every `*_view(...)` function draws one slider setting and returns the figure; the notebook's widget
calls it on every move, and `python -m helpers.bench` times the same call (`slider_seconds` in
`data/bench.json`). Training a setting live is a separate button in the notebook, never a slider move.
`live_training_controls` builds that button with its output area.
"""
from __future__ import annotations

from typing import Callable

import matplotlib.pyplot as plt
import numpy as np

from .plots import SPLIT_COLORS, plot_curve_band
from .scorecard import steps_to as first_step_at   # (step, False), or (last step, True): a lower bound

SOLVED = 0.95


def _describe_steps(steps: list) -> str:
    reached = [s for s in steps if s is not None]
    if not reached:
        return "no seed reaches 95 %"
    text = f"{len(reached)}/{len(steps)} seeds reach 95 % (median step {int(np.median(reached))})"
    return text


# ---------------------------------------------------------------------------------------------
# 01 · examples of each dataset (generated on the fly: no sweep needed)
# ---------------------------------------------------------------------------------------------
def chain_example_view(hops: int = 2, split: str = "test_ood", seed: int = 0):
    """Print one k-hop question of `split` as text and draw its chain; returns the figure."""
    from .data import decode_chain, make_chain_data
    from .plots import plot_chain

    d = make_chain_data(1, hops=hops, split=split, seed=seed)
    print(decode_chain(d.inputs[0], d.labels[0]))
    fig, ax = plt.subplots(figsize=(9, 1.8))
    plot_chain(d.info["chain"][0], start=int(d.info["start"][0]), hops=hops, ax=ax,
               title=f"{split}, {hops} hop(s): start and answer coloured")
    return fig


def iteration_example_view(task: str = "polynomial", length: int = 5, seed: int = 0, n_len: int = 8):
    """Print one string of `task` and `length`, with and without chain-of-thought (no figure)."""
    from .data import decode_iteration, full_sequence, make_iteration_data

    for cot in (True, False):
        d = make_iteration_data(task, n_len=n_len, cot=cot, n_per_length=1, seed=seed, lengths=[length])
        print(("CoT    : " if cot else "no CoT : ") + decode_iteration(full_sequence(d, 0)))
    return None


# ---------------------------------------------------------------------------------------------
# 03 · init rate x LayerNorm (data/init_ln_sweep.json)
# ---------------------------------------------------------------------------------------------
def init_runs(sweep: dict, norm: str, gamma: float) -> list[dict]:
    runs = [r for r in sweep["runs"] if r["norm"] == norm and abs(r["gamma"] - gamma) < 1e-9]
    if not runs:
        raise ValueError(f"no shipped run for norm={norm!r}, gamma={gamma}; the sweep has gamma in "
                         f"{sweep['grid']['gamma']} and norm in {sweep['grid']['norm']}")
    return runs


def init_rate_view(sweep: dict, gamma: float, norm: str = "post"):
    """Left: the seeds' test-ID / test-OOD / train curves for (norm, gamma), mean with a min-max
    band. Right: final test-ID accuracy against gamma for both placements, this gamma marked."""
    runs = init_runs(sweep, norm, gamma)
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 3.8), gridspec_kw={"width_ratios": [1.3, 1]})
    steps = runs[0]["history"].steps
    for split in ("train", "test_id", "test_ood"):
        plot_curve_band(left, steps, [r["history"].acc[split] for r in runs], label=split,
                        color=SPLIT_COLORS[split])
    left.axhline(SOLVED, color="grey", ls=":", lw=1)
    left.set(xlabel="training step", ylabel="accuracy (band: seeds' range)", ylim=(-0.03, 1.03))
    left.legend(fontsize="small", loc="center right")
    gammas = sorted(sweep["grid"]["gamma"])
    for n, marker in (("post", "o"), ("pre", "s")):
        finals = np.array([[r["final"]["test_id"] for r in init_runs(sweep, n, g)] for g in gammas])
        line, = right.plot(gammas, finals.mean(1), marker=marker, label=f"{n}-LN (mean)")
        for i, g in enumerate(gammas):
            right.scatter([g] * finals.shape[1], finals[i], color=line.get_color(), s=10, alpha=0.5)
    right.axvline(gamma, color="black", lw=1, ls="--")
    right.set(xlabel="init rate γ (larger = smaller initial weights)", ylabel="final test-ID accuracy",
              ylim=(-0.03, 1.03), title="every shipped setting, seeds as dots")
    right.legend(fontsize="small")
    verdict = _describe_steps([r["history"].steps_to("test_id", SOLVED) for r in runs])
    left.set_title(f"{norm}-LN, γ = {gamma}: {verdict}\nof test-ID in {steps[-1]} steps", fontsize="medium")
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------
# 04 · orthogonal noise (data/noise_sweep.json)
# ---------------------------------------------------------------------------------------------
def noise_runs(sweep: dict, sigma: float, target: str = "both", hops: int = 1) -> list[dict]:
    """Runs of one noise setting; sigma 0 has no target (no noise is added anywhere)."""
    runs = [r for r in sweep["runs"] if r["hops"] == hops and abs(r["sigma"] - sigma) < 1e-9
            and (sigma == 0 or r["target"] == target)]
    if not runs:
        raise ValueError(f"no shipped run for sigma={sigma}, target={target!r}, hops={hops}; the sweep has "
                         f"sigma in {sweep['sigmas']} and target in {sweep['targets']}")
    return runs


def noise_steps_to_solve(sweep: dict, sigma: float, target: str = "both") -> list:
    """Steps to 95 % test-ID of each seed (None: not within the budget)."""
    return [r["history"].steps_to("test_id", SOLVED) for r in noise_runs(sweep, sigma, target)]


NOISE_COLORS = {"both": "tab:green", "qk": "tab:orange", "vo": "tab:purple", "unmatched": "tab:brown"}


def _noise_setting_name(target: str) -> str:
    return "unmatched pair (control)" if target == "unmatched" else f"noise on {target}"


def noise_view(sweep: dict, sigma: float, target: str = "both"):
    """Left: test-ID curves of this setting against no noise (mean, min-max band). Right: steps to
    95 % test-ID against sigma for each target, one dot per seed (a seed that never gets there is
    drawn at the top, as a triangle)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 3.8), gridspec_kw={"width_ratios": [1.3, 1]})
    base = noise_runs(sweep, 0.0)
    plot_curve_band(left, base[0]["history"].steps, [r["history"].acc["test_id"] for r in base],
                    label="no noise (band: range over seeds)", color="grey")
    if sigma:
        runs = noise_runs(sweep, sigma, target)
        plot_curve_band(left, runs[0]["history"].steps, [r["history"].acc["test_id"] for r in runs],
                        label=f"σ = {sigma}, {_noise_setting_name(target)}", color=NOISE_COLORS[target])
    left.axhline(SOLVED, color="grey", ls=":", lw=1)
    left.set(xlabel="training step", ylabel="test-ID accuracy", ylim=(-0.03, 1.03))
    left.legend(fontsize="small", loc="lower right")
    budget = base[0]["history"].steps[-1]
    sigmas = sorted(sweep["sigmas"])
    base_steps = noise_steps_to_solve(sweep, 0.0)
    base_mean = np.mean([x if x is not None else budget for x in base_steps])
    right.scatter([0] * len(base_steps), [x if x is not None else budget for x in base_steps], color="grey", s=14,
                  label="no noise (σ = 0)")
    targets = [t for t in NOISE_COLORS if t in sweep["targets"]]
    for offset, t in zip(np.linspace(-0.045, 0.045, len(targets)), targets):
        color = NOISE_COLORS[t]
        xs, means = [0.0], [base_mean]
        for s in sigmas:
            if s == 0:
                continue
            steps = noise_steps_to_solve(sweep, s, t)
            done = [x for x in steps if x is not None]
            right.scatter([s + offset] * len(done), done, color=color, s=14)
            right.scatter([s + offset] * (len(steps) - len(done)), [budget] * (len(steps) - len(done)),
                          color=color, marker="^", s=24)
            xs.append(s + offset)
            means.append(np.mean([x if x is not None else budget for x in steps]))
        right.plot(xs, means, color=color, label=f"{_noise_setting_name(t)} (line: mean, dots: seeds)")
    right.axvline(sigma, color="black", lw=1, ls="--", label="the σ drawn on the left")
    right.set(xlabel="noise σ", ylabel="steps to 95 % test-ID", title=f"every shipped setting (▲: not by step {budget})")
    right.legend(fontsize="x-small", loc="upper center", bbox_to_anchor=(0.5, -0.33), ncol=2)
    label = "no noise" if sigma == 0 else f"σ = {sigma}, {_noise_setting_name(target)}"
    left.set_title(f"{label}: {_describe_steps(noise_steps_to_solve(sweep, sigma, target))}\n"
                   f"no noise: median step {int(np.median([s for s in noise_steps_to_solve(sweep, 0.0) if s]))}",
                   fontsize="medium")
    fig.tight_layout()
    return fig


def noise5_runs(sweep: dict, dataset: str, sigma: float, target: str = "both", layer: int | None = 0,
                unfinished: bool = False) -> list[dict]:
    """Finished runs of one setting of the 5-layer study (data/noise5_sweep.json), or with
    unfinished=True its runs still in progress (curves so far); sigma 0 has neither target nor
    layer. An empty list when there is none."""
    if dataset not in sweep["datasets"]:
        raise ValueError(f"dataset={dataset!r} is not one of {list(sweep['datasets'])}")
    pool = sweep.get("in_progress", []) if unfinished else sweep["runs"]
    return sorted((r for r in pool if r["dataset"] == dataset and abs(r["sigma"] - sigma) < 1e-9
                   and (sigma == 0 or (r["target"] == target and r["layer"] == layer))), key=lambda r: r["seed"])


def noise5_steps_by_hop(runs: list[dict]) -> dict[int, list]:
    """{hop count: first step at >= 95 % test-ID on that hop count, one entry per run (None: not
    within the run, finished or so far)}."""
    hops = sorted(int(m.split()[-1]) for m in runs[0]["history"].metrics if m.startswith("hop ")) if runs else []
    return {k: [r["history"].steps_to(f"hop {k}", SOLVED) for r in runs] for k in hops}


def _hold_last(values: list, n: int) -> list:
    """`values` padded to length n with its last value: a run that stopped early (its stop rule met)
    is drawn at its final accuracy until the longest run of its setting ends."""
    return list(values) + [values[-1]] * (n - len(values))


def noise5_view(sweep: dict, dataset: str = "with_order_after", sigma: float = 1.0, layer: int = 0,
                hop: int = 3):
    """The 5-layer study at one sigma and layer, no noise against each target. Left: `hop`-hop
    test-ID accuracy during training, mean over the finished seeds with a min-max band (a seed
    that stopped early holds its last value); a run still in progress is a dashed line of its own.
    Right: the step at which each hop count first reaches 95 %, one dot per seed, and a triangle
    at the last step for a run that has not got there (a lower bound)."""
    settings = [("none", noise5_runs(sweep, dataset, 0.0), noise5_runs(sweep, dataset, 0.0, unfinished=True))] + [
        (t, noise5_runs(sweep, dataset, sigma, t, layer), noise5_runs(sweep, dataset, sigma, t, layer, True))
        for t in NOISE_COLORS]
    settings = [s for s in settings if s[1] or s[2]]
    if not settings:
        raise ValueError(f"no run on {dataset!r} yet")
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5.0), gridspec_kw={"width_ratios": [1.2, 1]})
    width, hops = 0.8 / len(settings), set()
    for i, (t, runs, running) in enumerate(settings):
        color = NOISE_COLORS.get(t, "grey")
        name = "no noise" if t == "none" else f"σ = {sigma} {_noise_setting_name(t)}, layer {layer}"
        if runs:
            longest = max((r["history"] for r in runs), key=lambda h: len(h.steps))
            curves = [_hold_last(r["history"].metrics[f"hop {hop}"], len(longest.steps)) for r in runs]
            plot_curve_band(left, longest.steps, curves, color=color,
                            label=f"{name} ({len(runs)} seed{'s' * (len(runs) > 1)})")
        for j, r in enumerate(running):
            left.plot(r["history"].steps, r["history"].metrics[f"hop {hop}"], "--", color=color, lw=1,
                      label=f"{name}, unfinished ({len(running)} seed{'s' * (len(running) > 1)})" if j == 0 else None)
        every = runs + running
        for k, steps in noise5_steps_by_hop(every).items():
            hops.add(k)
            x = k + (i - (len(settings) - 1) / 2) * width
            reached = [s for s in steps if s is not None]
            right.scatter([x] * len(reached), reached, color=color, s=16)
            bounds = [r["history"].steps[-1] for r, s in zip(every, steps) if s is None]
            right.scatter([x] * len(bounds), bounds, color=color, marker="^", s=30)
            if reached and not bounds:
                right.plot([x - width / 3, x + width / 3], [np.mean(reached)] * 2, color=color, lw=2)
    left.axhline(SOLVED, color="grey", ls=":", lw=1)
    left.set(xlabel="training step", ylabel=f"test-ID accuracy, {hop}-hop questions", ylim=(-0.03, 1.03),
             title=f"5 layers x 1 head, variant {dataset!r}: {hop}-hop questions")
    left.legend(fontsize="x-small", loc="upper center", bbox_to_anchor=(0.5, -0.17), ncol=2)   # colours: both panels
    right.set(xlabel="hop count", ylabel="first step at ≥ 95 % test-ID", xticks=sorted(hops), title="when each hop count is learned\n(dots: seeds; bars: mean; ▲: not reached by the run's last step)")
    fig.tight_layout()
    return fig


def noise5_layer_steps(sweep: dict, dataset: str = "with_order_after", sigma: float = 1.0,
                       mark: float = 0.98) -> dict:
    """{(target, layer): [(step, censored), ...] one per seed} for every target and layer of the
    5-layer study that has finished runs at `sigma`, plus ("none", None) for the runs without
    noise. A step is the first evaluation at >= `mark` test-ID; censored (True) means the run
    ended (at its step cap) without getting there, and the step is its last one: a lower bound.
    Runs still in progress are left out (`noise5_runs(..., unfinished=True)` lists them)."""
    if not 0 < mark <= 1:
        raise ValueError(f"mark={mark} must be in (0, 1]")
    if dataset not in sweep["datasets"]:
        raise ValueError(f"dataset={dataset!r} is not one of {list(sweep['datasets'])}")

    out = {}
    for r in sorted(sweep["runs"], key=lambda r: r["seed"]):
        if r["dataset"] != dataset or (r["sigma"] and abs(r["sigma"] - sigma) > 1e-9):
            continue
        key = ("none", None) if r["sigma"] == 0 else (r["target"], r["layer"])
        out.setdefault(key, []).append(first_step_at(r["history"], "test_id", mark))
    return out


def noise5_layer_view(sweep: dict, dataset: str = "with_order_after", sigma: float = 1.0, mark: float = 0.98):
    """The paper's layer comparison (its `qk_vo_add_layer` figures) as steps to solve: for each
    noise layer (x) and target (colour), the first step at >= `mark` test-ID, one dot per finished
    seed, a triangle for a run that ended without getting there (a lower bound at its last step)
    and a bar for the mean of fully observed settings; the grey band is the runs without noise
    (min-max, mean)."""
    steps = noise5_layer_steps(sweep, dataset, sigma, mark)
    noisy = {k: v for k, v in steps.items() if k[0] != "none"}
    if not noisy:
        raise ValueError(f"no run with sigma={sigma} on {dataset!r} yet")
    layers = sorted({layer for _, layer in noisy})
    targets = [t for t in NOISE_COLORS if any(k[0] == t for k in noisy)]
    fig, ax = plt.subplots(figsize=(11, 4.2))
    if ("none", None) in steps:
        base = [s for s, _ in steps[("none", None)]]
        ax.axhspan(min(base), max(base), color="grey", alpha=0.2, lw=0)
        ax.axhline(np.mean(base), color="grey", lw=1.5, label=f"no noise ({len(base)} seeds: range and mean)")
    width = 0.8 / len(targets)
    for i, t in enumerate(targets):
        color, label = NOISE_COLORS[t], f"σ = {sigma} {_noise_setting_name(t)}"
        for layer in layers:
            seeds = noisy.get((t, layer), [])
            x = layer + (i - (len(targets) - 1) / 2) * width
            jitter = [x + (j - (len(seeds) - 1) / 2) * width / 5 for j in range(len(seeds))]   # seeds side by side
            reached = [s for s, censored in seeds if not censored]
            bounds = [s for s, censored in seeds if censored]
            ax.scatter([xj for xj, (_, c) in zip(jitter, seeds) if not c], reached, color=color, s=18, label=label)
            ax.scatter([xj for xj, (_, c) in zip(jitter, seeds) if c], bounds, color=color, marker="^", s=40,
                       edgecolor="black", lw=0.6, label=label)
            if reached and not bounds:
                ax.plot([x - width / 3, x + width / 3], [np.mean(reached)] * 2, color=color, lw=2)
    ax.set(xlabel="layer l of the noise (Ξ on W_vo of layer l, W_qk of layer l + 1)", xticks=layers,
           ylabel=f"first step at ≥ {mark:.0%} test-ID", ylim=(0, None),
           title=f"5 layers x 1 head, {dataset!r}, σ = {sigma}: steps to solve by noise layer\n"
                 f"(dots: seeds, side by side; bars: mean; ▲: not reached within the run)")
    ax.scatter([], [], color="white", marker="^", edgecolor="black", lw=0.6, s=40,
               label="not reached within the run (a lower bound; no mean bar then)")
    first = {}   # one legend entry per setting
    for handle, label in zip(*ax.get_legend_handles_labels()):
        first.setdefault(label, handle)
    ax.legend(first.values(), first.keys(), fontsize="x-small", loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------
# 05 · depth x hops (data/parallel_sweep.json)
# ---------------------------------------------------------------------------------------------
def depth_hops_view(sweep: dict, depth: int, hops: int):
    """Left: test-ID accuracy on `hops`-hop questions during training, one line per seed of the
    depth-`depth` runs. Right: final test-ID accuracy of that depth on every hop count."""
    runs = [r for r in sweep["runs"] if r["depth"] == depth]
    if not runs or str(hops) not in runs[0]["acc_by_hop"]["test_id"]:
        raise ValueError(f"no shipped run for depth={depth}, hops={hops}; the sweep has depths "
                         f"{sweep['depths']} and hops {sweep['hops']}")
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 3.8), gridspec_kw={"width_ratios": [1.3, 1]})
    for r in runs:
        left.plot(r["history"].steps, r["history"].metrics[f"hop {hops}"], label=f"seed {r['seed']}")
    left.axhline(SOLVED, color="grey", ls=":", lw=1)
    left.set(xlabel="training step", ylabel=f"test-ID accuracy, {hops}-hop questions", ylim=(-0.03, 1.03))
    left.legend(fontsize="small")
    all_hops = sweep["hops"]
    width = 0.8 / len(runs)
    for i, r in enumerate(runs):
        right.bar(np.array(all_hops) + (i - (len(runs) - 1) / 2) * width,
                  [r["acc_by_hop"]["test_id"][str(k)] for k in all_hops], width=width, label=f"seed {r['seed']}")
    right.axvline(depth - 1 + 0.5, color="black", ls="--", lw=1, label=f"serial budget: {depth - 1} hop(s)")
    right.axhline(SOLVED, color="grey", ls=":", lw=1)
    right.set(xlabel="hops asked", ylabel="final test-ID accuracy", ylim=(0, 1.03), xticks=all_hops,
              title=f"depth {depth}: every hop count (the longest is a shortcut)")
    right.legend(fontsize="small")
    finals = [r["acc_by_hop"]["test_id"][str(hops)] for r in runs]
    where = "within" if hops <= depth - 1 else "beyond"
    left.set_title(f"depth {depth}, {hops} hop(s), {where} the serial budget: final test-ID "
                   + ", ".join(f"{v:.2f}" for v in finals))
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------
# Live training: one button, never a slider move
# ---------------------------------------------------------------------------------------------
def live_training_controls(train_and_draw: Callable[[], None], description: str = "Train this setting live"):
    """(button, output): pressing the button runs `train_and_draw()` inside `output` (its progress
    bar prints there)."""
    import ipywidgets as widgets

    button = widgets.Button(description=description, button_style="primary", icon="play",
                            layout=widgets.Layout(width="auto"))
    output = widgets.Output()

    def on_click(_):
        button.disabled = True
        try:
            with output:
                output.clear_output(wait=True)
                train_and_draw()
        finally:
            button.disabled = False

    button.on_click(on_click)
    return button, output
