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
# # 01 · The datasets: multi-hop chains and iteration tasks
#
# [![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/reasoning-circuits/reasoning-circuits-course/blob/main/notebooks/01_dataset_construction.ipynb)
#
# **Run time on a laptop CPU: about 10 seconds. Nothing is trained here.** *Instant path:* every
# cell is instant. *Train it yourself:* notebooks 02-07 train on these datasets.
#
# Every later notebook trains a small transformer on one of two task families. Before looking
# inside any model, you should know exactly what it is asked to do. You will learn:
#
# 1. how a **k-hop question over shuffled pairs** is built (paper A, the *matching mechanism*),
#    and why there are three splits: `train`, `test_id` (unseen pairs of seen tokens) and
#    `test_ood` (OOD tokens; from 2 hops on, the start token is one never seen in training);
# 2. the paper's harder datasets (noised double chain, with order) as the group's code builds them;
# 3. how the **iteration tasks** of paper B (copy, parity, polynomial iteration) are written with
#    and without **chain-of-thought**, and which positions carry the loss;
# 4. how to check all of this with brute force, so that you can trust the data.
#
# **Sources.** Paper A: Wang et al., *Towards Understanding How Transformer Perform Multi-step
# Reasoning with Matching Operation*, https://arxiv.org/abs/2405.15302; its dataset rules are
# read from the authors' generator, `task_single_chain` in the authors' repository,
# github.com/xuzhiqin1990/understanding_dl, file code/multi-step_reasoning_code/data.py.
# Paper B: Cabannes et al., *Iteration Head: A Mechanistic Study of Chain-of-Thought*,
# https://arxiv.org/abs/2406.02128; its tasks are generated in the authors' repository,
# github.com/facebookresearch/pal, folder src/cot/data. Notebook 00
# (`00_course_map.ipynb`) summarises both papers. Statements marked **[ours]** are our
# reconstruction where the public text and code are silent.

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
import matplotlib.pyplot as plt
import numpy as np
import torch
import ipywidgets as widgets
from IPython.display import display

from helpers import data as D
from helpers import exercises as E
from helpers.plots import plot_chain, save_thumbnail

# %% [markdown]
# ## 1. A chain, and a question about it
#
# A chain is 7 distinct tokens $x_0 \to x_1 \to \dots \to x_6$. The model never sees the chain in
# order: it sees its 6 pairs $[x_i, x_{i+1}]$ **shuffled**, 12 tokens, followed by one start node
# $x_i$. The answer to a **k-hop** question is $x_{i+k}$: follow the arrows $k$ times.
#
# To answer, the model must *find* the pair whose first token equals the start node, read its
# second token, and, for 2 hops, find the pair that starts with *that* token. Finding "the place
# that holds this token" is what paper A calls **matching**. (Paper A draws this dataset in its
# dataset figure, `dataset` in the arXiv source; the authors' generator appends the start token
# *and* the answer, and the model reads the first 13 tokens, as here.)

# %%
# NBVAL_CHECK_OUTPUT
example = D.make_chain_data(1, hops=2, split="train", seed=0)
print("tokens:", example.inputs[0].tolist())
print("label: ", int(example.labels[0]))
print(D.decode_chain(example.inputs[0], example.labels[0]))
print("chain: ", " -> ".join(map(str, example.info["chain"][0].tolist())),
      "| start index", int(example.info["start"][0]), "| hops", int(example.info["hops"][0]))

# %% [markdown]
# The same chain drawn as a graph: the start node in orange, the node passed through in light
# orange, the answer in green.

# %%
plot_chain(example.info["chain"][0], start=int(example.info["start"][0]), hops=2,
           title="2 hops: start (orange) -> middle -> answer (green)")
save_thumbnail(plt.gcf(), "01_dataset_construction")  # the course map in README.md shows it
plt.show()

# %% [markdown]
# ## 2. Three splits, and what each one tests
#
# Tokens 1..99 are **in-distribution (ID)**; 101..199 are **out-of-distribution (OOD)**; 0 is
# padding and never occurs. Each next node is drawn uniformly among the tokens whose difference
# to the current one, mod 5, lies in an allowed set:
#
# | split | tokens | allowed $(x' - x) \bmod 5$ | what it tests |
# |---|---|---|---|
# | `train` | 1..99 | {0, 1, 4} | |
# | `test_id` | 1..99 | {2, 3} | every **pair** is new, every **token** is known: a memorised lookup table fails, a matching rule succeeds |
# | `test_ood` | 101..199, answer and its parent shifted to 1..99 | {0, 1, 2, 3, 4} | tokens the model has never seen: can it match a token it has no knowledge of? |
#
# In `test_ood`, the answer $a$ and its parent $b$ (the pair $[b][a]$) are shifted down by 100
# wherever they occur, so the model can still *write* the answer with a trained output row
# (the authors' `task_single_chain` does exactly this). Which tokens of the question does that
# leave OOD? Work it out in the exercise before reading on.

# %% [markdown]
# ### Exercise 1 · Predict, then run: which tokens of an OOD question are in-distribution?
#
# > **Difficulty:** 🔴🔴⚪⚪⚪ · **Time:** ~5 min
#
# Before running the next cells (they print `test_ood` questions), reason from the table and the
# paragraph above only.
# Among the 13 input tokens of a `test_ood` question, how many **distinct** ID tokens (1..99) are
# there for 1 hop, and for 2 hops? Is the start token of a 1-hop `test_ood` question ID? The
# checker measures all three on fresh questions.
#
# <details><summary>Hint</summary>
#
# Name the nodes: the start $x_i$, the answer $x_{i+k}$ and its parent $x_{i+k-1}$. Which of them
# are shifted, and which coincide when $k = 1$? A node can sit in two pairs, but you are counting
# distinct tokens.
#
# </details>

# %%
my_prediction = {"id_tokens_1hop": None,    # an int
                 "id_tokens_2hops": None,   # an int
                 "start_is_id_1hop": None}  # True or False
E.check_ood_tokens_prediction(my_prediction)

# %% [markdown]
# <details><summary><b>Solution</b> (click to open)</summary>
#
# ```python
# my_prediction = {"id_tokens_1hop": 2, "id_tokens_2hops": 2, "start_is_id_1hop": True}
# ```
#
# Only the answer and its parent are shifted, whatever $k$. For 1 hop the parent *is* the start
# token, so the start is ID; for 2 hops (and more) the parent is a later node and the start
# token stays OOD: a 2-hop `test_ood` question asks the model to match a token it has never
# seen. Either way exactly two distinct tokens of the question are ID. A coin flip between those
# two scores 50 %. A model stuck on the plateau, which has not learned matching, stays below
# that: 20-43 % OOD in notebook 02's shipped 2-hop run (the authors' training log,
# code/multi-step_reasoning_code/result_example/train_log.log in their repository, shows
# 36-52 % OOD during its plateau).
#
# </details>

# %%
# NBVAL_CHECK_OUTPUT
for split in D.CHAIN_SPLITS:
    d = D.make_chain_data(2, hops=2, split=split, seed=1)
    for i in range(2):
        print(f"{split:9s}", D.decode_chain(d.inputs[i], d.labels[i]))

# %% [markdown]
# As in the authors' generator (`task_single_chain`, mode OOD, in their `data.py`), the OOD chain
# is drawn with *every* residue, 0 to 4: its tokens were never seen, so there is no pair rule to
# keep apart. A shift by 100 never changes a residue mod 5. One consequence: the pair $[b][a]$
# is made of two ID tokens and may have residue 2 or 3, a pair training never shows.
#
# ### Checking the splits by brute force
#
# Trust, but verify. On a few thousand sequences of each split we check the residue rule (every
# residue occurs in `test_ood`, and the shift by 100 keeps each pair's residue), that a `test_ood` question holds exactly two
# ID tokens (your prediction above), that OOD start tokens never occur anywhere in training data,
# and that every label equals the answer found by following the pairs one by one
# (`D.follow_chain`, a plain Python loop).

# %%
train = D.make_chain_data(5000, hops=2, split="train", seed=0)
test_id = D.make_chain_data(2000, hops=2, split="test_id", seed=1)
test_ood = D.make_chain_data(2000, hops=2, split="test_ood", seed=2)

residues = {name: set(D.pair_residues(d).unique().tolist())
            for name, d in [("train", train), ("test_id", test_id), ("test_ood", test_ood)]}
print("pair residues mod 5:", residues)
assert residues == {"train": {0, 1, 4}, "test_id": {2, 3}, "test_ood": {0, 1, 2, 3, 4}}

id_tokens = {len({t for t in row if t <= 99}) for row in test_ood.inputs.tolist()}
print("distinct ID tokens in a test_ood question:", id_tokens)
assert id_tokens == {2}, "only the answer and its parent are shifted to ID"

train_tokens = set(train.inputs.unique().tolist())
ood_starts = set(test_ood.inputs[:, -1].tolist())
print(f"{len(ood_starts)} distinct OOD start tokens, {len(ood_starts & train_tokens)} of them seen in training")
assert min(ood_starts) >= 101 and not ood_starts & train_tokens
assert (test_ood.labels <= 99).all()

for d in (train, test_id, test_ood):
    for tokens, label, k in zip(d.inputs.tolist(), d.labels.tolist(), d.info["hops"].tolist()):
        assert D.follow_chain(tokens[:12], tokens[-1], k) == label
print("all labels agree with brute force")

# %% [markdown]
# The split also guarantees that **no test pair appears in training**: a train pair has residue
# 0, 1 or 4, a test-ID pair 2 or 3. Let us check that directly on the pairs themselves.

# %%
def pair_set(d):
    return set(map(tuple, d.inputs[:, :12].reshape(-1, 2).tolist()))

shared_pairs = pair_set(train) & pair_set(test_id)
print("pairs shared by train and test_id:", len(shared_pairs))
assert not shared_pairs

# %% [markdown]
# ### More hops
#
# `hops` runs from 1 to 6 on a 7-node chain (the start index is drawn from $0..6-k$), and a
# list of hop counts mixes them. Asking for more hops than the chain has is an error that says
# what is allowed; later notebooks use longer chains through `n_nodes`.

# %%
# NBVAL_CHECK_OUTPUT
mixed = D.make_chain_data(6, hops=[1, 2, 3, 6], seed=3)
for tokens, label, k in zip(mixed.inputs, mixed.labels, mixed.info["hops"]):
    print(f"{int(k)} hops:", D.decode_chain(tokens, label))
try:
    D.make_chain_data(10, hops=7)
except ValueError as err:
    print("ValueError:", err)

# %% [markdown]
# ## 3. The paper's harder datasets, and two variants of ours
#
# Paper A also trains 5-layer models on a **noised double chain** (figures
# `information_flow_5L1H_noised_double_chain_*` in the arXiv source) and on questions **with
# order**, where the hop count is part of the input (figures `information_flow_5L1H_*order_with_order_*`).
# The paper's `multi-step_reasoning_code` has no generator for them, but an older public code base
# of the same group has both, and `make_chain_data` follows it:
#
# - `variant="noised_double"` (their `task_noised_double_chain`): two chains, each with one
#   **distractor pair** `[noise, c_j]` that points *into* an interior node, all pairs shuffled
#   together; the question is one chain's node k steps before its end, so the answer is always a
#   chain's end (train and test-ID splits only, as in their code);
# - `variant="with_order_after"` (their `task_single_chain_with_order`): the shuffled pairs, the
#   start token, then the hop count k as a token of its own (ids 200 + k **[ours]**: their code
#   writes k as a plain number, which would collide with our node ids).
#
# Notebook 05 (section 7) trains a 5-layer model in the paper's setting on mixed 1-3-hop with-order questions.
# Two earlier formats of ours stay as named variants: `"double"` (two chains, no distractor
# pairs, any start) and `"with_order"` (the hop token *before* the start token, so that the start
# token stays the last input); notebooks 05 (sections 1-6) and 08 use `"with_order"`.

# %%
# NBVAL_CHECK_OUTPUT
noised = D.make_chain_data(1, hops=2, n_nodes=5, variant="noised_double", seed=4)
print("noised double:   ", D.decode_chain(noised.inputs[0], noised.labels[0]))
print("   chains:       ", noised.info["chains"][0].tolist())
after = D.make_chain_data(2, hops=[1, 3], n_nodes=5, variant="with_order_after", seed=5)
for i in range(2):
    print("with order:      ", D.decode_chain(after.inputs[i], after.labels[i]),
          "| last two inputs:", D.chain_token_labels(after.inputs[i, -2:].tolist()))
ordered = D.make_chain_data(1, hops=3, variant="with_order", seed=5)
print("ours, k first:   ", D.decode_chain(ordered.inputs[0], ordered.labels[0]),
      "| last two inputs:", D.chain_token_labels(ordered.inputs[0, -2:].tolist()))

# %% [markdown]
# ## 4. Iteration tasks (paper B)
#
# Paper B (https://arxiv.org/abs/2406.02128, its section on the tasks; the authors' generators
# are in github.com/facebookresearch/pal, folder src/cot/data) asks a model to run a small
# loop: read $x_1..x_L$ and compute states $s_t = F(s_{t-1}, x_t)$.
#
# | task | inputs $x_t$ | state |
# |---|---|---|
# | copy | 0 or 1 | $s_t = x_t$ |
# | parity | 0 or 1 | $s_t = (x_1 + \dots + x_t) \bmod 2$ |
# | polynomial | 1..10 | $s_1 = x_1$, $s_t = (s_{t-1} x_t + 1) \bmod 11$ |
#
# A sequence is `[task prefix, x_1..x_L, EoI, y...]`, padded with `EoS`. With
# **chain-of-thought (CoT)** the model writes every state $s_1..s_L$; **without CoT** it must
# write $s_L$ straight after EoI. The loss covers every position after EoI (states and pads),
# and a sequence counts as correct only if all of them are right.

# %%
# NBVAL_CHECK_OUTPUT
for task in D.ITER_TASKS:
    cot = D.make_iteration_data(task, n_len=6, cot=True, n_per_length=4, seed=0)
    bare = D.make_iteration_data(task, n_len=6, cot=False, n_per_length=4, seed=0)
    i = 4 * 4  # the first sequence of length 5
    print(f"{task:10s} CoT    :", D.decode_iteration(D.full_sequence(cot, i)))
    print(f"{task:10s} no CoT :", D.decode_iteration(D.full_sequence(bare, i)))

# %% [markdown]
# The model is trained on next-token prediction, so `inputs` is the sequence without its last
# token and `targets` the sequence shifted by one. The mask marks where loss and accuracy are
# read: from the EoI input on (it predicts $s_1$).

# %%
# NBVAL_CHECK_OUTPUT
d = D.make_iteration_data("polynomial", n_len=4, n_per_length=2, seed=0)
i = 5
print("input :", D.iteration_token_labels(d.inputs[i]))
print("target:", D.iteration_token_labels(d.targets[i]))
print("mask  :", d.mask[i].int().tolist())

# %% [markdown]
# ### Checking the iteration data
#
# States recomputed in a plain loop, CoT and no-CoT built from the same strings, and how much of
# the test set the model has already seen. The authors (`src/cot/data/data_processing.py` in
# facebookresearch/pal) draw 2,048 strings per length **with replacement** and split them in
# half, so a test string can also sit in the training half. There are only $2^L$ binary strings
# of length $L$: for short parity strings nearly every test string was seen in training, for
# long ones almost none. That is the default here (`split_rule="authors"`). The variant
# `split_rule="disjoint"` **[ours]** keeps train and test apart wherever 16 or more strings exist;
# notebooks 06 and 07 at n_len 8 use it (`X.ITER_SPLIT_RULE`), so their test strings are unseen.

# %%
def seen_in_training(task, n_len, split_rule):
    """Per length: the fraction of test strings that also occur in the training half."""
    tr = D.make_iteration_data(task, "train", n_len=n_len, seed=0, split_rule=split_rule)
    te = D.make_iteration_data(task, "test", n_len=n_len, seed=0, split_rule=split_rule)
    for i in range(0, len(tr), 97):   # the states, recomputed in a plain loop
        seq = D.full_sequence(tr, i)
        L = int(tr.info["lengths"][i])
        s, states = 0, []
        for t, x in enumerate(seq[1:L + 1]):
            s = x if task == "copy" else (s + x) % 2 if task == "parity" else x if t == 0 else (s * x + 1) % 11
            states.append(s)
        assert seq[L + 2:2 * L + 2] == states
    fractions = {}
    for L in range(1, n_len + 1):
        train_strings = set(map(tuple, tr.inputs[tr.info["lengths"] == L, 1:L + 1].tolist()))
        test_strings = te.inputs[te.info["lengths"] == L, 1:L + 1].tolist()
        fractions[L] = sum(tuple(x) in train_strings for x in test_strings) / len(test_strings)
    return fractions


authors = seen_in_training("parity", 16, "authors")
disjoint = seen_in_training("parity", 16, "disjoint")
print("parity, 1,024 train + 1,024 test strings per length: share of test strings seen in training")
print("length  :", " ".join(f"{L:5d}" for L in authors))
print("authors :", " ".join(f"{f:5.2f}" for f in authors.values()))
print("disjoint:", " ".join(f"{f:5.2f}" for f in disjoint.values()))
assert all(authors[L] == 1.0 for L in range(1, 8)) and authors[9] > 0.8 and authors[16] < 0.05
assert all(disjoint[L] == 0 for L in range(4, 17)) and disjoint[1] == 1.0

# %% [markdown]
# So under the authors' rule every parity test string of length 1 to 7 was also a training string,
# and more than 80 % of those of length 9; only from length 11 on are most test strings new
# (2 % seen at length 16). Parity accuracy at short lengths measures memory as much as reasoning:
# keep that in mind when a notebook reports accuracy "per length".

# %% [markdown]
# ## 5. Play with it
#
# Move the sliders: the widget re-renders one example of the chosen split and hop count, and
# draws its chain (the first output of each cell is the default setting, kept for readers of
# the saved page). Try `test_ood` with 1 hop and with 2 hops: which tokens are OOD in each case?

# %%
def show_chain_example(hops=2, split="test_ood", seed=0):
    d = D.make_chain_data(1, hops=hops, split=split, seed=seed)
    print(D.decode_chain(d.inputs[0], d.labels[0]))
    plot_chain(d.info["chain"][0], start=int(d.info["start"][0]), hops=hops,
               title=f"{split}, {hops} hops")
    plt.show()


show_chain_example()  # the default example, kept as a static output for the saved page
widgets.interact(show_chain_example, hops=widgets.IntSlider(2, 1, 6, description="hops"),
                 split=widgets.Dropdown(options=D.CHAIN_SPLITS, value="test_ood"),
                 seed=widgets.IntSlider(0, 0, 50, description="seed"));

# %%
def show_iteration_example(task="polynomial", length=5, seed=0):
    for cot in (True, False):
        d = D.make_iteration_data(task, n_len=8, cot=cot, n_per_length=1, seed=seed, lengths=[length])
        print(("CoT    : " if cot else "no CoT : ") + D.decode_iteration(D.full_sequence(d, 0)))


show_iteration_example()  # the default example, kept as a static output for the saved page
widgets.interact(show_iteration_example, task=widgets.Dropdown(options=D.ITER_TASKS, value="polynomial"),
                 length=widgets.IntSlider(5, 1, 8, description="length"),
                 seed=widgets.IntSlider(0, 0, 50, description="seed"));

# %% [markdown]
# ## Exercises
#
# Four checked exercises (the first one was in section 2) and an open question. Each checker
# tests your answer on freshly generated data and says what is wrong, not only that something is.
#
# ### Exercise 2 · Follow a chain
#
# > **Difficulty:** 🔴⚪⚪⚪⚪ · **Time:** ~5 min
#
# Write `my_follow_chain(pairs, start, k)`: given the question's pairs as `(parent, child)`
# tuples, return the node `k` hops after `start`. The checker runs it on 800 questions of 1-4
# hops and compares with the labels.
#
# <details><summary>Hint</summary>
#
# On a chain every parent has exactly one child: a dictionary from parent to child answers one
# hop; apply it `k` times.
#
# </details>

# %%
def my_follow_chain(pairs, start, k):
    # YOUR CODE HERE: return the node k hops after start
    raise NotImplementedError


E.check_follow_chain(my_follow_chain)

# %% [markdown]
# <details><summary><b>Solution</b> (click to open)</summary>
#
# ```python
# def my_follow_chain(pairs, start, k):
#     child = dict(pairs)
#     node = start
#     for _ in range(k):
#         node = child[node]
#     return node
# ```
#
# </details>

# %% [markdown]
# ### Exercise 3 · The authors' OOD shift
#
# > **Difficulty:** 🔴🔴⚪⚪⚪ · **Time:** ~10 min
#
# Write `my_ood_shift(tokens, k)`. `tokens` is a k-hop question (12 pair tokens, then the start
# token) whose chain was drawn from 101..199, *before* the shift. Return the 13 tokens after the
# shift of section 2: the answer and its parent move down by 100 **wherever they occur**. The
# checker takes fresh `test_ood` questions of 1-4 hops from `D.make_chain_data`, undoes their
# shift, and compares your output with what the generator wrote.
#
# <details><summary>Hint</summary>
#
# Your `my_follow_chain` (or `E.solution_follow_chain`) finds both tokens: the answer is $k$ hops
# from the start, its parent $k - 1$ hops. For 1 hop the parent is the start token itself. Then
# rebuild the list token by token.
#
# </details>

# %%
def my_ood_shift(tokens, k):
    # YOUR CODE HERE: return the 13 tokens with the answer and its parent moved down by 100
    raise NotImplementedError


E.check_ood_shift(my_ood_shift)

# %% [markdown]
# <details><summary><b>Solution</b> (click to open)</summary>
#
# ```python
# def my_ood_shift(tokens, k):
#     pairs = list(zip(tokens[0:-1:2], tokens[1:-1:2]))
#     answer = E.solution_follow_chain(pairs, tokens[-1], k)
#     parent = E.solution_follow_chain(pairs, tokens[-1], k - 1)
#     return [t - 100 if t in (answer, parent) else t for t in tokens]
# ```
#
# </details>

# %% [markdown]
# ### Exercise 4 · Write an iteration sequence, with and without chain-of-thought
#
# > **Difficulty:** 🔴🔴⚪⚪⚪ · **Time:** ~10 min
#
# Write `my_iteration_sequence(task, xs, cot, n_len)` that returns the whole token list of one
# example of section 4: `[prefix, x_1..x_L, EoI, y..., EoS...]`, `2 * n_len + 3` tokens long.
# With `cot=True` the y's are every state $s_1..s_L$, with `cot=False` only $s_L$. Use
# `D.PREFIX[task]`, `D.EOI` and `D.EOS`, and compute the states with your own loop (not
# `D.iterate_states`). The checker draws fresh strings for all three tasks, with and without CoT,
# and compares with the reference, itself tested against `D.make_iteration_data`.
#
# <details><summary>Hint</summary>
#
# Copy: $s_t = x_t$. Parity: a running sum mod 2. Polynomial: $s_1 = x_1$, and only from $t = 2$
# on $s_t = (s_{t-1} x_t + 1) \bmod 11$. Pad with `D.EOS` until the list is `2 * n_len + 3` long.
#
# </details>

# %%
def my_iteration_sequence(task, xs, cot, n_len):
    # YOUR CODE HERE: return a list of 2 * n_len + 3 token ids
    raise NotImplementedError


E.check_iteration_sequence(my_iteration_sequence)

# %% [markdown]
# <details><summary><b>Solution</b> (click to open)</summary>
#
# ```python
# def my_iteration_sequence(task, xs, cot, n_len):
#     states, s = [], 0
#     for t, x in enumerate(xs):
#         if task == "copy":
#             s = x
#         elif task == "parity":
#             s = (s + x) % 2
#         else:  # polynomial
#             s = x if t == 0 else (s * x + 1) % 11
#         states.append(s)
#     seq = [D.PREFIX[task], *xs, D.EOI, *(states if cot else states[-1:])]
#     return seq + [D.EOS] * (2 * n_len + 3 - len(seq))
# ```
#
# </details>

# %% [markdown]
# ### Open question · Why does the loss start at EoI?
#
# The loss of the iteration tasks covers every position from the EoI input on, and none of the
# input positions $x_1..x_L$. What would the model be asked to predict at those positions, what
# is the best loss it could reach there, and what would adding them do to training?
#
# <details><summary>Answer</summary>
#
# At the input positions the target is the next input token $x_{t+1}$ (or EoI, when the string
# ends), drawn at random independently of everything before it. No model can do better than a
# guess: a loss floor of about $\ln 2 \approx 0.69$ per position for copy and parity, $\ln 10 \approx 2.30$
# for polynomial iteration, and a chance-level accuracy (1/2 or 1/10) that would make "every
# scored position right" almost impossible. Those positions carry no information about the task, only
# gradient noise that the model cannot remove. From the EoI input on, every target is a
# deterministic function of the input, so every bit of loss there is learnable. The chain task
# follows the same logic: the pairs are random, so only the last position, the answer, is scored.
#
# </details>

# %% [markdown]
# ## Summary
#
# - A k-hop question is 6 shuffled pairs and a start token; the label is $k$ arrows further.
# - `test_id` holds only unseen pairs (a different residue mod 5), `test_ood` unseen tokens, the
#   start token among them from 2 hops on: they separate a lookup table from a matching rule, and
#   a rule from token knowledge.
# - A `test_ood` question holds exactly two ID tokens (the answer and its parent): a coin flip
#   between them scores 50 %; a model on the plateau stays below that (20-43 % in notebook 02's
#   shipped run).
# - Iteration tasks write their states after EoI (CoT) or only the last one (no CoT); the loss
#   and the accuracy read every position after EoI, teacher forced.
# - Every label in this notebook was recomputed by brute force.
