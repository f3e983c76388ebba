"""Figures shared by the notebooks: training curves, attention maps, matrices, a chain graph."""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
import torch

from .course import DATA_DIR
from .train import History

sns.set_theme(style="whitegrid", context="notebook")
SPLIT_COLORS = {"train": "tab:blue", "test_id": "tab:green", "test_ood": "tab:red", "test": "tab:green"}


def _to_numpy(x) -> np.ndarray:
    return x.detach().cpu().float().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def plot_training_curves(history: History, title: str = "", metrics: Sequence[str] = (),
                         axes=None, label: str = "", alpha: float = 1.0):
    """Training loss (log scale) on the left, accuracy of every split (and metrics) on the right."""
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    ax_loss, ax_acc = axes
    prefix = f"{label} " if label else ""
    ax_loss.plot(history.steps, history.train_loss, color="black", alpha=alpha, label=f"{prefix}train loss")
    ax_loss.set(yscale="log", xlabel="step", ylabel="loss", title="loss")
    for split, acc in history.acc.items():
        ax_acc.plot(history.steps, acc, color=SPLIT_COLORS.get(split), alpha=alpha, label=f"{prefix}{split}")
    for name in metrics:
        ax_acc.plot(history.steps, history.metrics[name], linestyle="--", alpha=alpha, label=f"{prefix}{name}")
    ax_acc.set(ylim=(-0.03, 1.03), xlabel="step", ylabel="accuracy", title="accuracy")
    ax_acc.legend(loc="best", fontsize="small")
    if title:
        ax_loss.figure.suptitle(title)
    ax_loss.figure.tight_layout()
    return axes


def plot_attention(pattern, labels: Sequence[str], title: str = "", ax=None,
                   key_labels: Sequence[str] | None = None, annotate: bool = False):
    """Heatmap of one head's pattern [query, key], tokens on both axes."""
    pattern = _to_numpy(pattern)
    if ax is None:
        size = 0.32 * len(labels) + 1.5
        _, ax = plt.subplots(figsize=(size + 1, size))
    sns.heatmap(pattern, ax=ax, cmap="Blues", vmin=0, vmax=1, square=True, annot=annotate,
                fmt=".1f", xticklabels=list(key_labels or labels), yticklabels=list(labels),
                cbar_kws={"shrink": 0.7, "label": "attention"})
    ax.set(xlabel="key (attended to)", ylabel="query (attending)", title=title)
    ax.tick_params(axis="x", labelrotation=90)
    ax.tick_params(axis="y", labelrotation=0)
    return ax


def plot_attention_layers(patterns: Sequence, labels: Sequence[str], title: str = "",
                          layer_titles: Sequence[str] | None = None):
    """One attention map per layer side by side; `patterns[l]` is [query, key]."""
    n = len(patterns)
    size = 0.3 * len(labels) + 1.5
    fig, axes = plt.subplots(1, n, figsize=(n * (size + 0.8), size))
    axes = np.atleast_1d(axes)
    for layer, (ax, pattern) in enumerate(zip(axes, patterns)):
        name = layer_titles[layer] if layer_titles else f"layer {layer}"
        plot_attention(pattern, labels, title=name, ax=ax)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return axes


def plot_matrix(matrix, title: str = "", xlabel: str = "", ylabel: str = "", ax=None,
                xticklabels="auto", yticklabels="auto", center: float | None = 0.0, cmap="RdBu_r"):
    """Heatmap of any matrix (matching matrices, W_qk, Xi Xi^T)."""
    matrix = _to_numpy(matrix)
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 4.5))
    sns.heatmap(matrix, ax=ax, cmap=cmap, center=center, xticklabels=xticklabels,
                yticklabels=yticklabels, cbar_kws={"shrink": 0.8})
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    return ax


def plot_chain(chain: Sequence[int], start: int | None = None, hops: int | None = None,
               ax=None, title: str = ""):
    """The chain x0 -> x1 -> ... as a row of nodes; the question's start and answer coloured."""
    chain = [int(c) for c in chain]
    if ax is None:
        _, ax = plt.subplots(figsize=(1.2 * len(chain) + 0.5, 1.4))
    for i, token in enumerate(chain):
        color = "white"
        if start is not None and i == start:
            color = "tab:orange"
        elif start is not None and hops is not None and i == start + hops:
            color = "tab:green"
        elif start is not None and hops is not None and start < i < start + hops:
            color = "moccasin"
        ax.add_patch(plt.Circle((i, 0), 0.32, facecolor=color, edgecolor="black", zorder=2))
        ax.text(i, 0, str(token), ha="center", va="center", fontsize=11, zorder=3)
        if i:
            ax.annotate("", xy=(i - 0.34, 0), xytext=(i - 1 + 0.34, 0),
                        arrowprops=dict(arrowstyle="->", color="black"))
    ax.set(xlim=(-0.6, len(chain) - 0.4), ylim=(-0.6, 0.6), aspect="equal", title=title)
    ax.axis("off")
    return ax


LAYER_COLORS = ("tab:orange", "tab:blue", "tab:green", "tab:purple", "tab:red", "tab:brown")


def plot_information_flow(patterns: Sequence, labels: Sequence[str], focus: int | None = -1,
                          threshold: float = 0.1, title: str = "", ax=None, max_width: float = 7.0):
    """The paper's information-flow picture for one sequence.

    Rows are the residual stream before layer 0 (bottom) and after each layer; columns are
    positions. An edge from key j (row l) to query i (row l + 1) is layer l's attention, its
    width proportional to the weight; grey verticals are the residual connections. With
    `focus` (a position, default the last), edges that carry information into that position
    at the top are coloured and the rest drawn faint.
    """
    patterns = [_to_numpy(p) for p in patterns]
    n_layers, n_pos = len(patterns), len(labels)
    if ax is None:
        _, ax = plt.subplots(figsize=(0.75 * n_pos + 2.5, 1.4 * n_layers + 1.2))
    relevance = np.zeros((n_layers + 1, n_pos))     # how much each node feeds the focus
    if focus is not None:
        relevance[n_layers, focus % n_pos] = 1.0
        for layer in range(n_layers - 1, -1, -1):   # attention + residual, walked downwards
            relevance[layer] = np.minimum(1.0, relevance[layer + 1] @ patterns[layer] + relevance[layer + 1])
    for layer in range(n_layers):
        color = LAYER_COLORS[layer % len(LAYER_COLORS)]
        for i in range(n_pos):
            ax.plot([i, i], [layer, layer + 1], color="lightgrey", lw=1, zorder=1)
            for j in range(i + 1):
                w = patterns[layer][i, j]
                if w < threshold or i == j:
                    continue
                on_path = focus is None or relevance[layer + 1, i] * w >= threshold
                ax.plot([j, i], [layer, layer + 1], color=color if on_path else "silver",
                        lw=max_width * w if on_path else 1.0, alpha=0.9 if on_path else 0.5,
                        zorder=3 if on_path else 2)
    for layer in range(n_layers + 1):
        ax.scatter(range(n_pos), [layer] * n_pos, s=25, color="black", zorder=4)
    ax.set_xticks(range(n_pos), list(labels))
    ax.set_yticks(range(n_layers + 1), ["embed"] + [f"after layer {l}" for l in range(n_layers)])
    ax.set(xlabel="position (token)", title=title, xlim=(-0.5, n_pos - 0.5), ylim=(-0.3, n_layers + 0.3))
    ax.grid(False)
    handles = [plt.Line2D([], [], color=LAYER_COLORS[l % len(LAYER_COLORS)], lw=3, label=f"layer {l} attention")
               for l in range(n_layers)]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
    return ax


def plot_grid(values, row_labels: Sequence, col_labels: Sequence, title: str = "", ax=None,
              xlabel: str = "", ylabel: str = "", fmt: str = ".2f", vmin: float = 0.0, vmax: float = 1.0,
              cmap: str = "viridis", annot=None):
    """Annotated heatmap of a small table, e.g. accuracy over (LayerNorm placement, init rate)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(1.1 * len(col_labels) + 2, 0.8 * len(row_labels) + 1.2))
    sns.heatmap(_to_numpy(values), ax=ax, annot=True if annot is None else annot, fmt=fmt if annot is None else "",
                vmin=vmin, vmax=vmax, cmap=cmap, xticklabels=list(col_labels), yticklabels=list(row_labels),
                cbar_kws={"shrink": 0.8})
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.tick_params(axis="y", labelrotation=0)
    return ax


def plot_curve_band(ax, steps, curves, label: str = "", color=None, alpha: float = 0.2):
    """Mean of several runs' curves with a band from their min to their max."""
    curves = np.asarray([np.asarray(c, dtype=float) for c in curves])
    mean = curves.mean(axis=0)
    line, = ax.plot(steps, mean, label=label, color=color)
    ax.fill_between(steps, curves.min(axis=0), curves.max(axis=0), color=line.get_color(), alpha=alpha)
    return ax


def carried_forward(histories: Sequence[History], key: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """(steps, curves [run, step]) of runs evaluated on one schedule that stopped at different
    steps (a stop rule): each curve is held at its last value after its run stopped."""
    longest = max(histories, key=lambda h: len(h.steps))
    for h in histories:
        if list(h.steps) != list(longest.steps[:len(h.steps)]):
            raise ValueError("the runs were evaluated on different schedules; carried_forward needs one")
    curve = lambda h: np.asarray(h.acc[key] if key in h.acc else h.metrics[key], dtype=float)
    return np.asarray(longest.steps), np.stack([np.pad(curve(h), (0, len(longest.steps) - len(h.steps)), mode="edge")
                                                for h in histories])


def plot_mean_std_band(ax, histories: Sequence[History], key: str = "test", label: str = "", color=None,
                       alpha: float = 0.2, clip: bool = True):
    """Mean over runs of one curve (an accuracy split or a metric) with a band of +- one standard
    deviation, clipped to [0, 1] unless clip=False; runs that stopped early are held at their last
    value (`carried_forward`)."""
    steps, curves = carried_forward(histories, key)
    mean, std = curves.mean(axis=0), curves.std(axis=0)
    line, = ax.plot(steps, mean, label=f"{label} (mean of {len(histories)})" if label else None, color=color)
    lo, hi = (0.0, 1.0) if clip else (-np.inf, np.inf)   # accuracies and peakiness live in [0, 1]
    ax.fill_between(steps, np.clip(mean - std, lo, hi), np.clip(mean + std, lo, hi), color=line.get_color(), alpha=alpha, lw=0)
    return ax


def plot_depth_vs_hops(depths: Sequence[int], solved: dict, ax=None, title: str = ""):
    """Largest hop count solved per run (dots) against the serial budget L-1 and the
    conjectured parallel band 2^(L-1)..3^(L-1). `solved`: depth -> list of per-seed values."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4.2))
    L = np.asarray(depths, dtype=float)
    ax.fill_between(L, 2 ** (L - 1), 3 ** (L - 1), color="tab:orange", alpha=0.2,
                    label="conjectured parallel: 2^(L-1) .. 3^(L-1)")
    ax.plot(L, L - 1, "k--", label="serial: L - 1 hops")
    for i, depth in enumerate(depths):
        values = solved.get(depth, [])
        jitter = np.linspace(-0.08, 0.08, len(values)) if len(values) > 1 else [0.0]
        ax.scatter(depth + np.asarray(jitter), values, color="tab:blue", s=45, zorder=3,
                   label="measured (one dot per seed)" if i == 0 else None)
    ax.set(xlabel="depth L (attention layers)", ylabel="largest k solved (>= 95 % test-ID)",
           xticks=list(depths), yscale="symlog", ylim=(-0.2, 3.0 ** (max(depths) - 1) * 1.2), title=title)
    ticks = [0, 1, 2, 4, 8, 16, 32, 64]
    ax.set_yticks(ticks, [str(t) for t in ticks])
    ax.legend(fontsize="small", loc="upper left")
    return ax


def save_thumbnail(fig, name: str, width_px: int = 480):
    """Save `fig` small, as data/figures/NAME.png, for the README's course map."""
    path = DATA_DIR / "figures" / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=width_px / fig.get_figwidth(), bbox_inches="tight", metadata={"Software": None})
    return path


def plot_cot_depth_table(runs: Sequence[dict], max_hops: int, ax=None, title: str = ""):
    """Largest hop count solved per run, with chain-of-thought (green) and without (blue),
    against the serial budget L - 1 and the longest path the chain allows."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4.2))
    depths = sorted({r["n_layers"] for r in runs})
    L = np.asarray(depths, dtype=float)
    ax.plot(L, L - 1, "k--", label="serial budget without CoT: L - 1 hops")
    ax.axhline(max_hops, color="grey", ls=":", label=f"longest path the chain allows: {max_hops} hops")
    for cot, color, shift in ((True, "tab:green", 0.08), (False, "tab:blue", -0.08)):
        label = f"{'with' if cot else 'without'} CoT (one dot per seed)"
        for depth in depths:
            values = [r["largest_solved"] for r in runs if r["n_layers"] == depth and r["cot"] == cot]
            if not values:
                continue
            jitter = np.linspace(-0.04, 0.04, len(values)) if len(values) > 1 else [0.0]
            ax.scatter(depth + shift + np.asarray(jitter), values, color=color, s=45, zorder=3, label=label)
            label = None
    ax.set(xlabel="depth L (attention layers)", ylabel="largest k solved (>= 95 % test-ID)",
           xticks=depths, ylim=(-0.3, max_hops + 4), title=title)
    ax.legend(fontsize="small", loc="upper left")
    return ax


def plot_width_ladder(summary: Sequence[dict], runs: Sequence[dict], title: str = ""):
    """The width ladder (notebook 02): final test-OOD per width next to the plateau's, the OOD /
    ID embedding-norm ratio over training, and test-OOD when only the OOD rows' norm is changed.

    summary: rows of `experiments.ladder_summary`; runs: the ladder's run records (same order)."""
    widths = sorted({row["d_model"] for row in summary})
    colors = dict(zip(widths, sns.color_palette("viridis", len(widths))))
    fig, axes = plt.subplots(1, 3, figsize=(16, 5.4))
    ax = axes[0]
    for row in summary:
        solved = row["stop_step"] is not None
        ax.scatter(row["d_model"], row["ood_late"], zorder=3, marker="s" if row.get("lr_control") else "o",
                   color=colors[row["d_model"]] if solved else "white", edgecolors=colors[row["d_model"]])
        ax.scatter(row["d_model"], row["plateau_ood"][1], marker="_", s=300, color="grey", zorder=2)
    ax.scatter([400], [0.944], marker="*", s=160, color="black", label="star: authors' final OOD (d 400, their recipe)")
    ax.scatter([], [], marker="o", color="grey", label="circle: one ladder run (a seed)")
    if any(row["stop_step"] is None for row in summary):
        ax.scatter([], [], marker="o", color="white", edgecolors="grey", label="hollow: test-ID never reached 0.99")
    ax.scatter([], [], marker="_", s=300, color="grey", label="best OOD before the jump")
    if any(row.get("lr_control") for row in summary):
        ax.scatter([], [], marker="s", color="grey", label="square: lr control (another width's lr)")
    ticks = sorted(set(widths) | {400})
    ax.set(xscale="log", xticks=ticks, xticklabels=ticks, ylim=(-0.03, 1.03), xlabel="d_model",
           ylabel="test-OOD, last 1,000 steps (mean)", title="OOD rises along the ladder\n(wider, lower learning rate)")
    ax.minorticks_off()
    ax.legend(fontsize="x-small", loc="upper center", bbox_to_anchor=(0.5, -0.24), ncol=2)
    ax = axes[1]
    labelled = set()
    for row, run in zip(summary, runs):
        h, control, unsolved = run["history"], row.get("lr_control", False), row["stop_step"] is None
        name = (f"d {row['d_model']}" + (f", lr {row['lr']:.0e} (control)" if control else "")
                + (" (never solved test-ID)" if unsolved else ""))
        ax.plot(h.steps, h.metrics["ood_id_norm_ratio"], color=colors[row["d_model"]],
                ls=":" if unsolved else "--" if control else "-", label=None if name in labelled else name)
        labelled.add(name)
    ax.set(yscale="log", xlabel="step", ylabel="mean |OOD row| / mean |ID row|",
           title="OOD / ID row-norm ratio over training\n(lower lr: falls slower)")
    ax.legend(fontsize="x-small", loc="upper center", bbox_to_anchor=(0.5, -0.24), ncol=2)
    ax = axes[2]
    groups = {}
    for r in summary:   # the runs that solved test-ID averaged per width; any other run on its own
        groups.setdefault((r["d_model"], r.get("lr_control", False), r["stop_step"] is None), []).append(r)
    for (d, control, unsolved), rows in sorted(groups.items()):
        ratios = sorted(float(x) for x in rows[0]["by_ratio"])
        ax.plot(ratios, [np.mean([r["by_ratio"][str(x)] for r in rows]) for x in ratios],
                "o:" if unsolved else "o--" if control else "o-", color=colors[d], mfc="white" if unsolved else colors[d],
                label=f"d {d}" + (f", lr {rows[0]['lr']:.0e}" if control else "")
                + (" (never solved test-ID)" if unsolved else ""))
        ax.scatter([r["natural_ratio"] for r in rows], [r["final"]["test_ood"] for r in rows], marker="x",
                   color=colors[d], s=60)
    ax.set(xscale="log", ylim=(-0.03, 1.03), xlabel="OOD row norm set to (x mean ID norm)",
           ylabel="test-OOD accuracy", title="set the OOD rows' norm, OOD accuracy rises with it\n(lines: mean of the solved seeds; x: as trained)")
    ax.legend(fontsize="x-small", loc="upper center", bbox_to_anchor=(0.5, -0.24), ncol=3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_init_ln_grid(sweep: dict, label: str, suptitle: str, threshold: float = 0.95):
    """An init-rate x LayerNorm sweep (as `load_sweep` returns it) in two panels (notebook 03): final test-ID accuracy against
    gamma (dots: seeds, line: their mean), and steps to reach `threshold` test-ID, with the runs
    that never get there drawn as triangles just above the step budget (censored, not measured)."""
    gammas, budget = sweep["grid"]["gamma"], sweep["train_config"]["steps"]

    def runs(norm, gamma):
        return [r for r in sweep["runs"] if r["norm"] == norm and abs(r["gamma"] - gamma) < 1e-9]

    fig, axes = plt.subplots(1, 2, figsize=(13, 4.2))
    for norm, marker, dx in (("post", "o", -0.01), ("pre", "s", 0.01)):
        finals = [[r["final"]["test_id"] for r in runs(norm, g)] for g in gammas]
        line, = axes[0].plot(gammas, [np.mean(f) for f in finals], marker=marker, label=f"{norm}-LN")
        for g, f in zip(gammas, finals):
            axes[0].scatter([g] * len(f), f, color=line.get_color(), s=12, alpha=0.5)
        for g in gammas:
            steps = [r["history"].steps_to("test_id", threshold) for r in runs(norm, g)]
            done = [s for s in steps if s is not None]
            axes[1].scatter(np.array([g] * len(done)) + dx + np.linspace(-0.01, 0.01, len(done)), done,
                            color=line.get_color(), marker=marker, s=20)
            axes[1].scatter([g + dx] * (len(steps) - len(done)), [budget * 1.03] * (len(steps) - len(done)),
                            color=line.get_color(), marker="^", s=30)
        axes[1].scatter([], [], color=line.get_color(), marker=marker, label=f"{norm}-LN solved, one mark per seed")
        axes[1].scatter([], [], color=line.get_color(), marker="^", label=f"{norm}-LN not solved in the budget")
    axes[0].set(xlabel="init rate γ (larger = smaller initial weights)", ylabel="final test-ID accuracy",
                ylim=(-0.03, 1.03), title=f"{label}: final test-ID accuracy")
    pad = 0.06 * (max(gammas) - min(gammas))
    axes[1].set_xlim(min(gammas) - pad, max(gammas) + pad)
    axes[1].axhline(budget, color="grey", ls=":")
    axes[1].set(xlabel="init rate γ", ylabel=f"steps to {threshold:.0%} test-ID", ylim=(0, budget * 1.07),
                title=f"{label}: steps to solve (▲: not within {budget:,} steps)")
    axes[0].legend()
    axes[1].legend(fontsize="x-small", loc="lower left")
    fig.suptitle(suptitle)
    fig.tight_layout()
    return fig, axes


# What the authors' training log of their reference 2-hop run reports (paper A's `result_example/train_log.log`).
AUTHORS_2HOP_LOG = {"jump_epochs": (20, 25), "plateau_ood": (0.36, 0.52), "ood_after_jump": (25, 0.87),
                    "final_ood": (100, 0.944)}


def plot_authors_run(runs: Sequence[dict], steps_per_epoch: int, title: str = ""):
    """Notebook 02: our runs of the authors' 2-hop reference configuration (records with a
    `history`), accuracy by epoch, next to what their log reports; right: the OOD / ID row-norm ratio."""
    fig, (ax, ax_ratio) = plt.subplots(1, 2, figsize=(14, 4.4), gridspec_kw={"width_ratios": [2, 1]})
    log = AUTHORS_2HOP_LOG
    ax.axvspan(*log["jump_epochs"], color="grey", alpha=0.15, label="authors' jump (epochs 20-25)")
    ax.fill_between([0, log["jump_epochs"][0]], *log["plateau_ood"], color="tab:red", alpha=0.08,
                    label="authors' test-OOD on the plateau")
    for epoch, value in (log["ood_after_jump"], log["final_ood"]):
        ax.scatter(epoch, value, marker="*", s=180, color="black", zorder=4)
    ax.scatter([], [], marker="*", s=180, color="black", label="authors' test-OOD (epoch 25, epoch 100)")
    for run, ls in zip(runs, ("-", ":", "--")):
        h = run["history"]
        epochs = np.asarray(h.steps) / steps_per_epoch
        for split in ("train", "test_id", "test_ood"):
            ax.plot(epochs, h.acc[split], ls, color=SPLIT_COLORS[split], label=f"seed {run['seed']}: {split}")
        ax_ratio.plot(epochs, h.metrics["ood_id_norm_ratio"], ls, color="black", label=f"seed {run['seed']}")
    ax.set(xlim=(0, 101), ylim=(-0.03, 1.03), xlabel="epoch (270 steps)", ylabel="accuracy",
           title="Jump on the authors' schedule, but test-OOD ends near 0.5, not 0.94")
    ax.legend(fontsize="x-small", loc="lower right", ncol=2)
    ax_ratio.set(xlim=(0, 101), xlabel="epoch", ylabel="mean |OOD row| / mean |ID row|",
                 title="never-seen rows fall to about a third of the ID norm")
    ax_ratio.legend(fontsize="small")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_embedding_controls(runs: Sequence[tuple[str, dict]], title: str = ""):
    """Notebook 02: 2-hop runs at one width that differ only in how the token embedding is drawn
    and trained, as (label, ladder record) pairs. Left: test-ID (solid) and test-OOD (dashed) over
    training; right: the OOD / ID row-norm ratio."""
    fig, (ax, ax_ratio) = plt.subplots(1, 2, figsize=(14, 5.2), gridspec_kw={"width_ratios": [2, 1]})
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for (label, run), color in zip(runs, colors):
        h = run["history"]
        ax.plot(h.steps, h.acc["test_id"], "-", color=color, label=f"{label}: test-ID")
        ax.plot(h.steps, h.acc["test_ood"], "--", color=color, label=f"{label}: test-OOD")
        ax_ratio.plot(h.steps, h.metrics["ood_id_norm_ratio"], color=color, label=label)
    ax.set(ylim=(-0.03, 1.03), xlabel="training step", ylabel="accuracy (2,000 questions)",
           title="test-ID (solid) and test-OOD (dashed)")
    ax.legend(fontsize="x-small", loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3)
    ax_ratio.set(ylim=(0, 1.05), xlabel="training step", ylabel="mean |OOD row| / mean |ID row|",
                 title="how visible the never-seen rows stay")
    ax_ratio.legend(fontsize="x-small", loc="upper center", bbox_to_anchor=(0.5, -0.2))
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_shared_norm_ladder(plain: Sequence[dict], shared: Sequence[dict], title: str = ""):
    """Notebook 02: test-OOD per width for the ladder's plain runs (as trained, and with their
    never-seen rows raised to the ID norm after training: the prediction) and for the runs whose
    token rows share one learned norm. plain, shared: rows of `experiments.ladder_summary`."""
    fig, ax = plt.subplots(figsize=(7.5, 5.6))
    widths = sorted({r["d_model"] for r in shared})
    jitter = {0: 0.96, 1: 1.04}
    for r in plain:
        if r["d_model"] in widths:
            x = r["d_model"] * jitter.get(r["seed"], 1.0)
            ax.scatter(x, r["ood_late"], color="grey", marker="o", zorder=3)
            ax.scatter(x, r["by_ratio"]["1.0"], facecolors="white", edgecolors="black", marker="s", s=60, zorder=3)
    for r in shared:
        ax.scatter(r["d_model"] * jitter.get(r["seed"], 1.0), r["ood_late"], color="C3", marker="^", s=80, zorder=4)
    ax.scatter([], [], color="grey", marker="o", label="ladder recipe, as trained")
    ax.scatter([], [], facecolors="white", edgecolors="black", marker="s", label="same model, never-seen rows raised to the ID norm (prediction)")
    ax.scatter([], [], color="C3", marker="^", label="rows sharing one learned norm, trained")
    ax.set(xscale="log", xticks=widths, xticklabels=widths, ylim=(-0.03, 1.03), xlabel="d_model (two seeds each, side by side)",
           ylabel="test-OOD (mean of the last 1,000 steps;\nsquares: at the end)")
    ax.minorticks_off()
    ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.2))
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig
