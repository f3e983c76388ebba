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
# **Run time on a laptop CPU: about 1.5 minutes on a slow 2-core laptop.** *Instant path:* a
# shipped sweep (`python -m helpers.experiments chain_cot_sweep`, 18 runs, ~1 h on 2 cores) and
# four shipped mystery models (`python -m helpers.experiments mysteries`, ~3 min). *Train it
# yourself:* section 3 trains a 2-layer chain-of-thought model live (about 40 s) and a button
# trains any depth, with or without chain-of-thought.
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
      "| path written by the model:", cot_data.targets[0, q:q + 3].tolist())
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
# batch 256; CoT runs stop when test-ID reaches 99 %). For each cell, predict the **median over
# seeds of the largest $k$ solved** (every hop count $1..k$ at ≥ 95 % test-ID; notebook 05's
# rule). Notebook 05 is your evidence for the cells without CoT.
#
# <details><summary>Hint</summary>
#
# Without CoT, notebook 05 found depth 2 solving nothing in this mixed setting and depth 3 two
# hops. With CoT, how many layers does one step need, and does the number of steps matter?
# </details>

# %%
my_depth_table = {(2, True): None, (3, True): None, (4, True): None,
                  (2, False): None, (3, False): None, (4, False): None}   # largest k solved, 0..6
E.check_cot_depth_prediction(my_depth_table)

# %% [markdown]
# <details><summary><b>Solution</b> (click to open)</summary>
#
# ```python
# my_depth_table = {(2, True): 6, (3, True): 6, (4, True): 6,
#                   (2, False): 0, (3, False): 0, (4, False): 1}
# ```
#
# With CoT every depth solves every path the chain allows; without it, this budget is not
# enough for even the serial budget at depths 3 and 4 (section 2 gives the numbers).
#
# </details>

# %% [markdown]
# ## 2. The depth table
#
# The shipped sweep holds 18 runs: depth × CoT × 3 seeds. Each record carries `task`, `cot`,
# `n_layers`, `seed`, `acc_by_hop` (final test-ID accuracy per hop count) and the training
# curves.

# %%
sweep = X.load_sweep(DATA_DIR / "chain_cot_sweep.json")
runs = sweep["runs"]
hops = list(sweep["hops"])
rows = [f"L={r['n_layers']}, {'CoT' if r['cot'] else 'no CoT'}, seed {r['seed']}" for r in runs]
table = np.array([[r["acc_by_hop"][str(k)] for k in hops] for r in runs])
fig, ax = plt.subplots(figsize=(8, 7))
plot_grid(table, rows, [f"{k} hop{'s' * (k > 1)}" for k in hops], ax=ax, xlabel="hops asked", ylabel="run",
          title="Test-ID accuracy per hop count: every CoT run solves every k")
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
# The figure places every run against the serial budget $L-1$ of notebook 05.

# %%
plot_cot_depth_table(runs, max(hops), title="With CoT, 2 layers solve every path; without it, no run passes L-1")
save_thumbnail(plt.gcf(), "08_cot_vs_depth")  # the course map in README.md shows it
plt.show()

cot_runs = [r for r in runs if r["cot"]]
no_cot_runs = [r for r in runs if not r["cot"]]
assert all(r["largest_solved"] == max(hops) for r in cot_runs), "CoT: every depth, every seed, every k"
assert all(r["largest_solved"] <= r["n_layers"] - 1 for r in no_cot_runs), "no CoT: never beyond L - 1"
assert max(r["history"].steps[-1] for r in cot_runs) <= 1_000 < min(r["history"].steps[-1] for r in no_cot_runs)

# %% [markdown]
# **Chain-of-thought breaks the depth bound.** A 2-layer model, whose serial budget without
# CoT is one hop, writes 6-hop paths at ≥ 95 % test-ID accuracy in every seed, and it gets
# there in at most 1,000 steps, while the runs without CoT use all 4,000 steps and stay at or
# below $L-1$ (here mostly below: this budget is a quarter of notebook 05's, whose longer runs
# reached $L-1$ at depths 3-5). Two honest caveats:
#
# - CoT models get **more supervision**: every step of the path is scored, while a model
#   without CoT learns from the last node only. The comparison is "same questions, same steps",
#   not "same information".
# - On **OOD** chains, CoT fails beyond the first steps, for a reason you met in notebook 02: an
#   OOD path goes through tokens the model has never *written*, and their output rows were never
#   trained (next cell).

# %%
ood = {k: np.mean([r["acc_by_hop_ood"][str(k)] for r in cot_runs]) for k in hops}
print("CoT runs, mean test-OOD accuracy per hop count:", {k: round(v, 3) for k, v in ood.items()})
assert ood[1] >= 0.9 and ood[max(hops)] < 0.1

# %% [markdown]
# One hop is fine OOD (the answer is shifted into the ID range by the authors' rule); from two
# hops on, the path must pass through OOD tokens, and by three hops no OOD question survives.
#
# ## 3. Train one yourself
#
# A 2-layer model with CoT, seed 0, the sweep's recipe with batch 128 instead of 256 (to be
# quick), stopped once test-ID reaches 99 % (or at 600 steps). The bar prints its progress; the
# curves are per hop count.

# %%
model, history, evals = X.train_chain_cot(2, cot=True, seed=0,
                                          train_cfg=replace(X.COT_TRAIN, steps=600, batch_size=128,
                                                            eval_every=50, eval_size=1000),
                                          n_train=60_000)
fig, ax = plt.subplots(figsize=(8, 3.5))
for k in hops:
    ax.plot(history.steps, history.metrics[f"hop {k}"], label=f"{k} hops")
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
        acc = {k: round(h.metrics[f"hop {k}"][-1], 2) for k in hops}
        print(f"L={depth_box.value}, {'with' if cot_box.value else 'without'} CoT: test-ID per hop {acc}, "
              f"largest k solved {X.largest_hops_solved(acc)}")


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
plot_matrix(matrix[:30, :30], xlabel="key: slot whose parent is v", ylabel="query: step holding node u",
            title=f"Layer 1 matches each step's node by content (diagonal in {score:.0%} of rows)")
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
_, cache = cot_model.run_with_cache(example.inputs)
print("chain:", " -> ".join(map(str, example.info["chain"][0].tolist())),
      "| start", labels[q], "| path", labels[q + 1:q + 4] + [str(int(example.targets[0, q + 3]))])
plot_attention_layers([cache["pattern", layer][0, 0] for layer in range(2)], labels,
                      layer_titles=["layer 0: each slot reads its parent", "layer 1: each step reads its child's slot"],
                      title="A 4-hop chain-of-thought: the same lookup at every step, wherever the pair sits")
plt.show()

# %% [markdown]
# The pictures say "content". An intervention decides it: change one thing the two mechanisms
# disagree on, and see which prediction survives.
#
# - **Reshuffle the pairs**: same questions, same answers, the pairs moved to new positions.
#   Matching by content does not care; anything positional breaks.
# - **Redirect the previous CoT token**: overwrite the first written node $x_{i+1}$ with another
#   node $w$ of the chain and read the next prediction. A step that looks up the token it is
#   given writes child($w$); a step that recalls the path some other way still writes $x_{i+2}$.
#
# ### Exercise 2 · Reshuffle the pairs
# > **Difficulty:** 🔴🔴⚪⚪⚪ · **Time:** ~10 min
#
# Write `my_reshuffle_pairs(inputs, n_pairs, generator)`: `inputs` is a `[n, T]` batch whose
# first `2 * n_pairs` tokens are the pairs `[parent, child]`. Return a new tensor where each
# row's pairs are in a new random order (use `generator`), each pair kept whole, and everything
# after the pairs (question, CoT path) unchanged.
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
# Before running the next cell: does the CoT model still solve ≥ 95 % of test-ID questions after
# the pairs are reshuffled? And after the redirection, does it write child($w$) in most
# questions?

# %%
my_predictions = {"reshuffled_pairs_still_solved": None, "follows_redirected_token": None}   # True / False

reshuffled = evaluate(cot_model, with_pairs_reordered(test, "random", seed=1))["acc"]
in_chain_order = evaluate(cot_model, with_pairs_reordered(test, "chain"))["acc"]
redirect = A.redirected_step_accuracy(cot_model, test)
measured = {"acc_pairs_reshuffled": reshuffled, **redirect}
E.check_intervention_prediction(my_predictions, measured)

# %% [markdown]
# <details><summary><b>Solution</b> (click to open)</summary>
#
# ```python
# my_predictions = {"reshuffled_pairs_still_solved": True, "follows_redirected_token": True}
# ```
#
# Both interventions keep the content and change what a positional mechanism would use; the
# model follows the content. The next cell prints the numbers.
#
# </details>

# %%
print(f"test-ID accuracy: as trained {evaluate(cot_model, test)['acc']:.3f} | pairs reshuffled {reshuffled:.3f} "
      f"| pairs in chain order {in_chain_order:.3f}")
print(f"redirected first step: writes child(w) in {redirect['follows_new_token']:.1%}, "
      f"the old path's x_(i+2) in {redirect['keeps_old_path']:.1%}")
by_seed = [(r["seed"], round(r["mechanism"]["acc_pairs_reshuffled"], 3), round(r["mechanism"]["redirect"]["follows_new_token"], 3),
            round(r["mechanism"]["matching_score"], 3)) for r in cot_runs]
print("every CoT run of the sweep (seed, reshuffled accuracy, follows child(w), matching score):", by_seed)
assert reshuffled >= 0.95 and in_chain_order >= 0.95 and redirect["follows_new_token"] >= 0.95
assert all(r["mechanism"]["acc_pairs_reshuffled"] >= 0.95 and r["mechanism"]["redirect"]["follows_new_token"] >= 0.95
           for r in cot_runs)

# %% [markdown]
# **Verdict.** Every CoT step uses **paper A's matching by content**, in all 9 CoT runs (depths
# 2-4, 3 seeds): reshuffling the pairs costs nothing, and a redirected step follows the token it
# is given in ≥ 95 % of questions. Chain-of-thought did not change the *mechanism* of a step; it
# changed how many steps the model gets: one lookup per written token instead of one per layer.
# Paper B's positional iteration head is what the same idea looks like when the input the step
# needs sits at a **known position**; here it does not, so the step finds it by content. (Paper
# B's head and paper A's matching are cousins: both attend to a position chosen by what the
# query holds; the iteration head's query holds a position, ours a token.)
#
# ## 5. Capstone: four mystery models
#
# Four models ship without labels in `data/mysteries/`. Each is one of:
#
# | diagnosis | what it means | course tools that show it |
# |---|---|---|
# | `"content matching"` | paper A's mechanism, working | accuracy, effective matching score (02, section 4 above) |
# | `"iteration head"` | paper B's positional head | peakiness of both layers (06) |
# | `"residue shortcut"` | the failure mode of notebook 03 | test-ID far below train; answers obeying the training residues (`E.solution_shortcut_rate`, 03) |
# | `"broken layer"` | one layer does nothing at all | the attention output of each layer (`run_with_cache`, `A.ablation_accuracy`) |
#
# `X.load_mystery(name)` returns the model and a `questions` dict saying which kind of question it
# reads (not what it does); `X.mystery_questions(questions, n, split)` makes fresh ones
# (`split="train"` or `"test"`). Every diagnosis is a measurement; `E.mystery_fingerprint` does
# all of them at once, but try with the tools first.

# %%
for name in X.MYSTERY_NAMES:
    mystery, questions = X.load_mystery(name)
    print(f"mystery {name}: {mystery.cfg.n_layers} layers, d_model {mystery.cfg.d_model}, "
          f"norm {mystery.cfg.norm}, reads {questions}")

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
# it below chance on test-ID while fine on train (a shortcut), or does some layer write nothing
# (`cache["attn_out", layer].abs().max()`)?
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
# - **A** is notebook 03's pre-LN model at $\gamma = 1$: train accuracy far above test-ID, which
#   is near 0, and nearly all its answers obey the training residue rule.
# - **B** is a polynomial-iteration model: both layers' peakiness near 1.
# - **C** is a 2-layer CoT model whose layer-0 attention output was set to zero: nothing pairs
#   the tokens, so layer 1 cannot match, and accuracy collapses on train and test alike.
# - **D** is a 2-layer CoT model from the sweep (seed 1): it solves its questions and matches by
#   content.
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
# In chain order the next node always sits two positions after the current node's first
# occurrence, so a model can also solve it with an **induction-style** copy ("find where the
# current token appeared, output what came next"), which needs no pairing layer, or even
# partly by position. Train on `with_pairs_reordered(data, "chain")`, then evaluate on reshuffled
# pairs: matching by content survives the reshuffle, a positional habit does not. The effective
# matching score and the layer-0 pairing pattern tell whether layer 0 still pairs.
# </details>
#
# ## Summary
#
# - **With chain-of-thought, 2 layers solve every path the chain allows** (6 hops), in every
#   seed; without it, no run of depth 2-4 passes the serial budget $L-1$ under the same budget.
# - Each CoT step is **paper A's matching by content**: the effective matching score is ≥ 0.95,
#   layer 1's strongest key is the child's slot, reshuffled pairs cost nothing, and a redirected
#   step follows the token it is given.
# - CoT trades depth for **length**: one lookup per written token. It does not help OOD chains,
#   whose paths go through tokens the model has never written.
# - An intervention that changes what one mechanism uses and not the other decides between them;
#   pictures of attention only suggest.
