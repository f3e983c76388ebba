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
# # 08 · Chain-of-thought against the depth bound, and four mystery models
#
# [![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/reasoning-circuits/reasoning-circuits-course/blob/main/notebooks/08_cot_vs_depth.ipynb)
#
# **Run time on a laptop CPU: about 1 minute on a slow 2-core laptop.** *Instant path:* a
# shipped sweep (`python -m helpers.experiments chain_cot_sweep`, 21 runs, ~1.5 h on 2 cores) and
# four shipped mystery models (`python -m helpers.experiments mysteries`, ~3 min).
# *Train it yourself:* section 3 trains a 2-layer chain-of-thought model live (about 35 s) and a
# button trains any depth, with or without chain-of-thought.
#
# The two papers of this course meet at a question neither asks. Paper A (notebooks 02-05)
# finds that a transformer **without** chain-of-thought advances at most one hop per layer: the
# trained models of notebook 05 solve at most $L-1$ hops with $L$ layers. Paper B (notebooks
# 06-07) finds that **chain-of-thought** (CoT) turns an iterative task into one step repeated,
# done by a two-layer circuit that finds its input **by position** (the iteration head). So:
#
# > **Does chain-of-thought break paper A's depth bound, and which mechanism does each step
# > use: paper A's matching by content, or paper B's positional iteration head?**
#
# This experiment is **ours** [ours]: the task format, the training recipe and the
# interventions are the course's, built from both papers' tools. You will learn:
#
# 1. how to turn the chain task into a chain-of-thought task, and why its loss is on every step;
# 2. what depth 2, 3 and 4 solve with and without it (a shipped sweep, 3 seeds per cell);
# 3. how to decide a mechanism with an **intervention**, not only with a picture;
# 4. how to diagnose an unknown model with the whole course's toolbox (the capstone).
#
# Four checked exercises (a prediction, a function, an intervention prediction, the mystery
# models) and an open question.

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
from dataclasses import replace

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import display

from helpers import DATA_DIR
from helpers import analysis as A
from helpers import exercises as E
from helpers import experiments as X
from helpers.data import chain_token_labels, decode_chain, make_chain_data, with_pairs_reordered
from helpers.plots import (plot_attention_layers, plot_cot_depth_table, plot_grid, plot_matrix,
                           save_thumbnail)
from helpers.train import evaluate

torch.set_num_threads(int(os.environ.get("COURSE_TORCH_THREADS", 1)))  # 1 thread unless you set COURSE_TORCH_THREADS

# %% [markdown]
# ## 1. The chain task with chain-of-thought
#
# Without CoT (notebooks 01-05), a question is six shuffled pairs, then the start node $x_i$,
# and the model must output $x_{i+k}$ at once; with mixed hop counts a **hop token** before the
# start says $k$ (notebook 05's "with order" format). **With CoT**, the model writes the whole
# path $x_{i+1}, x_{i+2}, \dots, x_{i+k}$, one node per position. Training is teacher forced:
# each position sees the true path so far and is scored on the next node, so the loss covers
# every step; a question counts as solved only when **every** step is right. No hop token is
# needed: the path says how far it has gone. The same seed asks the same questions in both
# formats, and the splits follow the authors' residue rules (notebook 01).

# %%
cot_data = make_chain_data(4, [3], "test_id", seed=0, cot=True)
plain = make_chain_data(4, [3], "test_id", seed=0)
q = cot_data.info["question_pos"]
print("without CoT:", decode_chain(plain.inputs[0].tolist(), plain.labels[0]))
print("with CoT:   ", decode_chain(cot_data.inputs[0, :q + 1].tolist()),
      "| the path the model must write (its targets):", cot_data.targets[0, q:q + 3].tolist())
print("scored positions (mask):", cot_data.mask[0].nonzero().flatten().tolist(),
      "of", cot_data.inputs.shape[1], "inputs")
assert cot_data.targets[0, q + 2] == plain.labels[0]          # the last step is the old answer

# %% [markdown]
# Each CoT step is a **1-hop** question: "which node follows the one I just wrote?". Notebook 02
# showed that one hop needs two attention layers (layer 0 pairs the tokens, layer 1 matches).
#
# ### Exercise 1 · Predict the depth table
# > **Difficulty:** 🔴🔴⚪⚪⚪ · **Time:** ~5 min
#
# Models with $L \in \{2, 3, 4\}$ layers were trained on mixed 1- to 6-hop questions over
# 7-node chains, with and without CoT, 3 seeds each, with the same budget (at most 4,000 steps of
# batch 256; CoT runs stop when test-ID reaches 99 %), plus a **1-layer** model with CoT as a
# control. For each cell, predict the **median over seeds of the largest $k$ solved** (every hop
# count $1..k$ at ≥ 95 % test-ID; notebook 05's rule). Notebook 05 is your evidence for the cells
# without CoT, but mind the budget: 4,000 steps of batch 256 is an **eighth** of notebook 05's
# 16,000 steps of batch 512. To solve even 1 hop, notebook 05's depth-3 runs needed 1,500 and
# 2,000 of those steps (as many sequences as 3,000 and 4,000 of ours), its depth-4 runs 2,000
# and 9,500: this budget is borderline for 1 hop.
#
# <details><summary>Hint</summary>
#
# Without CoT, notebook 05 found depth 2 solving nothing in this mixed setting and depth 3 two
# hops. With CoT, how many layers does one step need, and does the number of steps matter?
# </details>

# %%
my_depth_table = {(1, True): None, (2, True): None, (3, True): None, (4, True): None,
                  (2, False): None, (3, False): None, (4, False): None}   # largest k solved, 0..6
E.check_cot_depth_prediction(my_depth_table)

# %% [markdown]
# <details><summary><b>Solution</b> (click to open)</summary>
#
# ```python
# my_depth_table = {(1, True): 0, (2, True): 6, (3, True): 6, (4, True): 6,
#                   (2, False): 0, (3, False): 0, (4, False): 0}
# ```
#
# With CoT every depth from 2 on solves every path the chain allows, and 1 layer solves nothing;
# without CoT, this budget is not enough for even one hop (section 2 gives the numbers).
#
# </details>

# %% [markdown]
# ## 2. The depth table
#
# The shipped sweep holds 21 runs: depth 2-4 × with/without CoT × 3 seeds, and the 1-layer
# control with CoT × 3 seeds. Each record carries `task`, `cot`, `n_layers`, `seed`,
# `acc_by_hop` (final test-ID accuracy per hop count) and the training curves.

# %%
sweep = X.load_sweep(DATA_DIR / "chain_cot_sweep.json")
runs = sweep["runs"]
hops = list(sweep["hops"])
rows = [f"L={r['n_layers']}, {'CoT' if r['cot'] else 'no CoT'}, seed {r['seed']}" for r in runs]
table = np.array([[r["acc_by_hop"][str(k)] for k in hops] for r in runs])
fig, ax = plt.subplots(figsize=(8, 7))
plot_grid(table, rows, [f"{k} hop{'s' * (k > 1)}" for k in hops], ax=ax, xlabel="hops asked", ylabel="run",
          title="Test-ID accuracy per hop count: every CoT run with 2+ layers solves every k")
ax.collections[0].colorbar.set_label("test-ID accuracy")
plt.show()

solved = {(r["n_layers"], r["cot"]): [] for r in runs}
steps = {(r["n_layers"], r["cot"]): [] for r in runs}
for r in runs:
    assert r["largest_solved"] == X.largest_hops_solved(r["acc_by_hop"])   # the summary is what the data says
    solved[r["n_layers"], r["cot"]].append(r["largest_solved"])
    steps[r["n_layers"], r["cot"]].append(r["history"].steps[-1])
for (depth, cot), ks in sorted(solved.items(), key=lambda item: (not item[0][1], item[0][0])):
    print(f"depth {depth}, {'with' if cot else 'without'} CoT: largest k solved per seed {ks}, "
          f"steps trained {steps[depth, cot]}")

# %% [markdown]
# Without CoT, 6 hops score above 2-5 hops in every run (0.46-0.90): a 6-hop question on a
# 7-node chain always asks for the chain's last node, the one node that is never the first of a
# pair (notebook 05's shortcut; there, depth 2 reached 0.97 on 6 hops, and the rule "every hop
# count $1..k$" kept it from counting as 6 hops solved). The figure places every run against the
# serial budget $L-1$ of notebook 05.

# %%
plot_cot_depth_table(runs, max(hops), title="With CoT, 2 layers solve every path; without it, no run passes L-1")
save_thumbnail(plt.gcf(), "08_cot_vs_depth")  # the course map in README.md shows it
plt.show()

cot_runs = [r for r in runs if r["cot"] and r["n_layers"] >= 2]
control_runs = [r for r in runs if r["cot"] and r["n_layers"] == 1]
no_cot_runs = [r for r in runs if not r["cot"]]
assert all(r["largest_solved"] == max(hops) for r in cot_runs), "CoT: every depth >= 2, every seed, every k"
assert all(r["largest_solved"] == 0 for r in control_runs), "one layer cannot do one step"
assert all(r["largest_solved"] <= r["n_layers"] - 1 for r in no_cot_runs), "no CoT: never beyond L - 1"
assert max(r["history"].steps[-1] for r in cot_runs) <= 1_000 < min(r["history"].steps[-1] for r in no_cot_runs)
print("1-layer control with CoT, final test-ID accuracy on 1 hop per seed:",
      [round(r["acc_by_hop"]["1"], 3) for r in control_runs],
      "| train accuracy (whole paths)", [round(r["history"].final("train"), 3) for r in control_runs])
for depth in sorted({r["n_layers"] for r in no_cot_runs}):
    print(f"without CoT, depth {depth}: final test-ID accuracy on 1 hop per seed",
          [round(r["acc_by_hop"]["1"], 3) for r in no_cot_runs if r["n_layers"] == depth],
          "| train accuracy", [round(r["history"].final("train"), 3) for r in no_cot_runs if r["n_layers"] == depth])

# %% [markdown]
# **Chain-of-thought breaks the depth bound.** A 2-layer model, whose serial budget without
# CoT is one hop, writes 6-hop paths at ≥ 95 % test-ID accuracy in every seed, within 1,000
# steps; so do depths 3 and 4. The runs without CoT use all 4,000 steps and stay at or below
# $L-1$; the cell above prints how far they got on 1 hop. With an eighth of notebook 05's budget
# they are a lower bound; notebook 05's longer runs reached $L-1$ at most. The **1-layer
# control** with CoT solves nothing (train accuracy 0.07-0.08, test-ID 0): that is what paper
# A's mechanism predicts (a 1-hop lookup takes two layers: pair, then match), though we have not
# dissected what the 1-layer model does instead. A test-ID accuracy of exactly 0, below guessing,
# hints at notebook 03's residue shortcut (answers that obey the training residues); not
# measured here.
#
# Two honest caveats:
#
# - CoT models get **more supervision**: every step of the path is scored, while a model
#   without CoT learns from the last node only. The comparison is "same questions, same steps",
#   not "same information".
# - On **OOD** chains (notebook 01: a chain of unseen tokens whose answer and its parent are
#   shifted into the ID range), CoT models fail from 2 hops on. The next cell compares all three
#   kinds of run. These OOD questions were drawn with the course's earlier rule (OOD chains keep
#   the training residues {0, 1, 4}; the file says so in `test_ood_residues`); the course now
#   follows the authors' rule (every residue), and regenerating the sweep would use it.

# %%
def mean_ood(selected):
    return {k: round(float(np.mean([r["acc_by_hop_ood"][str(k)] for r in selected])), 3) for k in hops}


print("test-OOD residues of the shipped sweep:", sweep["test_ood_residues"])
ood = {"CoT, 2-4 layers": mean_ood(cot_runs), "CoT, 1 layer": mean_ood(control_runs), "no CoT, 2-4 layers": mean_ood(no_cot_runs)}
for name, by_hop in ood.items():
    print(f"{name:>20}: mean test-OOD accuracy per hop count {by_hop}")
assert ood["CoT, 2-4 layers"][1] >= 0.9 and ood["CoT, 1 layer"][1] >= 0.8      # 1 hop OOD needs no lookup
assert 0.1 < ood["CoT, 2-4 layers"][2] < 0.9 and max(ood["CoT, 2-4 layers"][k] for k in hops if k >= 3) < 0.05
assert all(ood["no CoT, 2-4 layers"][k] > ood["CoT, 2-4 layers"][k] for k in hops if k >= 3)

# %% [markdown]
# Read this table with notebook 01's warning: a 1-hop OOD question holds exactly two ID tokens,
# the start and the answer, so "write the other ID token" solves it without any lookup, and even
# the 1-layer control scores about 0.9 there. 1-hop OOD says nothing about matching. At 2 hops
# the path to write is again the two ID tokens, and the control (0.61) beats the real CoT models
# (0.41): still a shortcut test. Only from 3 hops on does OOD speak to the mechanism: CoT models
# score 0 there, while models without CoT score about 0.5, above their own test-ID accuracy at
# 3-5 hops (notebook 05 met the same shortcut: the ID tokens give the answer away). Our
# hypothesis, not measured here: from 3 hops on a CoT model must *write* unseen tokens, which
# were never a training target. OOD is not where CoT helps.
#
# ## 3. Train one yourself
#
# A 2-layer model with CoT, seed 0, the sweep's recipe with batch 128 instead of 256 and 60,000
# training questions instead of 270,000 (to be quick), stopped once test-ID reaches 99 % (usually after 300-500 steps; at most 1,500). The bar
# prints its progress; the curves are per hop count.

# %%
model, history, evals = X.train_chain_cot(2, cot=True, seed=0,
                                          train_cfg=replace(X.COT_TRAIN, steps=1_500, batch_size=128,
                                                            eval_every=50, eval_size=1000),
                                          n_train=60_000)
fig, ax = plt.subplots(figsize=(8, 3.5))
for k in hops:
    ax.plot(history.steps, history.metrics[f"hop {k}"], label=f"{k} hop{'s' * (k > 1)}")
ax.axhline(X.SOLVED, color="grey", ls=":")
ax.set(xlabel="step", ylabel="test-ID accuracy", ylim=(-0.03, 1.03),
       title="Live, 2 layers with CoT: all hop counts rise together")
ax.legend(ncol=3, fontsize="small")
plt.show()
live = {k: history.metrics[f"hop {k}"][-1] for k in hops}
print(f"stopped at step {history.steps[-1]} after {history.seconds:.0f} s; final test-ID per hop:",
      {k: round(v, 3) for k, v in live.items()})
assert min(live.values()) >= 0.9, "a 2-layer CoT model solves every hop count"

# %% [markdown]
# The curves rise **together**: 6-hop paths are not harder to learn than 1-hop ones, because they
# are the same step repeated. (Six steps at 99 % each give $0.99^6 \approx 94\%$, which is why the
# long paths trail a little while the step is still imperfect.)
#
# The button trains any depth with or without CoT (same recipe; up to 4,000 steps; a run
# without CoT takes several minutes on a laptop CPU and stays at or below its serial budget).

# %%
depth_box = widgets.IntSlider(value=2, min=1, max=4, description="layers L")
cot_box = widgets.Checkbox(value=True, description="chain-of-thought")
steps_box = widgets.BoundedIntText(value=600, min=100, max=4_000, step=100, description="steps")
button, out = widgets.Button(description="train"), widgets.Output()


def train_and_report(_):
    with out:
        out.clear_output()
        _, h, _ = X.train_chain_cot(depth_box.value, cot=cot_box.value, seed=0,
                                    train_cfg=replace(X.COT_TRAIN, steps=steps_box.value, eval_every=100))
        acc = {k: h.metrics[f"hop {k}"][-1] for k in hops}
        print(f"L={depth_box.value}, {'with' if cot_box.value else 'without'} CoT: test-ID per hop "
              f"{ {k: round(v, 2) for k, v in acc.items()} }, largest k solved {X.largest_hops_solved(acc)}")


button.on_click(train_and_report)
display(widgets.HBox([depth_box, cot_box, steps_box, button]), out)

# %% [markdown]
# ## 4. Which mechanism does each step use?
#
# Two candidate mechanisms could write the next node:
#
# - **Paper A's matching by content**: layer 0 copies each pair's first token into its second
#   slot; at a CoT step holding node $u$, layer 1's query for $u$ matches the key of the slot
#   whose parent is $u$ and reads the child. Where the pair sits does not matter.
# - **Paper B's iteration head, by position**: in the iteration tasks, step $t$ needs input
#   $x_{t+1}$, which always sits at position $t+1$; the head attends to a position fixed by the
#   query's position. Here the needed pair sits at a random position, so a purely positional
#   head should fail, but a model could still learn position-dependent habits.
#
# We look with both papers' tools at the shipped 2-layer CoT model (sweep seed 0), then
# intervene. First, paper A's **effective matching matrix** for the CoT steps: rows are layer 1's
# mean query at steps holding node $u$, columns the mean key at slots whose parent is $v$.

# %%
cot_model, meta = X.load_chain_cot_model(seed=0)
cot_model = cot_model.cpu()
test = X.chain_cot_eval_sets(cot=True)["test_id"]
matrix, tokens = A.cot_effective_matching_matrix(cot_model, test, layer=1)
score = A.diagonal_score(matrix)
print(f"test-ID accuracy {evaluate(cot_model, test)['acc']:.3f}; effective matching score of layer 1: {score:.3f}")
ax = plot_matrix(matrix[:30, :30], xlabel="key: slot whose parent is node v", ylabel="query: step holding node u",
                 xticklabels=tokens[:30].tolist(), yticklabels=tokens[:30].tolist(),
                 title=f"Layer 1 matches each step's node by content (diagonal in {score:.0%} of rows)")
ax.collections[0].colorbar.set_label("mean query · mean key")
plt.show()
assert score >= 0.95

# %% [markdown]
# Paper B's lens: where does layer 1's **strongest key** sit for each CoT step? If the step
# matched by content, it is the slot of the current node's child; if it attended by position,
# one query-to-key distance would dominate.

# %%
summary = A.cot_attention_summary(cot_model, test, layer=1)
print(f"layer 1, over {int(test.mask.sum())} CoT steps: strongest key is the child's slot in {summary['content']:.1%}; "
      f"the most common query-key distance covers {summary['fixed_offset']:.1%}; "
      f"top weight above 0.5 in {summary['peaky']:.1%}")
assert summary["content"] >= 0.95 and summary["fixed_offset"] < 0.3

example = test[test.info["hops"] == 4][:1]
labels = chain_token_labels(example.inputs[0].tolist())
labels = labels[:q] + [f"start {labels[q]}"] + [f"→{t}" if t != "0" else "pad" for t in labels[q + 1:]]  # pairs | start | path
_, cache = cot_model.run_with_cache(example.inputs)
print("chain:", " -> ".join(map(str, example.info["chain"][0].tolist())),
      "| start", int(example.inputs[0, q]), "| path", example.targets[0, q:q + 4].tolist())
plot_attention_layers([cache["pattern", layer][0, 0] for layer in range(2)], labels,
                      layer_titles=["layer 0: each slot reads its parent", "layer 1: each step reads its child's slot"],
                      title="A 4-hop chain-of-thought: the same lookup at every step, wherever the pair sits")
plt.show()

# %% [markdown]
# The pictures say "content". Interventions decide it: change one thing the two mechanisms
# disagree on, and see which prediction survives.
#
# - **Redirect the previous CoT token**: overwrite the first written node $x_{i+1}$ with another
#   node $w$ of the chain, keep every position as it was, and read the next prediction. A step
#   that looks up the token it is given writes child($w$); a step that recalls the path some
#   other way (from positions, or from the start token) still writes $x_{i+2}$.
# - **Move the pairs into chain order**: the same pairs, laid out as $x_0 \to x_1, x_1 \to x_2,
#   \dots$, a layout the model never saw in training. Matching by content does not care; a
#   habit tied to positions could break.
# - **Reshuffle the pairs**: for *this* model it is only a sanity check, since its training pairs
#   were already shuffled at random, so a reshuffled test set looks like any other. It becomes a
#   real test for a model trained on pairs in a fixed order (the open question below).
#
# ### Exercise 2 · Reshuffle the pairs
# > **Difficulty:** 🔴🔴⚪⚪⚪ · **Time:** ~10 min
#
# Write `my_reshuffle_pairs(inputs, n_pairs, generator)`: `inputs` is a `[n, T]` batch whose
# first `2 * n_pairs` tokens are the pairs `[parent, child]`. Return a new tensor where each
# row's pairs are in a new random order (its own permutation per row, drawn from `generator`),
# each pair kept whole, and everything after the pairs (question, CoT path) unchanged. (The
# course's version is `helpers.data.with_pairs_reordered`.)
#
# <details><summary>Hint</summary>
#
# `reshape(n, n_pairs, 2)` makes pairs the unit; `torch.argsort(torch.rand(n, n_pairs,
# generator=generator), dim=1)` gives one random permutation per row; `torch.gather` along dim 1
# applies it.
# </details>

# %%
def my_reshuffle_pairs(inputs, n_pairs, generator):
    # YOUR CODE HERE: a tensor shaped like inputs
    raise NotImplementedError


E.check_reshuffle_pairs(my_reshuffle_pairs)

# %% [markdown]
# <details><summary><b>Solution</b> (click to open)</summary>
#
# ```python
# def my_reshuffle_pairs(inputs, n_pairs, generator):
#     n = len(inputs)
#     perm = torch.argsort(torch.rand(n, n_pairs, generator=generator), dim=1)
#     pairs = inputs[:, : 2 * n_pairs].reshape(n, n_pairs, 2)
#     pairs = torch.gather(pairs, 1, perm[:, :, None].expand(-1, -1, 2))
#     return torch.cat([pairs.reshape(n, -1), inputs[:, 2 * n_pairs:]], dim=1)
# ```
#
# </details>
#
# ### Exercise 3 · Predict both interventions
# > **Difficulty:** 🔴⚪⚪⚪⚪ · **Time:** ~3 min
#
# Before running the next cell: does the CoT model still solve ≥ 95 % of test-ID questions when
# the pairs come in chain order? And after the redirection, does it write child($w$) in most
# questions?

# %%
my_predictions = {"chain_order_still_solved": None, "follows_redirected_token": None}   # True / False

in_chain_order = evaluate(cot_model, with_pairs_reordered(test, "chain"))["acc"]
reshuffled = evaluate(cot_model, with_pairs_reordered(test, "random", seed=1))["acc"]
redirect = A.redirected_step_accuracy(cot_model, test)
measured = {"acc_pairs_in_chain_order": in_chain_order, **redirect}
E.check_intervention_prediction(my_predictions, measured)

# %% [markdown]
# <details><summary><b>Solution</b> (click to open)</summary>
#
# ```python
# my_predictions = {"chain_order_still_solved": True, "follows_redirected_token": True}
# ```
#
# Chain order keeps every pair and moves them all; the redirection keeps every position and
# changes one token. A content lookup survives the first and follows the second. The next cell
# prints the numbers.
#
# </details>

# %%
print(f"test-ID accuracy: as trained {evaluate(cot_model, test)['acc']:.3f} | pairs in chain order {in_chain_order:.3f} "
      f"| pairs reshuffled (sanity check) {reshuffled:.3f}")
print(f"redirected first step: writes child(w) in {redirect['follows_new_token']:.1%}, "
      f"the old path's x_(i+2) in {redirect['keeps_old_path']:.1%}")
print("every CoT run of the sweep: depth, seed, redirected step follows child(w), matching score of the last layer")
for r in cot_runs:
    print(f"   L={r['n_layers']} seed {r['seed']}: {r['mechanism']['redirect']['follows_new_token']:.3f}, "
          f"{r['mechanism']['matching_score']:.2f}")
assert in_chain_order >= 0.95 and reshuffled >= 0.95 and redirect["follows_new_token"] >= 0.95
assert all(r["mechanism"]["redirect"]["follows_new_token"] >= 0.95 and r["mechanism"]["matching_score"] >= 0.95
           for r in cot_runs)

# %% [markdown]
# **Verdict.** Every CoT step uses **paper A's matching by content**, in all 9 CoT runs (depths
# 2-4, 3 seeds): the last layer's effective matching score is ≥ 0.95, and a redirected step
# writes the child of the token it is given in ≥ 95 % of questions; in the model dissected above,
# a never-seen layout (chain order) costs nothing either. (The redirection tests the first
# written step; the matching matrix covers every step.) Chain-of-thought did not change the
# *mechanism* of a step; it changed how many steps the model gets: one lookup per written token
# instead of one per layer.
#
# Paper B's positional iteration head is what the same idea looks like when the input a step
# needs sits at a **known position**; here it does not, so the step finds it by content. The
# two are cousins: paper A's circuit (layer 0 copies each parent into its child's slot, layer 1
# finds the slot whose parent is the current token) is an **induction-head** circuit, and the
# iteration head finds its key from what the query holds, too: a position instead of a token.
#
# ## 5. Capstone: four mystery models
#
# Four models ship without labels in `data/mysteries/`. Each is one of:
#
# | diagnosis | what it means | course tools that show it |
# |---|---|---|
# | `"content matching"` | paper A's mechanism, working | accuracy, effective matching score (02, section 4 above) |
# | `"iteration head"` | paper B's positional head | peakiness of both layers on the iteration format (06): the second layer's query at step $t$ (layer 1 in code) puts > 0.5 of its weight on $x_{t+1}$ |
# | `"residue shortcut"` | the failure mode of notebook 03 | test-ID far below train; answers obeying the training residues (`E.solution_shortcut_rate`, 03) |
# | `"broken layer"` | one layer does nothing at all | the attention output of each layer (`run_with_cache`, `A.ablation_accuracy`) |
#
# `X.load_mystery(name)` returns the model and a `questions` dict saying which kind of question it
# reads (not what it does); `X.mystery_questions(questions, n, split)` makes fresh ones
# (`split="train"` or `"test"`). One mystery reads iteration questions, so only two diagnoses fit
# it; the three that read chains need more work. Every diagnosis is a measurement;
# `E.mystery_fingerprint` does all of them at once, but try with the tools first.

# %%
for name in X.MYSTERY_NAMES:
    mystery, questions = X.load_mystery(name)
    print(f"mystery {name}: {mystery.cfg.n_layers} layers, d_model {mystery.cfg.d_model}, reads {questions}")

# %% [markdown]
# ### Exercise 4 · Diagnose the mysteries
# > **Difficulty:** 🔴🔴🔴🔴⚪ · **Time:** ~30 min
#
# For each mystery, measure, then write its diagnosis (one of `E.MYSTERY_DIAGNOSES`). A wrong
# diagnosis is answered with the measurements that contradict it.
#
# <details><summary>Hint</summary>
#
# Start with train and test accuracy on fresh questions (`evaluate`). A model that solves its
# test set is "working": ask *how* with the matching score or peakiness. A model that fails: is
# it far better on train than on test-ID, with answers that obey the training residues (a
# shortcut), or does some layer write nothing (`cache["attn_out", layer].abs().max()`)?
# </details>

# %%
my_diagnoses = {"A": None, "B": None, "C": None, "D": None}   # one of E.MYSTERY_DIAGNOSES each
E.check_mystery(my_diagnoses)

# %% [markdown]
# <details><summary><b>Solution</b> (click to open)</summary>
#
# ```python
# for name in X.MYSTERY_NAMES:
#     mystery, questions = X.load_mystery(name)
#     fingerprint = E.mystery_fingerprint(mystery, questions)
#     print(name, fingerprint, "->", E.solution_diagnose(fingerprint))
# my_diagnoses = {"A": "residue shortcut", "B": "iteration head", "C": "broken layer", "D": "content matching"}
# ```
#
# What the fingerprints print (fresh questions, so the last digits vary):
#
# - **A** is notebook 03's pre-LN model at $\gamma = 1$: train accuracy about 0.27, test-ID 0.00,
#   matching score about 0.01, and nearly 100 % of its answers obey the training residue rule.
# - **B** is notebook 07's polynomial-iteration model: train and test 1.00, peakiness about 0.63
#   in the first layer and 1.00 in the second (the authors' metric, averaged over lengths 4-8; notebook 06 shows where the
#   first layer's weight goes instead, while the head works).
# - **C** is a 2-layer CoT model whose layer-0 attention output was set to zero: its attention
#   output in layer 0 (the first layer) is exactly 0, nothing pairs the tokens, layer 1 cannot match (score about
#   0.01), and accuracy collapses on train and test alike (about 0.04).
# - **D** is a 2-layer CoT model from the sweep (seed 1): train and test 1.00, matching score
#   1.00.
#
# </details>
#
# ### Open question
#
# Chain-of-thought made each step a 1-hop lookup. Would a model with CoT still learn matching by
# content if every question's pairs came **in chain order** (no shuffling)? What would you
# measure, and which intervention from section 4 would tell?
#
# <details><summary>Answer</summary>
#
# In chain order, the pair that continues the path is always the next pair in the context, so a
# model has a second route: a **positional** habit ("read the pair just after the one I used
# last"), which the shuffled format rules out. Content matching (an induction-style lookup: a
# previous-token layer, then a match on the current token) still works too. Which one a model
# learns is an experiment: train on `with_pairs_reordered(data, "chain")`, then evaluate on
# **reshuffled** pairs (your Exercise 2) and run the redirection. Matching by content survives
# both; a positional habit fails the reshuffle. The effective matching score and the attention
# offsets (`A.cot_attention_summary`: does one query-key distance dominate?) show which.
# </details>
#
# ## Summary
#
# - **With chain-of-thought, 2 layers solve every path the chain allows** (6 hops), in every
#   seed, within 1,000 steps, and so do 3 and 4 layers; 1 layer solves nothing. Without it, no run
#   of depth 2-4 passes $L-1$ in 4,000 steps, and notebook 05's eight-times-longer runs stay at or
#   below $L-1$ too.
# - Each CoT step is **paper A's matching by content** (an induction-head circuit): in every CoT
#   run the effective matching score is ≥ 0.95 and a redirected step follows the token it is
#   given; in the dissected model, layer 1's strongest key is the child's slot and a never-seen
#   layout of the pairs costs nothing.
# - CoT trades depth for **length**: one lookup per written token. It does not help on OOD chains:
#   CoT models fail there from 2 hops on, where models without CoT exploit a shortcut.
# - An intervention that changes what one mechanism uses and not the other decides between them;
#   pictures of attention only suggest.
