# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     notebook_metadata_filter: kernelspec,jupytext
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 06 · Iteration heads: how chain-of-thought runs a loop
#
# [![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/reasoning-circuits/reasoning-circuits-course/blob/main/notebooks/06_iteration_heads.ipynb)
#
# **Run time on a laptop CPU: about 3.3 minutes on a slow 2-core laptop (up to 4× less on a fast one).** *Instant path:* the seed sweep and the parity
# comparison are shipped (`python -m helpers.experiments iteration_sweep`). *Train it yourself:*
# two live trainings (about 45 s and 15 s on a slow 2-core laptop).
#
# Paper B (Cabannes et al., *Iteration Head: A Mechanistic Study of Chain-of-Thought*, NeurIPS
# 2024, [arXiv 2406.02128](https://arxiv.org/abs/2406.02128); the authors' code is
# `github.com/facebookresearch/pal`, folders `src/cot` and `projects/cot`) shows that a 2-layer
# transformer trained with chain-of-thought (CoT) on an iterative task builds a dedicated
# circuit, the **iteration head**. You will learn:
#
# 1. what emergence looks like: accuracy and the attention "peakiness" of both layers on one
#    time axis;
# 2. how to read the circuit in the attention maps, and compare it with the ideal picture;
# 3. how to test it causally: change one input $x_t$ and only the state that reads it changes;
#    ablate layer 2's attention and the loop breaks; set the attention by hand and it works;
# 4. why CoT matters: compare parity trained with and without CoT, length by length, and each
#    with what guessing would score;
# 5. what it takes at the authors' scale (strings up to 16 long): with shuffled training batches,
#    15 of 20 polynomial seeds learn the task with a clean head, most within ~3,000 steps, where
#    three seeds in the authors' length-by-length order had not in 6,400; the other five fail in
#    different ways; all 16 finished parity seeds learn parity, three of them with
#    no layer-2 head by the authors' score; and the authors' three controls (one layer, frozen
#    positions, the first cells of the width x length grid).
#
# Four checked exercises (a prediction in section 7, three functions to write at the end) and an
# open question come with it.

# %%
# Setup: in Colab, clone the course (os.environ["COURSE_REPO"] may name a fork); locally, use the repo root.
import os, sys
REPO_URL = "https://github.com/reasoning-circuits/reasoning-circuits-course"
IN_COLAB = "google.colab" in sys.modules or bool(os.environ.get("COURSE_FORCE_COLAB"))
repo = os.environ.get("COURSE_REPO", REPO_URL)
if IN_COLAB and not os.path.isdir("reasoning-circuits-course/helpers"):
    os.system(f"git clone -q --depth 1 {repo} reasoning-circuits-course")
sys.path.insert(0, "reasoning-circuits-course" if IN_COLAB else "..")
try:
    import helpers  # the course's code: data, model, training, analysis, plots, exercises
except ImportError as err:
    raise RuntimeError(f"could not clone the course from {repo!r} (REPO_URL in this cell; set os.environ['COURSE_REPO'] "
                       "to a fork or mirror): check the URL and the runtime's internet access, then run this cell again"
                       if IN_COLAB else "open this notebook from the course's notebooks/ folder") from err

# %%
import json

import matplotlib.pyplot as plt
import numpy as np
import torch

from helpers import DATA_DIR
from helpers import analysis as A
from helpers import data as D
from helpers import exercises as E
from helpers import experiments as X
from helpers.plots import plot_attention, plot_curve_band, save_thumbnail
from helpers.train import evaluate, make_model

torch.set_num_threads(int(os.environ.get("COURSE_TORCH_THREADS", 1)))  # 1 thread unless you set COURSE_TORCH_THREADS

# %% [markdown]
# ## 1. The task and the circuit we expect
#
# Polynomial iteration: $s_1 = x_1$, $s_t = (s_{t-1} x_t + 1) \bmod 11$, with $x_t \in 1..10$ and
# lengths 1 to 8 mixed. A sequence is the task's name, the inputs $x_1, \dots, x_L$, the token
# **EoI** (end of input), then, with CoT, the states $s_1, \dots, s_L$ that the model writes one
# per step, and **EoS** (end of sequence) tokens that pad every sequence to $2\,n_{len}+3$ tokens,
# so even a string of the longest length ends with one EoS:
#
# - the position $L{+}1{+}k$ holds $s_k$ (EoI plays $s_0$) and must predict $s_{k+1}$, which needs
#   $x_{k+1}$, sitting at position $k{+}1$;
# - **layer 1** attends to EoI, whose position tells how long the input was; its MLP turns that
#   into the target position $k{+}1$;
# - **layer 2** attends to position $k{+}1$ and retrieves $x_{k+1}$; its MLP computes
#   $F(s_k, x_{k+1})$.
#
# **Peakiness** (paper B's metric, computed in the authors' `src/cot/evals/cot.py`) is the
# fraction of those target attention weights above 0.5: layer 1, CoT queries → EoI; layer 2,
# query $L{+}1{+}k$ → key $k{+}1$. A perfect head scores 1. `A.peakiness` computes it as the
# authors' code does, length by length (layer 1 over the queries of the states $s_1, \dots, s_L$,
# positions $L{+}2, \dots, 2L{+}1$, without EoI); the course then averages over the test lengths
# (notebook 00, section 4, checks it against a literal reading of their code).

# %%
# NBVAL_CHECK_OUTPUT
example = D.make_iteration_data("polynomial", "test", n_len=X.N_LEN, n_per_length=1, seed=0, lengths=[6], split_rule=X.ITER_SPLIT_RULE)
print(D.decode_iteration(D.full_sequence(example, 0)))

# %% [markdown]
# ## 2. Watch the head emerge (live)
#
# 2 layers, 1 head, d_model 64, pre-LN, Adam at 1e-3, batch 64 (the authors use d_model 128 and
# 1000 epochs; ours is sized for a CPU). Accuracy is on test strings of lengths 4-8, none seen
# in training. Training stops once it passes 99 %. The peakiness curves are recorded during
# training on 64 test strings of every length 4-8 (`X.peakiness_metrics`), scored as the authors'
# `evals/cot.py` does per length, then averaged over lengths (notebook 00); the peakiness printed
# under the figure uses every test string. The two agree up to sampling noise. The cell checks that layer-2 peakiness passes 0.5 no later than test accuracy does.

# %%
print(X.ITER_MODEL)
model, history, evals = X.train_iteration("polynomial", seed=0, train_cfg=X.SCRATCH_TRAIN)

# %%
def first_half(values):
    """The first evaluated step at which a curve reaches 0.5 (None if it never does)."""
    return next((s for s, v in zip(history.steps, values) if v >= 0.5), None)


fig, ax = plt.subplots(figsize=(9, 3.8))
ax.plot(history.steps, history.acc["test"], color="black", lw=2, label="test accuracy (lengths 4-8)")
ax.plot(history.steps, history.metrics["peakiness layer 1"], "--",
        label="peakiness layer 1 (→ EoI), 64 test strings per length")
ax.plot(history.steps, history.metrics["peakiness layer 2"], "--",
        label="peakiness layer 2 (→ x_{k+1}), 64 test strings per length")
peak_half, acc_half = first_half(history.metrics["peakiness layer 2"]), first_half(history.acc["test"])
both_reach = peak_half is not None and acc_half is not None
ax.set(xlabel="step", ylabel="fraction", ylim=(-0.03, 1.03),
       title="Layer-2 peakiness passes 0.5 " + ("before test accuracy does" if both_reach and peak_half < acc_half else
                                                  "together with test accuracy" if both_reach and peak_half == acc_half else
                                                  "after test accuracy, or one curve never does"))
ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.26))
fig.tight_layout()
save_thumbnail(fig, "06_iteration_heads")  # the course map in README.md shows it
plt.show()
peaks = A.peakiness(model, evals["test"])
print(f"test accuracy {history.final('test'):.3f} after {history.steps[-1]} steps ({history.seconds:.0f} s); "
      f"peakiness on every test length (4-8): layer 1 {peaks[0]:.2f}, layer 2 {peaks[1]:.2f}")
print(f"first evaluation at or above 0.5: layer-2 peakiness step {peak_half}, test accuracy step {acc_half}")
assert history.final("test") >= 0.95 and peaks[1] >= 0.9
assert both_reach and peak_half <= acc_half
assert abs(history.metrics["peakiness layer 1"][-1] - peaks[0]) < 0.15, "the tracked curve ends where the full score is"

# %% [markdown]
# ## 3. Read the circuit in the attention maps
#
# One test sequence of length 8. Left column: what the model does; right column: the ideal
# iteration head. In layer 2 look for the **shifted diagonal**: the query after $s_k$ reads
# $x_{k+1}$. Layer 1 is less clean than the ideal column at EoI: only some chain-of-thought
# queries read EoI. Where do the others look: the task-prefix token at position 0, the input
# tokens, the states? And the EoI row itself? (A head that parks its weight on the first token is
# a pattern seen in many trained transformers, an "attention sink".) One sequence can mislead, so
# the cell after the figure sums layer 1's attention over every test string.

# %%
sample = D.make_iteration_data("polynomial", "test", n_len=X.N_LEN, n_per_length=1, seed=3, lengths=[8], split_rule=X.ITER_SPLIT_RULE)
labels = D.iteration_role_labels(sample.inputs[0])
_, cache = model.run_with_cache(sample.inputs.to(model.device))
rows, queries, eoi, xs = A.iteration_head_targets(sample)
ideal = [torch.zeros(len(labels), len(labels)) for _ in range(2)]
ideal[0][queries, eoi] = 1.0
ideal[1][queries, xs] = 1.0
fig, axes = plt.subplots(2, 2, figsize=(13, 12))
for layer in range(2):
    plot_attention(cache["pattern", layer][0, 0], labels, ax=axes[layer, 0], title=f"layer {layer + 1}: trained")
    plot_attention(ideal[layer], labels, ax=axes[layer, 1], title=f"layer {layer + 1}: ideal iteration head")
fig.suptitle("Layer 2 reads x_{k+1} at step k: the shifted diagonal of an iteration head")
fig.tight_layout()
plt.show()

# %% [markdown]
# **Where layer 1 looks, over all test strings.** Take the chain-of-thought queries
# $s_1, \dots, s_{L-1}$ that give EoI a weight of at most 0.5, sum each one's layer-1 attention
# by group of keys, and average; print too the weight the EoI query puts on $x_1$. We measure
# the model of section 2 and the shipped checkpoint (`data/iteration_polynomial.pt`: the same
# recipe and seed, trained the full 4,000 steps). The checkpoint's weights are the same on every
# machine, so only its numbers are checked; a live model trained on another machine may differ.

# %%
def layer1_reads(m, data):
    """(share of the queries s_1..s_{L-1} that give EoI <= 0.5, their mean layer-1 weight per key
    group, the mean weight of the EoI query on x_1)."""
    _, c = m.run_with_cache(data.inputs.to(m.device), names_filter=lambda n: n.endswith("hook_pattern"))
    rows, queries, eoi, _ = A.iteration_head_targets(data)
    w = c["pattern", 0][:, 0].cpu()[rows, queries]                     # [query, key], layer 1
    key, e = torch.arange(w.shape[1])[None, :], eoi[:, None]
    groups = {"prefix (position 0)": key == 0, "x_1..x_(L-1)": (key >= 1) & (key < e - 1),
              "x_L": key == e - 1, "EoI": key == e, "states": key > e}
    misses = (queries > eoi) & (w[torch.arange(len(w)), eoi] <= 0.5)
    shares = {g: (w * mask).sum(1)[misses].mean().item() for g, mask in groups.items()}
    return misses.sum().item() / (queries > eoi).sum().item(), shares, w[queries == eoi, 1].mean().item()


checkpoint, _ = X.load_polynomial_checkpoint()
for name, m in [("live model", model), ("shipped checkpoint", checkpoint)]:
    missed, shares, eoi_on_x1 = layer1_reads(m, evals["test"])
    print(f"{name}: {missed:.0%} of the queries s_1..s_(L-1) give EoI at most 0.5; EoI query on x_1: {eoi_on_x1:.2f}\n"
          "    mean weight of those queries on " + ", ".join(f"{g} {v:.2f}" for g, v in shares.items()))
assert missed >= 0.25   # the shipped checkpoint: many chain-of-thought queries do not read EoI
assert shares["prefix (position 0)"] >= 0.4 and shares["prefix (position 0)"] == max(shares.values())
assert eoi_on_x1 >= 0.9

# %% [markdown]
# In the shipped checkpoint, the queries that miss EoI put the largest share of their layer-1
# weight on the prefix token at position 0, and only a little on $x_L$; the EoI query itself
# reads $x_1$, which for polynomial iteration is $s_1$, the very token it must predict. A weight
# on the prefix token, the same in every sequence, says little by itself about the length: how
# layer 1 still delivers it is the open question at the end. The authors' layer-1 score leaves
# the EoI query out (it scores the queries of $s_1, \dots, s_L$), so its reading $x_1$ does not
# lower the score; the misses printed above do (the score also counts the query of $s_L$, which
# predicts EoS, so it need not equal one minus the miss rate). Compare
# your live model's line: the same recipe on another machine may settle differently. Paper B
# reports a cleaner layer 1 at its larger scale.

# %% [markdown]
# ## 4. Causal checks
#
# **Change one input.** Take sequences of length 8 and replace $x_t$ by another value, keeping
# the written states (teacher forcing) as they were. If layer 2 really reads $x_{k+1}$ at step
# $k$, only the prediction of $s_t$ should change, to $F(s_{t-1}, x_t')$; every other step still
# sees its own, unchanged $x$.

# %%
data = D.make_iteration_data("polynomial", "test", n_len=X.N_LEN, seed=0, lengths=[8], split_rule=X.ITER_SPLIT_RULE)[:500]
L, t = 8, 4
patched = data.inputs.clone()
patched[:, t] = patched[:, t] % 10 + 1                        # another value in 1..10
s_prev = data.inputs[:, L + 1 + t - 1]                         # s_{t-1}, written by the model
expected = (s_prev * patched[:, t] + 1) % 11
with torch.no_grad():
    clean_pred = model(data.inputs.to(model.device)).argmax(-1).cpu()
    patched_pred = model(patched.to(model.device)).argmax(-1).cpu()
step_t = L + t                                                 # the position that predicts s_t
follows = (patched_pred[:, step_t] == expected).float().mean().item()
cot_positions = [L + 1 + k for k in range(L) if L + 1 + k != step_t]
unchanged = (patched_pred[:, cot_positions] == clean_pred[:, cot_positions]).float().mean().item()
print(f"after changing x_{t}: s_{t} follows F(s_{t-1}, x_{t}') in {follows:.1%}; other steps unchanged in {unchanged:.1%}")
assert follows >= 0.9 and unchanged >= 0.9

# %% [markdown]
# **Ablate layer 2's attention.** Replace its output by the batch mean: the model can no longer
# fetch $x_{k+1}$, and accuracy should collapse. Ablating layer 1's attention removes whatever it
# delivers, the length of the input among it; the cell checks that this costs at least half of
# the accuracy.

# %%
test = evals["test"]
clean = evaluate(model, test)["acc"]
ablated = {layer: A.ablation_accuracy(model, test, f"blocks.{layer}.hook_attn_out", mode="mean") for layer in (0, 1)}
print(f"clean {clean:.3f}; layer 1 attention ablated {ablated[0]:.3f}; layer 2 attention ablated {ablated[1]:.3f}")
assert ablated[1] <= 0.1 and ablated[0] <= 0.5 * clean

# %% [markdown]
# ## 5. A hand-set iteration head (beyond the paper)
#
# Is the circuit *sufficient*? Write both attention patterns by hand: layer 1 reads EoI from
# every chain-of-thought position, layer 2 reads $x_{k+1}$ at step $k$
# (`A.ideal_iteration_patterns`). A hook replaces the model's own patterns with them during
# training and evaluation; embeddings, values and MLPs still have to learn what to carry and to
# compute $F$. If the circuit is right, this model needs no search for attention and learns
# faster than the free model of section 2.

# %%
hand = make_model(X.ITER_MODEL, seed=0)
with A.iteration_head_by_hand(hand, D.EOI):
    _, hand_history, _ = X.train_iteration("polynomial", seed=0, model=hand, train_cfg=X.SCRATCH_TRAIN)
    hand_peaks = A.peakiness(hand, evals["test"])
print(f"hand-set head: 95 % at step {hand_history.steps_to('test', 0.95)} "
      f"(free model: {history.steps_to('test', 0.95)}), final {hand_history.final('test'):.3f}, peakiness {hand_peaks}")
assert hand_history.final("test") >= 0.95 and hand_peaks == {0: 1.0, 1: 1.0}
assert hand_history.steps_to("test", 0.95) < history.steps_to("test", 0.95)

# %% [markdown]
# ## 6. Across seeds
#
# One run can be lucky. The shipped sweep trained the same recipe from 5 seeds, for up to 4,000
# steps (stopping at 99 %). Unlike section 2's live curve, this sweep's peakiness curves were
# recorded by an earlier version of the course, on the first 512 test strings only, which are all
# of length 4, and its layer-1 score then took the queries $L{+}1..2L$ (the EoI query included,
# which this model points at $x_1$, so that query alone caps the old score at 0.75). The two
# layer-1 scores are not comparable: the old one ends at 0.00 in three of the five seeds (seeds 0
# and 2 stay at 0.00 throughout, hidden under the other lines) and at 0.25 and 0.75 in the other
# two, where section 2's live curve reaches about 0.5. The
# sweep's accuracies use every test length; its peakiness, the last point included, is length 4
# only.

# %%
sweep = X.load_sweep(DATA_DIR / "iteration_sweep.json")
poly = [r for r in sweep["runs"] if r["kind"] == "scratch" and r["task"] == "polynomial"]
fig, axes = plt.subplots(1, 3, figsize=(16, 3.6), sharey=True)
for ax, key, name in zip(axes, ["acc", "metrics", "metrics"],
                         ["test", "peakiness layer 1", "peakiness layer 2"]):
    for r in poly:
        values = r["history"].acc["test"] if key == "acc" else r["history"].metrics[name]
        ax.plot(r["history"].steps, values, label=f"seed {r['seed']}")
    ax.set(title=(f"{name} (older metric, length 4)" if key == "metrics" else "test accuracy (lengths 4-8)"),
           xlabel="step", ylabel="peakiness" if key == "metrics" else "test accuracy", ylim=(-0.03, 1.03))
    ax.yaxis.set_tick_params(labelleft=True)
axes[0].legend(fontsize="small")
fig.suptitle("Polynomial iteration, 5 seeds: when the layer-2 head forms, accuracy follows")
fig.tight_layout()
plt.show()
solved = [r for r in poly if r["history"].final("test") >= 0.95]
print(f"{len(solved)}/{len(poly)} seeds reach 95 % within {sweep['scratch_config']['steps']} steps; steps to 95 %:",
      [r["history"].steps_to("test", 0.95) for r in poly])
for r in solved:
    assert r["history"].metrics["peakiness layer 2"][-1] >= 0.9

# %% [markdown]
# ### At the authors' scale: n_len 16
#
# The authors train at n_len 16 (strings up to 16 long), d_model 128, for 1,000 epochs of their
# data, over 100 seeds. `python -m helpers.experiments iteration16_sweep` sets up that study (their
# data rule, 2,048 strings per length drawn with replacement and split half and half, more on it
# below; their model and optimizer; 10 seeds per task), and it needs a GPU. A first pass on a
# borrowed GPU tried a tenth of their schedule, 100 epochs (6,400 steps), on polynomial iteration
# with CoT, 3 seeds (kept in `data/runs/iteration16_100ep/`):

# %%
first_pass = [json.loads(p.read_text()) for p in sorted((DATA_DIR / "runs" / "iteration16_100ep").glob("*scratch*.json"))]
for r in first_pass:
    mean_acc = X.mean_accuracy_over_lengths(r)
    print(f"polynomial, CoT, seed {r['seed']}: {r['history']['steps'][-1]:,} steps, mean test accuracy over lengths "
          f"4-16 {mean_acc:.2f}, peakiness layer 1 / layer 2 {r['peakiness'][0]:.2f} / {r['peakiness'][1]:.2f}")
    assert mean_acc < 0.3, "a tenth of the authors' schedule did not solve n_len 16 in these 3 seeds"

# %% [markdown]
# None comes close in 100 epochs. One thing in the authors' recipe differs from most training
# loops: their loader walks the data **in order**, and the data is sorted by length, so each batch
# of 256 holds strings of one length only, lengths 1 to 16 in turn, every epoch. The
# **data-order control [ours]** changes that: the same data, model, optimizer, metrics and stop
# rule, but every batch is drawn from a fresh shuffle of all lengths, for at most 200 epochs
# (12,800 steps) (`python -m helpers.experiments iteration16_order`: 20 seeds per task planned;
# 11-81 minutes on one CPU core for a run that stops early (the machine's load matters), 1-2 hours for one
# that runs to the cap, 1-5 minutes on a borrowed H100 shared by a dozen runs; the seeds finished
# so far are in
# `data/iteration16_sweep.json`). The grey runs were capped at 6,400 steps, where the
# figure's grey curves end. There is no parity run in the authors' order yet: the grey curves are
# polynomial only. Both kinds of run are evaluated every 160 steps on 128 test strings of each
# length 4-16, and stop 10 epochs (640 steps) after test accuracy first reaches 0.99; the printed
# final accuracies use every test string, and the final peakiness 256 strings per length.
#
# Keep the authors' data rule in mind: strings are drawn with replacement, so a test string can
# also be a training string. Notebook 01 measured how often for parity: every test string up to
# length 7, 38 % at length 11, 19 % at length 12, 2 % at length 16. Only the long lengths test
# generalisation.
#
# **Predict:** with shuffled batches, does polynomial iteration at n_len 16 form the head within
# the 6,400 steps that were not enough in the authors' order? And parity?

# %%
sweep16 = X.load_sweep(DATA_DIR / "iteration16_sweep.json")
shuffled = sorted(filter(X.is_order_main_line, sweep16["runs"]), key=lambda r: (r["task"] != "polynomial", r["seed"]))
running = list(filter(X.is_order_main_line, sweep16["in_progress"]))
panels = [("test", "test accuracy (lengths 4-16)"), ("peakiness layer 2", "layer-2 peakiness"),
          ("peakiness layer 1", "layer-1 peakiness")]
fig, axes = plt.subplots(1, 3, figsize=(16, 3.8))
for ax, (key, name) in zip(axes, panels):
    for i, r in enumerate(first_pass):   # raw JSON: the history is a dict
        h = r["history"]
        ax.plot(h["steps"], h["acc"]["test"] if key == "test" else h["metrics"][key], color="grey",
                label="polynomial, authors' order (GPU)" if i == 0 else None)
    for task, color in (("polynomial", "C0"), ("parity", "C1")):
        for i, r in enumerate(x for x in shuffled if x["task"] == task):
            h = r["history"]
            odd = (task == "polynomial" and not X.iteration16_reaches_goal(r)) or (task == "parity" and r["peakiness"][1] < 0.15)
            ax.plot(h.steps, h.acc["test"] if key == "test" else h.metrics[key], color=color, ls=":" if odd else "-",
                    label=(f"{task}, shuffled batches" if i == 0 else None) if not odd else
                          f"{task} seed {r['seed']} (layer-2 peakiness {r['peakiness'][1]:.2f}" + (", under the 0.9 bar)" if task == "polynomial" else ")"))
        for i, r in enumerate(x for x in running if x["task"] == task):   # dashed: still training
            h = r["history"]
            ax.plot(h.steps, h.acc["test"] if key == "test" else h.metrics[key], color=color, ls="--",
                    label=f"{task}, shuffled, still training" if i == 0 else None)
    ax.set(xlabel="step", ylabel=name, ylim=(-0.03, 1.03), xlim=(0, 12_800), title=name)
fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center", ncol=4, fontsize="small", bbox_to_anchor=(0.5, -0.2))
passed = {task: sum(r["history"].steps_to("test", 0.95) is not None for r in shuffled if r["task"] == task)
          for task in ("polynomial", "parity")}
with_head = sum(X.iteration16_reaches_goal(r) for r in shuffled if r["task"] == "polynomial")
runs_of = {task: sum(r["task"] == task for r in shuffled) for task in ("polynomial", "parity")}
fig.suptitle(f"n_len 16 with CoT, shuffled batches: {passed['polynomial']} of {runs_of['polynomial']} polynomial and "
             f"{passed['parity']} of {runs_of['parity']} parity seeds pass 95 % ({with_head} polynomial seeds also with layer-2 "
             "peakiness ≥ 0.9);\nin the authors' order polynomial stays below 0.25 for 6,400 steps (grey)")
fig.tight_layout()
plt.show()


for r in shuffled:
    h = r["history"]
    reached = h.steps_to("test", 0.95)
    print(f"{r['task']:<10} seed {r['seed']:2d}: test 95 % {f'at step {reached:,}' if reached else 'never reached'}, stopped at {h.steps[-1]:,}; "
          f"mean accuracy 4-16 {X.mean_accuracy_over_lengths(r):.3f}, worst length {X.worst_length_accuracy(r):.3f}; "
          f"peakiness layer 1 / layer 2 {r['peakiness'][0]:.2f} / {r['peakiness'][1]:.2f}; "
          + (f"{r['seconds'] / 60:.0f} min on one CPU core" if r.get("device") == "cpu" else f"{r['seconds'] / 60:.1f} min in all, finished on a shared GPU"))
for r in running:
    h = r["history"]
    print(f"{r['task']:<10} seed {r['seed']}: still training, at step {r['step']:,} test accuracy {h.acc['test'][-1]:.3f}, "
          f"peakiness layer 1 / layer 2 {h.metrics['peakiness layer 1'][-1]:.2f} / {h.metrics['peakiness layer 2'][-1]:.2f}")
plateau = {task: [np.median([p for st, p in zip(r["history"].steps, r["history"].metrics["peakiness layer 2"]) if 300 <= st <= 1200])
                   for r in shuffled if r["task"] == task] for task in ("polynomial", "parity")}
print("layer-2 peakiness, median over steps 300-1,200, per seed:",
      {task: [round(float(v), 2) for v in vals] for task, vals in plateau.items()})
emergence16 = {row["task"]: row for row in X.iteration16_emergence(sweep16) if row["cot"]}
print("\nEmergence so far (the bar: polynomial, mean accuracy 4-16 >= 0.95 with layer-2 peakiness >= 0.9; "
      "parity, >= 0.9 at every length 4-16):")
for task, row in emergence16.items():
    print(f"  {task} with CoT: {len(row['reached'])} of {len(row['finished'])} finished seeds reach it "
          f"(failed: {row['failed'] or 'none'}; still training: {row['training'] or 'none'})")
fast = (0, 2, 4, 5, 6, 7, 8, 10, 11, 12, 14, 16, 18, 19)   # the seeds the text names; later seeds are printed, not asserted
assert set(fast) | {13} <= set(emergence16["polynomial"]["reached"])
assert {1, 3, 9, 15, 17} <= set(emergence16["polynomial"]["failed"])
assert set(range(16)) <= set(emergence16["parity"]["reached"])
named = {task: {r["seed"]: r for r in shuffled if r["task"] == task and r["seed"] <= (19 if task == "polynomial" else 15)}
         for task in ("polynomial", "parity")}
for seed in fast:
    r = named["polynomial"][seed]
    assert 1_600 <= r["history"].steps_to("test", 0.95) <= 2_560 and X.mean_accuracy_over_lengths(r) >= 0.998
    assert 0.95 <= r["peakiness"][1] and 0.55 <= r["peakiness"][0] <= 0.8
assert named["polynomial"][13]["history"].steps_to("test", 0.95) >= 10_000   # slow, but there by the cap
r9, r15 = named["polynomial"][9], named["polynomial"][15]
assert X.mean_accuracy_over_lengths(r9) >= 0.95 and X.worst_length_accuracy(r9) < 0.9 and 0.8 <= r9["peakiness"][1] < 0.9
assert 0.5 <= X.mean_accuracy_over_lengths(r15) <= 0.75 and r15["peakiness"][1] < 0.1
r17 = named["polynomial"][17]
assert 0.9 <= X.mean_accuracy_over_lengths(r17) < 0.95 and 0.4 <= r17["peakiness"][1] <= 0.6
assert len(named["parity"]) == 16 and all(X.worst_length_accuracy(r) >= 0.97 for r in named["parity"].values())
assert max(r["peakiness"][1] for r in named["parity"].values()) < 0.8
steps95 = [r["history"].steps_to("test", 0.95) for r in named["parity"].values()]
assert min(steps95) == 1_120 and max(steps95) == 6_560
slowest = sorted(named["parity"].values(), key=lambda r: r["history"].steps_to("test", 0.95))[-4:]
assert {r["seed"] for r in slowest} == {5, 6, 9, 15}, "5, 6 and 9 are three of the four slowest"
for r in shuffled:
    if (r["task"], r["seed"]) == ("polynomial", 3):   # the task solved, the head under the bar
        assert X.mean_accuracy_over_lengths(r) >= 0.95 and 0.8 <= r["peakiness"][1] < 0.9
    if (r["task"], r["seed"]) == ("polynomial", 1):   # never learned within the cap
        assert r["history"].steps_to("test", 0.95) is None and r["peakiness"][1] < 0.5
    if (r["task"], r["seed"]) in {("parity", 5), ("parity", 6), ("parity", 9)}:   # parity solved with no layer-2 head
        assert X.worst_length_accuracy(r) >= 0.9 and r["peakiness"][1] < 0.15
assert all(max(r["history"]["acc"]["test"]) < 0.25 for r in first_pass)

# %% [markdown]
# With shuffled batches, 15 of the 20 polynomial seeds learn polynomial iteration at n_len 16
# with the head. Fourteen of them learn fast: test accuracy passes 95 % between steps
# 1,600 and 2,560 (of the 12,800 allowed), and they end with mean accuracy 0.999-1.000 over
# lengths 4-16 (worst length 0.993 or better), layer-2 peakiness 0.96-0.99 and layer-1 peakiness
# 0.57-0.78. In the figure, accuracy and layer-2 peakiness jump together. Seed 13 is slow: its
# accuracy creeps up for most of the run and passes 95 % only at step 11,200; it ends at mean accuracy 0.99 (worst length 0.89, the
# longest) with layer-2 peakiness 0.95. In the authors' order, the same model, data and optimizer
# stood at 0.09-0.13 after 6,400 steps. Five seeds fail the bar, each in its own way:
#
# - **seed 3** learns the task later (95 % at step 3,040) and just as well (mean accuracy 1.000,
#   worst length 0.997), but its layer-2 peakiness ends at 0.85, under the 0.9 the bar asks of a
#   head: it solved the task with a less peaked head. Its run stopped at step 4,000 under the stop
#   rule (10 epochs after test accuracy 0.99), so the head was not trained further;
# - **seed 9** is slow like seed 13 and was still climbing at the cap (dotted in the figure): it ends at mean accuracy 0.954 with
#   worst length 0.65, its head good on the short and middle lengths, not on the longest (printed
#   below). A longer budget, like the authors' 1,000 epochs, might carry it over the bar;
# - **seed 17** learns most lengths with a diffuse head: it climbs slowly (dotted in the figure) and ends at mean accuracy 0.94, right at every length but 13 and 14 (0.36,
#   0.88), with layer-2 peakiness 0.51: its mean weight on the target is 0.27-0.79 by length,
#   lowest at the long lengths, which it still gets right (printed below);
# - **seed 1** never learns within the 12,800 steps: it sits at test 0.05-0.09 with layer-2
#   peakiness ~0.2 from step ~2,000 to ~5,300, like the grey runs, steps up to ~0.17 near step
#   5,900 while its layer-2 peakiness rises to ~0.3, then stays there to the cap, ending at mean
#   accuracy 0.17 with layer-2 peakiness 0.35 (printed below, with what it learned);
# - **seed 15** learns part of the task with no layer-2 head at all: its layer-2 peakiness stays
#   at 0.01 or less at the evaluations printed below (asserted: under 0.1 throughout), while its
#   test accuracy climbs from step ~4,000 (dotted in the figure) to mean accuracy 0.63 (right up
#   to length 6, 0.88-0.95 at lengths 7-8, 0.10-0.60 at lengths 9-15 and, oddly, 0.83 at length
#   16).
#
# (Polynomial seed 1 and parity seed 3 began on one CPU core and finished on a borrowed GPU; their
# printed minutes add both.)
#
# So the head forms in 15 of 20 seeds, 75 %, under our target of the head in at least 90 % of at
# least 10 seeds. Counting the task solved (mean accuracy at least 0.95) whatever the head, 17 of
# 20: seed 9 too, whose final score on every test string is 0.954, while the figure's curve,
# measured on 128 test strings per length during training, peaks at 0.949 and so never passes the
# title's 95 %. Seeds 9 and 13, slow learners still training in an earlier version of this notebook, split
# at the end: 13 reached the bar, 9 did not. The stop rule and the cap are ours **[ours]**: the
# authors train 1,000 epochs (64,000 steps), and three of the five failures (seeds 3, 9 and 17)
# solve the task or most of it with a weaker head that more training might sharpen (seed 9 was
# still improving at the cap). So our rate is for 200 epochs of shuffled batches, not for the
# authors' schedule.
#
# Parity with CoT is learned by all 16 seeds finished (0-15), at 0.97 or more on every length 4-16 (so also at
# the long lengths, where test strings are mostly new). Their accuracy climbs gradually, then steps
# up: 95 % between steps 1,120 and 6,560. But parity is solved without a clean head: no parity
# seed reaches the polynomial bar's layer-2 peakiness of 0.9 (the best is 0.78), and three seeds
# (5, 6 and 9, three of the four slowest to learn) end with layer-2 peakiness 0.06-0.12, no head at all
# by this score, yet right on every length. Parity's bar above therefore asks for accuracy only.
# How those three solve it is an open question; notebook 07 (section 5) comes back to these
# scores.
#
# **What did the failing polynomial seeds learn instead?** Their weights are kept (every
# polynomial run's are, in `data/runs/iteration16/`). Below: accuracy and the head's scores per
# length for seed 0 (a clean head, for reference) and the slow or failing seeds 1, 3, 9, 13, 15 and
# 17; then
# for seed 1, in layer 2, for 64 test strings of length 16, which chain-of-thought step's query
# puts more than half its weight on its target $x_{t+1}$, and where the others look (the key
# position each query attends to most, modal over strings); then, for seed 15, where each
# layer's queries look most, beside seed 0.

# %%
def shuffled_poly_run(seed):
    return next(r for r in shuffled if r["task"] == "polynomial" and r["seed"] == seed)


for seed in (0, 1, 3, 9, 13, 15, 17):   # seed 0 for reference, then the slow or failing seeds
    r = shuffled_poly_run(seed)
    print(f"seed {seed}: accuracy by length 1-16 ", " ".join(f"{r['acc_by_length'][str(L)]:.2f}" for L in range(1, 17)))
    print(f"        layer-2 peakiness by length 4-16", " ".join(f"{r['attention_per_length'][str(L)]['peaky'][1]:.2f}" for L in range(4, 17)))
    print(f"        layer-2 mean weight on the target  ", " ".join(f"{r['attention_per_length'][str(L)]['mean'][1]:.2f}" for L in range(4, 17)))
h1 = shuffled_poly_run(1)["history"]
print("\nseed 1 over training (step: test accuracy, layer-2 peakiness):", ", ".join(
    f"{st:,}: {h1.acc['test'][h1.steps.index(st)]:.2f}, {h1.metrics['peakiness layer 2'][h1.steps.index(st)]:.2f}"
    for st in (2_080, 5_280, 5_600, 5_920, 12_800)))
cell1 = {"kind": "control", "task": "polynomial", "cot": True, "seed": 1, "order": "shuffled"}
model1, _ = X.load_checkpoint(X._iteration16_weights(cell1, X.ITER16_DIR), expected=X.iteration16_model_config(cell1))
length16 = D.make_iteration_data("polynomial", "test", seed=1, lengths=[16], n_per_length=64)
_, cache1 = model1.run_with_cache(length16.inputs)
steps16 = torch.arange(16)
to_target = cache1["pattern", 1][:, 0, 17 + steps16, steps16 + 1]              # query EoI + t -> key x_{t+1}
on_target = (to_target > 0.5).float().mean(0)
looks_at = cache1["pattern", 1][:, 0, 17 + steps16].argmax(-1).mode(0).values  # key position, modal over strings
print("\nseed 1, length 16, layer 2, query of step t = 0..15 (EoI, s_1, ..., s_15):")
print("  share of strings on target x_(t+1):", " ".join(f"{v:.2f}" for v in on_target.tolist()))
print("  key position it reads most:        ", " ".join(f"{v:4d}" for v in looks_at.tolist()))
print("seed 1's layer-2 peakiness by length against 3/L:",
      " ".join(f"{shuffled_poly_run(1)['attention_per_length'][str(L)]['peaky'][1]:.2f}/{3 / L:.2f}" for L in range(4, 17)))
assert (on_target[:3] >= 0.9).all() and (on_target[3:] <= 0.1).all() and (looks_at[3:] == 0).all()
assert all(abs(shuffled_poly_run(1)["attention_per_length"][str(L)]["peaky"][1] - 3 / L) < 0.05 for L in range(4, 17))
for seed in (9, 13):   # the two slowest learners: a head on the short and middle lengths, weak on the longest
    per_length = shuffled_poly_run(seed)["attention_per_length"]
    assert min(per_length[str(L)]["peaky"][1] for L in range(4, 13)) >= 0.75 and per_length["16"]["peaky"][1] < 0.7


def where_queries_look(model, strings, length):
    """Per layer: the share of (string, query) pairs, over the queries EoI, s_1, ..., s_(L-1), whose
    most-attended key is the head's target x_(t+1), the position just before the query, or EoI."""
    _, cache = model.run_with_cache(strings.inputs)
    t = torch.arange(length)
    queries = length + 1 + t
    shares = []
    for layer in range(2):
        top = cache["pattern", layer][:, 0, queries].argmax(-1)   # [string, query]
        shares.append({"x_(t+1)": (top == t + 1).float().mean().item(), "previous position": (top == queries - 1).float().mean().item(),
                       "EoI": (top == length + 1).float().mean().item()})
    return shares


cell15 = {"kind": "control", "task": "polynomial", "cot": True, "seed": 15, "order": "shuffled"}
model15, _ = X.load_checkpoint(X._iteration16_weights(cell15, X.ITER16_DIR), expected=X.iteration16_model_config(cell15))
print("\nseed 15, layer-2 peakiness over training:", " ".join(f"{v:.2f}" for v in shuffled_poly_run(15)["history"].metrics["peakiness layer 2"][::8]))
print("seed 15 against seed 0: where each layer's queries look most (share of queries, 64 test strings per length)")
model0, _ = X.load_iteration16_polynomial()   # the shipped seed 0
looks15 = {}
for length in (8, 12, 16):
    strings = D.make_iteration_data("polynomial", "test", seed=15, lengths=[length], n_per_length=64)
    looks15[length] = where_queries_look(model15, strings, length)
    for name, shares in (("seed 15", looks15[length]), ("seed 0", where_queries_look(model0, strings, length))):
        print(f"  length {length:2d}, {name:7s}: " + "; ".join(
            f"layer {layer + 1}: " + ", ".join(f"{k} {v:.2f}" for k, v in shares[layer].items()) for layer in range(2)))
assert max(shuffled_poly_run(15)["history"].metrics["peakiness layer 2"]) < 0.1   # never a layer-2 head
assert all(looks15[L][1]["x_(t+1)"] < 0.1 and looks15[L][1]["previous position"] >= 0.3 for L in looks15)
assert max(looks15[L][0]["x_(t+1)"] for L in looks15) >= 0.3   # layer 1 reads the target for some steps

# %% [markdown]
# Seed 1 built a head that runs **three steps**: the queries of EoI, $s_1$ and $s_2$ put more than
# half their weight on $x_1$, $x_2$ and $x_3$ on every string, and from $s_3$ on, each query's
# most-attended key (modal over the strings) is position 0, the task token (an attention sink). So
# its layer-2 peakiness is 3/L at every length L, and its accuracy falls with length: right up to
# length 4, 0.81 at length 5, then down to 0 from length 9. (How it gets length 4 right, and
# length 5 mostly, without reading $x_4$ is not measured here; under the authors' data rule some
# test strings of these lengths are also training strings, which a model can memorise.) It learned the loop for a few steps and never extended it. Seed
# 3 has the whole loop: every length is right, and its layer-2 peakiness is 0.75-0.92 at every
# length, lowest at the shortest and the two longest lengths. Its mean weight on the target is
# 0.62-0.84 by length, against 0.84-0.92 for seed 0 (printed above): a softer head, whose
# weight on the target falls under 0.5 for more queries, yet enough for the MLP.
#
# Seeds 9 and 13, the two slowest learners, have a head that is good on the short and middle
# strings and weak on the longest: layer-2 peakiness 0.8-1.0 at lengths 4-12 (asserted: at least 0.75), and at
# length 16 only 0.25 (seed 9) and 0.62 (seed 13). Their accuracy fails first at the longest
# lengths too (seed 9: 0.65 at length 15; seed 13: 0.89 at length 16, right everywhere else).
#
# Seed 15 has no head in layer 2 at all. Its layer-2 queries most often read the position just
# before them (0.31-0.67 of the queries, by length), almost never $x_{t+1}$ (at most 0.03). Its layer 1
# reads the target $x_{t+1}$ for about a third of the queries at lengths 8 and 12, where seed 0's
# layer 1 reads EoI and seldom $x_{t+1}$ (printed above). Part of the lookup sits in layer 1. One
# reading **[ours]**, not tested: a layer-1 query knows its own position but not yet where EoI
# is, so it cannot find $x_{t+1}$ for every length, which would fit a model right on the short
# lengths and on only some of the long ones.
#
# In the layer-2 peakiness panel most polynomial runs sit near 0.12 from step ~300 to ~1,200
# (printed above: the median over those steps is 0.09-0.16 in 17 of 20 seeds, 0.00-0.06 in seeds 3,
# 15 and 17; parity runs vary more, 0.00-0.52). That
# is about the mean of $1/L$ over lengths 4-16 (0.12), as if one target query per string were on
# target, for instance the first chain-of-thought position attending to the position just before
# it: a hypothesis **[ours]**, not checked here, and not yet a head.
#
# Why would the order matter this much? One explanation **[ours]**, not tested: in the authors'
# order, 4 updates in a row see one length (1,024 training strings of it, 256 a batch), then 4
# see the next, lengths 1 to 16 in each epoch of 64 updates; the gradient switches task-size
# every 4 steps instead of averaging over all lengths. Whether the authors' full 1,000 epochs
# get there, and in how many seeds, is what the GPU study (`iteration16_sweep`) will tell.
#
# The polynomial model of seed 0 is shipped (`data/iteration16_polynomial.pt`). Its attention on
# one test string of length 10 (its 22 tokens; the 12 EoS pads that fill the 34 positions are cut off), and its peakiness on
# 64 test strings of every length 4-16, with section 3's measure of where layer 1 looks, to
# compare like for like with the n_len-8 checkpoint there: fewer chain-of-thought queries miss EoI
# here, and the EoI query leans less on $x_1$ in layer 1 (printed below). In layer 2 almost every row
# reads the next input, the EoI row included: that is the head.

# %%
model16, meta16 = X.load_iteration16_polynomial()
one = D.make_iteration_data("polynomial", "test", n_per_length=1, seed=3, lengths=[10])
_, cache16 = model16.run_with_cache(one.inputs)
fig, axes = plt.subplots(1, 2, figsize=(16, 7.5))
real = 2 * 10 + 2   # task token, 10 inputs, EoI, 10 states; the EoS pads after them are cut off
labels = D.iteration_role_labels(one.inputs[0])[:real]
for layer in range(2):
    plot_attention(cache16["pattern", layer][0, 0, :real, :real], labels, ax=axes[layer], title=f"layer {layer + 1}")
fig.suptitle("n_len 16, shipped polynomial model: layer 2 reads $x_{k+1}$ at step $k$, layer 1 mostly reads EoI")
fig.tight_layout()
plt.show()
every_length = X.per_length_sample(D.make_iteration_data("polynomial", "test", seed=0), 64)
missed16, shares16, eoi_on_x1_16 = layer1_reads(model16, every_length)   # section 3's measure, like for like
print(f"layer 1, queries s_1..s_(L-1) that give EoI at most 0.5: {missed16:.0%} here (64 test strings of each length 4-16), "
      f"{missed:.0%} for section 3's n_len-8 checkpoint; the EoI query's layer-1 weight on x_1: {eoi_on_x1_16:.2f} here, "
      f"{eoi_on_x1:.2f} there")
peaks16 = A.peakiness(model16, every_length, min_length=X.MIN_TEST_LENGTH)
print(f"peakiness on lengths 4-16: layer 1 {peaks16[0]:.2f}, layer 2 {peaks16[1]:.2f} "
      f"(the sweep recorded {meta16['peakiness'][0]:.2f} / {meta16['peakiness'][1]:.2f} on 256 strings per length)")
assert peaks16[1] >= 0.9 and abs(peaks16[1] - meta16["peakiness"][1]) < 0.03
assert missed16 < missed and eoi_on_x1_16 < eoi_on_x1

# %% [markdown]
# ### The authors' controls at n_len 16
#
# The authors' repository carries three controls beside the main runs (`projects/cot/notebooks/`).
# `show_scaling.ipynb` maps accuracy over embedding dimension (4-63) by maximum length (4-31), with
# and without CoT, one run per cell, and repeats it with a **one-layer** model. `show_position.ipynb`
# compares learned position embeddings with **frozen** ones: their `freeze_pos` keeps the position
# table at its random initialisation, never trained (`src/cot/models/transformer.py`), which is
# what the course's `freeze_pos` does too. We run them in our setting **[ours]**: the authors'
# model otherwise, shuffled batches, the same stop rule and 12,800-step cap, three seeds each
# planned (`python -m helpers.experiments iteration16_controls`). The width x length grid is
# polynomial iteration with and without CoT at d_model 16, 32, 64 and 128 by n_len 8, 12, 16 and
# 24: 32 cells of 6,400 steps, one seed each. Six cells are run so far (n_len 8 at d_model 16-64,
# printed below); the rest waits for a GPU.
#
# **Predict:** can a one-layer model learn polynomial iteration with CoT at n_len 16? Parity? And
# does a model whose position table is random and frozen still form the head?

# %%
controls = [r for r in sweep16["runs"] if X.is_authors_control(r) and ("n_layers" in r or "freeze_pos" in r)]
variant = lambda r: ("one layer" if "n_layers" in r else "frozen positions" if "freeze_pos" in r
                     else f"d_model {r['d_model']}, n_len {r['n_len']}, {'with' if r['cot'] else 'no'} CoT")
for r in sorted(controls, key=lambda r: (variant(r), r["task"], r["seed"])):
    n_len = r.get("n_len", 16)
    peaks = "no peakiness (one layer)" if r["peakiness"] is None else \
        f"peakiness layer 1 / layer 2 {r['peakiness'][0]:.2f} / {r['peakiness'][1]:.2f}"
    reached = r["history"].steps_to("test", 0.95)
    print(f"{variant(r):17s} {r['task']:<10} seed {r['seed']}: 95 % {f'at step {reached:,}' if reached else 'never reached'} "
          f"(ran {r['history'].steps[-1]:,}); mean accuracy 4-{n_len} {X.mean_accuracy_over_lengths(r, n_len):.2f}, "
          f"worst length {X.worst_length_accuracy(r, n_len):.2f}; {peaks}")
pending = [c for c in sweep16["pending"] if X.is_authors_control(c)]
print("two-layer parity seeds, median step of 95 %:",
      f"{np.median([r['history'].steps_to('test', 0.95) for r in shuffled if r['task'] == 'parity']):,.0f}")
grid = [r for r in sweep16["runs"] if "d_model" in r]
for r in sorted(grid, key=lambda r: (r["n_len"], r["d_model"], not r["cot"])):
    reached = r["history"].steps_to("test", 0.95)
    print(f"grid: n_len {r['n_len']}, d_model {r['d_model']:3d}, {'with' if r['cot'] else 'no  '} CoT: mean accuracy "
          f"4-{r['n_len']} {X.mean_accuracy_over_lengths(r, r['n_len']):.2f}, 95 % {f'at step {reached:,}' if reached else 'never reached'}")
for r in (r for r in sweep16["in_progress"] if X.is_authors_control(r)):
    print(f"still training: {variant(r)}, {r['task']} seed {r['seed']}, at step {r['step']:,} test accuracy "
          f"{r['history'].acc['test'][-1]:.2f}")
print(f"\nnot finished yet: {len(pending)} control cells, {sum('d_model' in c for c in pending)} of them in the width x length grid "
      f"({len(grid)} of {len(grid) + sum('d_model' in c for c in pending)} run)")
one_layer_poly = [r for r in controls if "n_layers" in r and r["task"] == "polynomial"]
one_layer_parity = {r["seed"]: r for r in controls if "n_layers" in r and r["task"] == "parity"}
frozen = [r for r in controls if "freeze_pos" in r]
assert len(one_layer_poly) >= 3 and all(X.mean_accuracy_over_lengths(r) < 0.1 for r in one_layer_poly)
assert X.worst_length_accuracy(one_layer_parity[2]) >= 0.9 and X.mean_accuracy_over_lengths(one_layer_parity[0]) < 0.5
if 1 in one_layer_parity:   # part of the way: the short lengths, not the long ones
    r = one_layer_parity[1]
    print(f"one layer, parity seed 1: accuracy by length 4-16", " ".join(f"{r['acc_by_length'][str(L)]:.2f}" for L in range(4, 17)),
          "| test accuracy over the last five evaluations", " ".join(f"{a:.2f}" for a in r["history"].acc["test"][-5:]))
    assert min(r["acc_by_length"][str(L)] for L in range(4, 8)) >= 0.9 and X.worst_length_accuracy(r) < 0.9
frozen = {r["seed"]: r for r in frozen}
assert all(X.iteration16_reaches_goal(frozen[s]) for s in (0, 2))
if 1 in frozen:   # like seed 1 with learned positions: right only on the short strings
    assert X.mean_accuracy_over_lengths(frozen[1]) < 0.5 and frozen[1]["acc_by_length"]["5"] >= 0.9

# %% [markdown]
# - **One layer, polynomial:** none of the three seeds learns it (mean accuracy 0.03-0.04 over
#   lengths 4-16 after all 12,800 steps). The authors' one-layer map (`show_scaling.ipynb`, the
#   plot titled "With one layer", read by eye) is near 0 too, except at lengths up to about 6. The
#   two-layer model learns it (mean accuracy at least 0.95) in 17 of 20 seeds: here the second layer is needed.
# - **One layer, parity:** seed 2 learns parity at every length (95 % at step 6,400, later than
#   every two-layer parity seed but seed 9, at 6,560; their median is printed), seed 0 does not (mean 0.17), and
#   seed 1 gets part of the way: right up to length 7, mean 0.73 at the cap, its test accuracy
#   mostly rising over the last evaluations (0.61 to 0.73, printed). The authors' one-layer parity map (we read it by eye off the plot their notebook draws)
#   succeeds only up to lengths of about 10-15, at large widths. So seed 2 goes beyond it: one
#   layer can do parity with CoT at n_len 16 in some seeds. Why one layer can is open: the state $s_{t}$ needs
#   $s_{t-1}$, which is the query's own token, and $x_t$, whose position depends on the length
#   of the string.
# - **Width x length, n_len 8, d_model 16-64 (polynomial, one seed each):** with CoT, d_model 64 learns the task, 16 and 32
#   do not within the 6,400 steps; without CoT no width learns it (printed above). The authors'
#   map has CoT succeed from roughly 10-12 dimensions at this length (read by eye), after 1,000 of
#   their epochs: our budget may be too short for the small widths. The rest of the grid is open.
# - **Frozen positions:** seeds 0 and 2 learn polynomial iteration with the head (layer-2
#   peakiness 0.98, 95 % at steps 2,240 and 1,920, against 2,080 for the learned-position seeds 0
#   and 2). Seed 1 does not: after all 12,800 steps it is right only on short strings (printed
#   above: mean accuracy 0.26 over lengths 4-16), like seed 1 with learned positions, which never learned
#   either. The same seed fails with both position tables, so its failure is not the frozen
#   table's doing. With 128 dimensions a random position table is enough in 2 of 3 seeds; the authors' frozen-position
#   map (`show_position.ipynb`, read by eye) needs more dimensions only as lengths grow (about
#   15-20 at length 30, against about 8-10 for learned positions).
#
# Two or three seeds per control are a first look, not rates.

# %% [markdown]
# ## 7. Why chain-of-thought: parity with and without CoT
#
# Parity of $L$ bits is hard to learn in one step: without CoT the model must output
# $x_1 \oplus \dots \oplus x_L$ right after EoI. With CoT it writes the running parity, one easy
# step at a time. Shipped results, 3 seeds each, 4,000 steps from scratch; accuracy by length on
# the test split (lengths 1-3 share their few strings with training, see notebook 01).
#
# **Chance levels.** A sequence counts as right only if every position after EoI is right.
# Without CoT those positions hold $s_L$ and then EoS pads, which any trained model gets right:
# a model that guesses the final bit at random scores 0.5 per sequence, and the best constant
# answer scores the share of the commoner parity among the test strings (computed below). With
# CoT all $L$ states must be right: a random guesser scores $2^{-L}$.
#
# ### Exercise 1 · Predict, then run: which lengths does parity learn?
# > **Difficulty:** 🔴🔴⚪⚪⚪ · **Time:** ~5 min · before you run the next cells
#
# For each case, will **every** seed of the shipped sweep reach 95 % test accuracy at that length
# (`True`) or not (`False`)? Fill in the dict and run the cell; the plot after the solution shows
# the answer.
#
# <details><summary>Hint</summary>
#
# Without CoT, one step must compute a function of all 8 bits that flips whenever any single bit
# flips. With CoT, a layer-2 head like the one of section 2 would solve every length at once,
# *if* it forms. Count the examples, too: there are $2^5 = 32$ strings of length 5 and the
# disjoint split these runs use (`X.ITER_SPLIT_RULE`, notebook 01) gives half of them to training;
# how many of length 8 does training see?
# </details>

# %%
my_prediction = {
    "CoT, length 8": None,      # True or False
    "CoT, length 5": None,
    "no CoT, length 8": None,
}
E.check_parity_prediction(my_prediction)

# %% [markdown]
# <details><summary><b>Solution</b> (click to open)</summary>
#
# ```python
# my_prediction = {"CoT, length 8": True, "CoT, length 5": False, "no CoT, length 8": False}
# ```
#
# With CoT, length 8 is solved in every seed and length 5 in none: from scratch, at this budget,
# no seed forms a clean iteration head for parity, and the short lengths, of which training sees
# only a few distinct strings, fail (the cells below count them). Without CoT, length 8 stays
# no better than always giving the commoner answer.
# </details>

# %%
fig, ax = plt.subplots(figsize=(8, 3.8))
final, best_constant = {}, []
for cot in (True, False):
    runs = [r for r in sweep["runs"] if r["kind"] == "scratch" and r["task"] == "parity" and r["cot"] == cot]
    lengths = sorted(int(k) for k in runs[0]["acc_by_length"])
    curves = [[r["acc_by_length"][str(L)] for L in lengths] for r in runs]
    plot_curve_band(ax, lengths, curves, label=f"{'with' if cot else 'without'} CoT (mean of {len(runs)} seeds; band: min-max)")
    final[cot] = [c[-1] for c in curves]
for r in runs:  # the no-CoT runs: share of the commoner final bit s_L among their length-8 test strings
    test8 = D.make_iteration_data("parity", "test", n_len=X.N_LEN, cot=False, seed=r["seed"], lengths=[8], split_rule=X.ITER_SPLIT_RULE)
    s_L = test8.targets[torch.arange(len(test8)), test8.info["eoi_pos"]].float()   # EoI predicts s_L
    best_constant.append(max(s_L.mean().item(), 1 - s_L.mean().item()))
ax.axhline(0.5, color="grey", ls=":", label="chance without CoT: 0.5 (coin flip on $s_L$)")
ax.plot(lengths, [0.5 ** L for L in lengths], color="grey", ls="--", lw=1, label="chance with CoT: $2^{-L}$")
ax.set(xlabel="length L", ylabel="test accuracy", ylim=(-0.03, 1.03),
       title="Parity from scratch: CoT solves length 8; without CoT, length 8 is no better than a constant answer")
ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2)
fig.tight_layout()
plt.show()
print("length 8, with CoT:", [round(a, 3) for a in final[True]], "| without CoT:", [round(a, 3) for a in final[False]])
print("without CoT, best constant answer on the same test strings:", [round(a, 3) for a in best_constant])
assert min(final[True]) >= 0.95
assert all(a < c for a, c in zip(final[False], best_constant))   # below the best constant answer, every seed

# %% [markdown]
# Without CoT, no seed beats the best constant answer at length 8: the model has not learned
# parity there at all. With CoT the **longest** strings are solved in every seed, but the shorter
# test lengths are not, and layer 2's peakiness (recorded on length-4 test strings) stays low.
# Count what training sees of each length:

# %%
runs = [r for r in sweep["runs"] if r["kind"] == "scratch" and r["task"] == "parity" and r["cot"]]
print("CoT, final test accuracy (lengths 4-8):", [round(r["history"].final("test"), 2) for r in runs],
      "| layer-2 peakiness (sweep, length-4 strings):", [round(r["history"].metrics["peakiness layer 2"][-1], 2) for r in runs])
train = D.make_iteration_data("parity", "train", n_len=X.N_LEN, seed=0, split_rule=X.ITER_SPLIT_RULE)
mean_acc = []
for L in range(X.MIN_TEST_LENGTH, X.N_LEN + 1):
    n_strings = len(torch.unique(train.inputs[train.info["lengths"] == L, 1:L + 1], dim=0))
    accs = [r["acc_by_length"][str(L)] for r in runs]
    mean_acc.append(sum(accs) / len(accs))
    print(f"length {L}: {n_strings:3d} distinct training strings; CoT test accuracy per seed",
          [round(a, 2) for a in accs], f"(mean {mean_acc[-1]:.2f})")
assert mean_acc == sorted(mean_acc)

# %% [markdown]
# One reading **[ours]**: without a head that works at every length, the model learns each length on its own,
# and a length is learned about as well as training covers it: 8 distinct strings of length 4,
# 128 of length 8 (half of each length's strings are kept for the test), and the mean accuracy
# over seeds rises with that count. Notebook 07 shows what a head learned on another task does
# for parity: test accuracy over lengths 4-8 passes 95 % within tens of steps.
#
# Two more things the figure shows, compared length by length below. At length 4 the no-CoT
# runs score *above* the CoT runs on average, yet each has its own chance level: without CoT one
# bit decides, so a coin flip scores 0.5; with CoT all $L$ states must be right ($2^{-L}$, 0.06
# at length 4). And without CoT, how far below a coin flip do the seeds go? The cell prints each
# seed, how many distinct test strings a length has, and the best constant answer.

# %%
no_cot = [r for r in sweep["runs"] if r["kind"] == "scratch" and r["task"] == "parity" and not r["cot"]]
mean_no_cot = {L: float(np.mean([r["acc_by_length"][str(L)] for r in no_cot])) for L in range(X.MIN_TEST_LENGTH, X.N_LEN + 1)}
mean_cot = dict(zip(range(X.MIN_TEST_LENGTH, X.N_LEN + 1), mean_acc))
for L in mean_cot:
    tests = [D.make_iteration_data("parity", "test", n_len=X.N_LEN, cot=False, seed=r["seed"], lengths=[L],
                                   split_rule=X.ITER_SPLIT_RULE) for r in no_cot]
    distinct = len(torch.unique(tests[0].inputs[:, 1:L + 1], dim=0))
    share_one = [t.targets[torch.arange(len(t)), t.info["eoi_pos"]].float().mean().item() for t in tests]
    print(f"length {L} ({distinct} distinct test strings): CoT mean {mean_cot[L]:.2f} (chance {0.5 ** L:.3f}) | no CoT per seed "
          f"{[round(r['acc_by_length'][str(L)], 2) for r in no_cot]} (coin flip 0.5; best constant {[round(max(p, 1 - p), 2) for p in share_one]})")
assert mean_no_cot[4] > mean_cot[4] and mean_cot[8] > mean_no_cot[8]
assert all(r["acc_by_length"][str(L)] < 0.45 for r in no_cot for L in (6, 7))

# %% [markdown]
# At lengths 6 and 7 every seed scores below a coin flip (0.24-0.40): there the no-CoT models
# answer unseen strings systematically wrong. At length 4, with only 8 distinct test strings, the
# seeds split, from 0.11 to 0.63 (seed 0's 0.62 equals its best constant answer); at length 8
# they sit at 0.35-0.51: one seed a hair above a coin flip (0.515), all three below their best
# constant answer (0.52-0.54). One explanation **[ours]**, not tested here: a model
# that answers an unseen string like the training strings that look most like it fails at
# parity by design, because the training strings one bit away all have the other answer. That
# alone would predict accuracies near 0, far below the 0.24-0.40 observed, so at most it explains
# part of the effect.

# %% [markdown]
# ## Exercises
#
# Exercise 1 (a prediction) sat in section 7. The next three ask you to write the pieces this
# notebook used: the authors' sequence accuracy, the map that says where an ideal layer-2 head
# looks, and peakiness. Each checker calls your function on fresh random inputs, compares it
# with a reference and says what differs. An open question closes the notebook.
#
# ### Exercise 2 · Score a sequence as the authors do
# > **Difficulty:** 🔴⚪⚪⚪⚪ · **Time:** ~5 min
#
# Every test accuracy in this notebook is the authors' *sequence* accuracy, teacher-forced: the model
# reads the true sequence, predicts the next token at every position, and a string counts as
# right only when every prediction from EoI on is right (EoI predicts $s_1$, the query holding
# $s_L$ predicts EoS, and the EoS pads predict EoS). Predictions made while the model reads the
# input are not scored: the inputs are random.
#
# Write `my_sequence_accuracy(predictions, targets, eoi_pos)`: `predictions` and `targets` are
# integer tensors `[n, T]` (the token predicted at each position, and the right one),
# `eoi_pos` a tensor `[n]` with the position of each row's EoI token. Return the share of rows
# right at every position from `eoi_pos` on, as a float.
#
# <details><summary>Hint</summary>
#
# Build a boolean mask of the scored positions, `torch.arange(T)[None, :] >= eoi_pos[:, None]`;
# a row is right when `(predictions == targets) | ~mask` holds everywhere, `.all(dim=1)`.
# </details>

# %%
def my_sequence_accuracy(predictions, targets, eoi_pos):
    # YOUR CODE HERE: a float in [0, 1]
    raise NotImplementedError


E.check_sequence_accuracy(my_sequence_accuracy)

# %% [markdown]
# <details><summary><b>Solution</b> (click to open)</summary>
#
# ```python
# def my_sequence_accuracy(predictions, targets, eoi_pos):
#     scored = torch.arange(targets.shape[1])[None, :] >= eoi_pos[:, None]
#     return ((predictions == targets) | ~scored).all(dim=1).float().mean().item()
# ```
#
# Averaged over tokens instead, the same predictions score much higher: one wrong state in a
# string of 16 costs that string entirely here, but only 1/17 of its scored predictions (EoI,
# $s_1, \dots, s_{16}$).
# </details>

# %% [markdown]
# ### Exercise 3 · Where should layer 2 look?
# > **Difficulty:** 🔴🔴⚪⚪⚪ · **Time:** ~10 min
#
# Write `my_layer2_targets(tokens, eoi)`: `tokens` is a batch of model inputs `[n, T]` (strings
# of mixed lengths, each with one EoI token, whose id is `eoi`). Return a `LongTensor [n, T]`
# that holds, for every query position, the input position an ideal layer-2 iteration head reads
# to predict the next token, and `-1` at the queries that have no such target (the input
# itself, the last state, which predicts EoS, and the EoS pads after it). It is the map behind
# the shifted diagonal of section 3 and behind layer 2's peakiness.
#
# <details><summary>Hint</summary>
#
# With the prefix at position 0, EoI sits at $L+1$: `(tokens == eoi).int().argmax(dim=1)`. The
# query at EoI $+\,k$ holds $s_k$ (EoI plays $s_0$) and predicts $s_{k+1}$, which needs $x_{k+1}$
# at position $k+1$, for $k = 0, \dots, L-1$. Build all queries at once with `torch.arange(T)`
# and `torch.where`.
# </details>

# %%
def my_layer2_targets(tokens, eoi):
    # YOUR CODE HERE: a LongTensor [n, T], -1 where a query has no target
    raise NotImplementedError


E.check_layer2_targets(my_layer2_targets)

# %% [markdown]
# <details><summary><b>Solution</b> (click to open)</summary>
#
# ```python
# def my_layer2_targets(tokens, eoi):
#     eoi_pos = (tokens == eoi).int().argmax(dim=1, keepdim=True)   # L + 1
#     q = torch.arange(tokens.shape[1])[None, :]
#     has_target = (q >= eoi_pos) & (q < 2 * eoi_pos - 1)           # EoI, s_1, ..., s_{L-1}
#     return torch.where(has_target, q - eoi_pos + 1, -1)           # query EoI + k -> x_{k+1}
# ```
#
# </details>

# %% [markdown]
# ### Exercise 4 · Implement peakiness
# > **Difficulty:** 🔴⚪⚪⚪⚪ · **Time:** ~5 min
#
# Write `my_peakiness(pattern, queries, keys)`: `pattern` is one head's `[query, key]`
# attention map, `queries[i]` and `keys[i]` a query and the key it *should* attend to; return
# the fraction of those target weights above 0.5 (paper B's peakiness). The solution then uses
# it with exercise 3's map to measure the model of section 2.
#
# <details><summary>Hint</summary>
#
# One weight per (query, key) pair: `pattern[queries, keys]` indexes the pairs, while
# `pattern[queries][:, keys]` takes a whole block.
# </details>

# %%
def my_peakiness(pattern, queries, keys):
    # YOUR CODE HERE: a float in [0, 1]
    raise NotImplementedError


E.check_peakiness(my_peakiness)

# %% [markdown]
# <details><summary><b>Solution</b> (click to open)</summary>
#
# ```python
# def my_peakiness(pattern, queries, keys):
#     return (pattern[queries, keys] > 0.5).float().mean().item()
#
# # layer 2 of the section-2 model on the section-3 sample, with exercise 3's map:
# keys = E.solution_layer2_targets(sample.inputs, D.EOI)[0]
# queries = (keys >= 0).nonzero().squeeze(1)
# print(my_peakiness(cache["pattern", 1][0, 0].cpu(), queries, keys[queries]), A.peakiness(model, sample)[1])
# ```
#
# </details>

# %% [markdown]
# ### Open question · What does layer 1 do?
#
# The models of this notebook solve the task, yet many chain-of-thought queries do not read EoI
# in layer 1 (section 3, the shipped checkpoint), while ablating layer 1's attention costs at
# least half of the accuracy (section 4). So layer 1 matters, but it does not simply read EoI.
# How else could the query at position $q$ find out how long the input was? Propose a
# mechanism, and an experiment that tells it apart from "read EoI".
#
# <details><summary>Answer</summary>
#
# A reading **[ours]**, not measured here. Layer 2 must read position $q - L$, and the query knows
# $q$ from its own position embedding, so layer 1 only has to deliver $L$ (or $q - L$). Reading
# EoI with one sharp weight is one way; others score badly on peakiness and work as well:
#
# - read another token whose position is tied to $L$: $x_L$ just before EoI, or $s_1$ right after;
# - split the attention between the prefix token (the sink of section 3) and the rest: the
#   prefix token is the same in every sequence, so its weight says nothing by itself, but how
#   much is left for the input tokens, and what they carry, can depend on $L$;
# - spread the attention over many tokens: averaging over every earlier position gives each one a
#   weight $1/(q+1)$, so a value that marks "input token" comes out as about $L/(q+1)$, from
#   which the layer-1 MLP, knowing $q$, can recover $L$.
#
# Experiments: sum layer 1's attention over the prefix, the input positions, EoI and the states
# as section 3 does, but query by query and length by length; force layer 1's pattern to the
# ideal one alone (`A.iteration_head_by_hand` with `layers=(0,)` patches layer 1 only) and see whether accuracy holds; patch layer
# 1's output from a sequence of another length and check whether layer 2 shifts its read by the
# difference in length.
# </details>
#
# ## Summary
#
# - With CoT, a 2-layer transformer learns polynomial iteration through an **iteration head**:
#   layer 2 attends from step $k$ to $x_{k+1}$ (peakiness → 1), and accuracy jumps once it forms.
# - Layer 1 reads EoI only from some queries at this scale: in the shipped checkpoint the others
#   put the largest share of their weight on the task-prefix token at position 0 (an attention
#   sink), the rest on the inputs and earlier states (section 3 prints the shares), and the EoI
#   query reads $x_1$.
# - The head is causal: changing $x_t$ changes only $s_t$, and ablating layer 2 breaks the loop.
# - It is sufficient: with both patterns set by hand, the rest of the model learns the task
#   faster than a free model finds the head.
# - Without CoT, 8-bit parity stays no better than a constant answer at the same budget: 0.35-0.51 per seed,
#   against 0.5 for a coin flip on the final bit and 0.52-0.54 for the best constant answer on
#   these test strings. With CoT
#   length 8 is solved, though from scratch the shorter lengths, which training covers with few
#   distinct strings, are not (notebook 07 fixes that with pretraining).
# - Not every seed finds the head: 3 of 5 polynomial seeds reach 95 % within 4,000 steps here.
# - At the authors' scale (n_len 16, their model and data), with shuffled batches **[ours]**,
#   15 of 20 polynomial seeds form the head (14 pass 95 % at steps 1,600-2,560, seed 13 only at
#   11,200; layer-2 peakiness 0.95-0.99): 75 %, under our 90 % target. Seeds 3, 9 and 17 solve the
#   task, or most of it, with a less peaked head (0.85, 0.86, 0.51); seed 15 learns part of it with
#   no layer-2 head, reading some targets in layer 1; seed 1 never learns in 12,800 steps (its head
#   runs only the first three steps). All 16 finished parity seeds learn every length 4-16, three
#   of them (5, 6, 9) with layer-2 peakiness 0.12 or less. In the authors' length-by-length order a
#   GPU pass had not learned polynomial in 6,400 steps (3 seeds). A one-layer model learns
#   polynomial in none of 3 seeds (parity at every length in 1 of 3); frozen random positions
#   form the head in 2 of 3 (the third is seed 1, which fails with learned positions too).
