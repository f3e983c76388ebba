"""The reproduction scorecard: every claim of the two papers the course reproduces, what the
authors report, what the shipped artifacts in `data/` say, and a status.

    python -m helpers.scorecard                 # print the table (a few seconds on one CPU thread)
    python -m helpers.scorecard --write-readme  # refresh the table in README.md

Our numbers are computed live from the artifacts (checkpoints are evaluated on 1,000 questions each,
taken from the course's fixed evaluation sets; sweeps are read run by run),
never typed in. Each status comes from those numbers by
a stated rule, one small function per claim (`rule_*`, each returning (status, reason)), so the
table stays honest when an artifact is regenerated: a sweep with more seeds or a denser grid
changes the numbers and, where the rule says so, the status.

Statuses: "reproduced" (the claim holds at course scale by the rule), "partly" (part of it
holds, or it holds in one setting and not another), "not yet" (the artifacts do not show it).
A run that never reaches a threshold within its budget is *censored*: it is shown as
"≥ budget steps", never as a number it did not reach.
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
import time
from pathlib import Path

import torch

from .course import DATA_DIR, ROOT_DIR
from .data import ID_TOKENS, OOD_TOKENS

STATUSES = ("reproduced", "partly", "not yet")
PAPER_A, PAPER_B = "2405.15302", "2406.02128"
SOLVED = 0.95            # a run, a length or a hop count is "solved" at >= 95 % accuracy
N_QUESTIONS = 1_000      # evaluation questions per split for the shipped checkpoints
NEAR_CHANCE = 0.65       # parity without CoT: at most this at the longest length counts as chance
README_START, README_END = "<!-- scorecard:start -->", "<!-- scorecard:end -->"

NB = {  # the notebook that shows each family of claims
    "map": "notebooks/00_course_map.ipynb",      # section 4 computes the authors' peakiness
    "matching": "notebooks/02_matching_mechanism.ipynb",
    "init": "notebooks/03_init_and_layernorm.ipynb",
    "noise": "notebooks/04_orthogonal_noise.ipynb",
    "parallel": "notebooks/05_parallel_reasoning.ipynb",
    "heads": "notebooks/06_iteration_heads.ipynb",
    "transfer": "notebooks/07_transfer.ipynb",
}


# ----------------------------------------------------------------------------------------------
# Formatting
# ----------------------------------------------------------------------------------------------
def pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def steps(n: float, censored: bool = False) -> str:
    return f"{'≥ ' if censored else ''}{n:,.0f}"


def steps_to(history, split: str, threshold: float = SOLVED) -> tuple[int, bool]:
    """(first evaluated step at `threshold`, False), or (last step of the run, True) when the run
    never got there: a censored value, a lower bound."""
    step = history.steps_to(split, threshold)
    return (step, False) if step is not None else (history.steps[-1], True)


def mean_steps(values: list[tuple[int, bool]]) -> tuple[float, bool]:
    """Mean over runs; censored (a lower bound) if any run is."""
    return statistics.mean(v for v, _ in values), any(c for _, c in values)


def _nums(xs, fmt=lambda x: f"{x:.2f}") -> str:
    return ", ".join(fmt(x) for x in xs)


# ----------------------------------------------------------------------------------------------
# Status rules: numbers in, (status, reason) out
# ----------------------------------------------------------------------------------------------
def grade(value: float, reproduced_at: float, partly_at: float) -> str:
    """"reproduced" when value >= reproduced_at, "partly" when >= partly_at, else "not yet"."""
    if value >= reproduced_at:
        return "reproduced"
    return "partly" if value >= partly_at else "not yet"


RULES = {
    "matching": "reproduced when test-ID ≥ 95 % **and** the effective matching score of every "
                "matching layer is ≥ 0.9; partly when one of the two holds",
    "transition": "reproduced when test-ID rises from < 50 % to ≥ 95 % in at most a quarter of the "
                  "steps spent before the rise; partly when it gets to 95 % slowly; not yet when it never does",
    "ood": "reproduced at test-OOD ≥ 85 % (the low end of the authors' range), partly at ≥ 50 %, else not yet",
    "handbuilt": "reproduced when every hop count 1-6 (all a 7-node chain allows) is answered at "
                 "≥ 95 %, ID and OOD; partly when at least 1 hop is",
    "init": "a run succeeds at test-ID ≥ 95 %; with small init = γ > 0.5 (smaller than the usual "
            "scale), compare success rates: reproduced when post-LN small init beats both pre-LN "
            "small init and post-LN large init by ≥ 50 points; partly when it beats either",
    "noise": "per hop count, noise helps when its mean steps to 95 % test-ID are ≥ 10 % fewer than "
             "without (censored runs count at their budget); in the 5-layer setting the same test on "
             "the steps to 98 % test-ID (all hop counts mixed), σ = 1 on both at layer 0; reproduced "
             "when it helps everywhere, partly when somewhere",
    "parallel": "reproduced when at least half of the trained runs solve more than L-1 hops; "
                "partly when any run does; not yet when none does",
    "head": "reproduced when at least 90 % of the polynomial seeds reach ≥ 95 % with final layer-2 "
            "peakiness ≥ 0.9 and no seed reaches 95 % without it; partly when any seed has both",
    "layer1": "reproduced at layer-1 peakiness ≥ 0.9, partly at ≥ 0.5, else not yet",
    "parity": f"not yet when parity without CoT exceeds {100 * NEAR_CHANCE:.0f} % (chance, 50 %, plus a noise "
              "margin) at the longest length in any seed; otherwise reproduced when most CoT seeds solve every test length (≥ 95 %), "
              "partly when most solve the longest one",
    "transfer": "reproduced when most seeds reach 95 % on parity at least 2× faster after "
                "pretraining than from scratch (a censored scratch run counts at its budget, so "
                "the speed-up is a lower bound); partly when one seed does",
}


def rule_matching(test_id: float, matching: float) -> tuple[str, str]:
    ok_acc, ok_match = test_id >= SOLVED, matching >= 0.9
    if ok_acc and ok_match:
        return "reproduced", "it answers and it matches: diagonal effective matching in every layer"
    if ok_acc:
        return "partly", "it answers, but the effective matching matrix is not diagonal"
    if ok_match:
        return "partly", "it matches, but test-ID stays below 95 %"
    return "not yet", "neither the answers nor the matching are there"


def rule_transition(plateau_steps: int | None, rise_steps: int | None) -> tuple[str, str]:
    """plateau_steps: last evaluated step below 50 % test-ID before the run first reaches 95 %;
    rise_steps: from there to 95 %. Both None when the run never reaches 95 %."""
    if rise_steps is None:
        return "not yet", "test-ID never reaches 95 %"
    if not plateau_steps:
        return "partly", "it reaches 95 %, but with no plateau below 50 % before it"
    if rise_steps <= plateau_steps / 4:
        return "reproduced", f"a long plateau, then the jump in {100 * rise_steps / plateau_steps:.0f} % of its length"
    return "partly", f"it gets there, but gradually ({100 * rise_steps / plateau_steps:.0f} % of the plateau's length)"


def rule_ood(ood: float) -> tuple[str, str]:
    status = grade(ood, 0.85, 0.5)
    return status, {"reproduced": "in the authors' range",
                    "partly": "above the plateau level, below the authors' 85 %",
                    "not yet": "far below the authors' figure"}[status]


def rule_handbuilt(acc_by_hop: dict[int, float], max_hops: int = 6) -> tuple[str, str]:
    """acc_by_hop: the worst split's accuracy for each hop count tested."""
    solved = 0
    while acc_by_hop.get(solved + 1, 0.0) >= SOLVED:
        solved += 1
    if solved >= max_hops:
        return "reproduced", f"every hop count 1-{max_hops}, ID and OOD, without training"
    if solved >= 1:
        return "partly", f"solves 1-{solved} hops only"
    return "not yet", "not even 1 hop"


def rule_init_ln(post_small: float | None, pre_small: float | None, post_large: float | None) -> tuple[str, str]:
    """Success rates (fraction of runs at >= 95 % test-ID) of three groups; None: no such runs."""
    if post_small is None:
        return "not yet", "no post-LN run with small init in the sweep"
    effects = {name: post_small - other for name, other in (("post-LN over pre-LN", pre_small),
                                                            ("small over large init", post_large))
               if other is not None}
    if not effects:
        return "not yet", "nothing to compare post-LN small init with"
    if len(effects) == 2 and min(effects.values()) >= 0.5:
        return "reproduced", "both help, success rate " + ", ".join(f"{k} {100 * v:+.0f} points" for k, v in effects.items())
    if max(effects.values()) > 0:
        return "partly", "success rate " + ", ".join(f"{k} {100 * v:+.0f} points" for k, v in effects.items())
    return "not yet", "neither post-LN nor small init raises the success rate"


def noise_effect(without: tuple[float, bool], with_noise: tuple[float, bool], margin: float = 0.1) -> str:
    """"helps", "hurts" or "unclear", from (mean steps to 95 %, censored) without and with noise."""
    (a, a_cens), (b, b_cens) = without, with_noise
    if not b_cens and b <= (1 - margin) * a:      # faster than a time (or a lower bound) without
        return "helps"
    if not a_cens and b >= (1 + margin) * a:      # slower than a time without (b may be a bound)
        return "hurts"
    return "unclear"


def rule_noise(effects: dict[int, str], seeds: dict[int, int] | None = None) -> tuple[str, str]:
    """effects: hop count (or a named setting such as "5 layers") -> noise_effect(...); seeds: the
    same keys -> noisy seeds behind it (one seed is said)."""
    if not effects:
        return "not yet", "no noise runs"
    seeds = seeds or {}
    said = "; ".join(f"{h if isinstance(h, str) else f'{h} hop' + ('s' if h > 1 else '')}"
                     f"{' (one seed)' if seeds.get(h) == 1 else ''}: {e}"
                     for h, e in sorted(effects.items(), key=lambda item: (isinstance(item[0], str), str(item[0]))))
    if all(e == "helps" for e in effects.values()):
        return "reproduced", f"it helps at every hop count ({said})"
    if any(e == "helps" for e in effects.values()):
        return "partly", said
    return "not yet", said


def rule_parallel(n_beyond: int, n_runs: int) -> tuple[str, str]:
    said = f"{n_beyond} of {n_runs} trained runs solve more than L-1 hops"
    if n_runs and 2 * n_beyond >= n_runs:
        return "reproduced", said
    return ("partly" if n_beyond else "not yet"), said


def rule_head(n_head: int, n_accurate: int, n_seeds: int) -> tuple[str, str]:
    """n_head: seeds at >= 95 % with layer-2 peakiness >= 0.9; n_accurate: seeds at >= 95 %."""
    said = f"{n_head} of {n_seeds} seeds form the head and solve the task"
    if n_seeds and n_head >= 0.9 * n_seeds and n_head == n_accurate:
        return "reproduced", said + "; every seed that solves it has the head"
    if n_head:
        return "partly", said + ("" if n_head == n_accurate else f"; {n_accurate - n_head} solve it without")
    return "not yet", said


def rule_layer1(peakiness_layer1: float) -> tuple[str, str]:
    status = grade(peakiness_layer1, 0.9, 0.5)
    return status, {"reproduced": "layer 1 reads the end-of-input token as the paper's circuit does",
                    "partly": "layer 1 reads the end-of-input token at most query positions",
                    "not yet": "layer 1 reads the end-of-input token at a minority of positions: "
                               "the model finds the target position another way"}[status]


def rule_parity(no_cot_longest: float, cot_all_lengths: float, cot_longest: float) -> tuple[str, str]:
    """no_cot_longest: best seed's accuracy without CoT at the longest length; cot_*: fraction of
    CoT seeds solving every test length / the longest one."""
    if no_cot_longest > NEAR_CHANCE:
        return "not yet", "without CoT a seed learns parity too"
    level = ("within 5 points of a coin flip or below" if no_cot_longest <= 0.55
             else f"near chance (≤ {100 * NEAR_CHANCE:.0f} %)")
    no_cot = f"without CoT every seed stays {level} at the longest length"
    if cot_all_lengths > 0.5:
        return "reproduced", f"{no_cot}; with CoT every test length is solved"
    if cot_longest > 0.5:
        return "partly", f"{no_cot}; with CoT only the longest length is solved from scratch"
    return "not yet", "neither setting learns parity"


def rule_transfer(speedups: list[float | None]) -> tuple[str, str]:
    """speedups: per seed, scratch steps / fine-tune steps to 95 % (a lower bound when scratch is
    censored); None when the fine-tune never reached 95 %."""
    fast = sum(s is not None and s >= 2 for s in speedups)
    said = f"{fast} of {len(speedups)} seeds at least 2× faster"
    if speedups and 2 * fast > len(speedups):
        return "reproduced", said
    return ("partly" if fast else "not yet"), said


# ----------------------------------------------------------------------------------------------
# The rows: one function per claim, computed from data/
# ----------------------------------------------------------------------------------------------
def authors_peakiness(model, data) -> tuple[float, float]:
    """Peakiness of both layers as paper B's evaluation code defines it (notebook 00, section 4,
    writes it out and checks it against this): `helpers.analysis.peakiness`, mean over the
    lengths present in `data`."""
    from . import analysis as A
    peaks = A.peakiness(model, data)
    return peaks[0], peaks[1]


def _row(paper, claim, authors, ours, notebook, rule_key, verdict) -> dict:
    status, reason = verdict
    assert status in STATUSES, status
    arxiv = PAPER_A if paper == "A" else PAPER_B
    return {"paper": paper, "claim": claim, "authors": f"{authors} · arXiv {arxiv}", "ours": ours,
            "notebook": notebook, "status": status, "reason": reason, "rule": RULES[rule_key]}


def _chain_rows(data_dir: Path) -> list[dict]:
    from . import analysis as A
    from . import experiments as X
    from .train import History, evaluate

    model, meta = X.load_chain_2hop(data_dir / "chain_2hop.pt")
    model = model.cpu()
    full = X.chain_eval_sets(2)
    full_test_id = full["test_id"]
    evals = {split: d[:N_QUESTIONS] for split, d in full.items()}
    acc = {split: evaluate(model, d)["acc"] for split, d in evals.items()}
    layers = range(1, model.cfg.n_layers)
    match = {layer: A.diagonal_score(A.effective_matching_matrix(model, evals["test_id"], layer)[0]) for layer in layers}
    where = f"shipped 2-hop model (d_model {model.cfg.d_model}, {model.cfg.n_layers} layers, {model.cfg.n_heads} head)"
    rows = [_row("A", "A transformer answers 2-hop questions over shuffled pairs with the matching mechanism",
                 "100 % train and test-ID on 2 hops in the authors' reference run (d_model 400); attention "
                 "and matching matrices show pairing in layer 0, one matching hop per later layer",
                 f"{where}, {N_QUESTIONS:,} test-ID questions: {pct(acc['test_id'])} (the first {N_QUESTIONS:,} "
                 f"of the course's eval set of {len(full_test_id):,}, which notebook 02 evaluates in full); effective matching "
                 f"score, layers {', '.join(map(str, layers))}: {_nums(match.values())}",
                 NB["matching"], "matching", rule_matching(acc["test_id"], min(match.values())))]

    history = History.from_dict(meta["history"])
    t95 = history.steps_to("test_id", SOLVED)
    plateau = rise = None
    if t95 is not None:
        i95 = history.steps.index(t95)
        below = [i for i in range(i95) if history.acc["test_id"][i] < 0.5]
        if below:
            plateau, rise = history.steps[below[-1]], t95 - history.steps[below[-1]]
        else:
            rise = t95
    if plateau:
        i0 = history.steps.index(plateau)
        ours = (f"one seed: test-ID ≤ {pct(max(history.acc['test_id'][:i0 + 1]))} for {steps(plateau)} steps "
                f"(train ≤ {pct(max(history.acc['train'][:i0 + 1]))}), then {pct(history.acc['test_id'][i0])} → "
                f"{pct(history.acc['test_id'][history.steps.index(t95)])} in {steps(rise)} steps")
    elif t95 is not None:
        ours = f"one seed: test-ID ≥ 50 % from the first evaluation, ≥ 95 % at step {steps(t95)}"
    else:
        ours = f"one seed: test-ID never reaches 95 % in {steps(history.steps[-1])} steps"
    rows.append(_row("A", "Training sits on a plateau, then jumps abruptly",
                     "train 18-26 % for 20 epochs, then train and test-ID jump to 99.9 % in epoch 24 "
                     "of 100 (numbered 0-99; the authors' training log, reference run)",
                     ours, NB["matching"], "transition", rule_transition(plateau, rise)))

    ID, OOD = (torch.arange(low, high + 1) for low, high in (ID_TOKENS, OOD_TOKENS))
    rescaled = evaluate(A.with_ood_embeddings_rescaled(model, OOD, ID), evals["test_ood"])["acc"]
    narrow = (f"the d_model {model.cfg.d_model} model: {pct(acc['test_ood'])} ({pct(rescaled)} with its untrained OOD "
              f"embeddings rescaled to the ID norm, no training)")
    ood, ours = acc["test_ood"], f"same model: test-OOD {pct(acc['test_ood'])} on {N_QUESTIONS:,} questions " \
                                 f"({pct(rescaled)} with the untrained OOD embeddings rescaled to the ID norm, no training)"
    wide_path = data_dir / "chain_2hop_wide.pt"
    if wide_path.exists():
        wide, _ = X.load_chain_2hop_wide(wide_path)
        wide_acc = {split: evaluate(wide.cpu(), d)["acc"] for split, d in evals.items()}
        ood = wide_acc["test_ood"]
        ours = (f"shipped wide 2-hop model (d_model {wide.cfg.d_model}, same task and rules), {N_QUESTIONS:,} questions "
                f"per split: test-OOD {pct(ood)}, test-ID {pct(wide_acc['test_id'])}; {narrow}")
    shared_path = data_dir / "chain_2hop_shared.pt"
    if shared_path.exists():   # [ours] a changed model, so it does not set the verdict
        shared, _ = X.load_chain_2hop_shared(shared_path)
        shared_acc = {split: evaluate(shared.cpu(), d)["acc"] for split, d in evals.items()}
        ours += (f"; [ours] with every token row at one shared learned norm (d_model {shared.cfg.d_model}, so never-seen "
                 f"rows stay visible): test-OOD {pct(shared_acc['test_ood'])}, test-ID {pct(shared_acc['test_id'])}")
    authors_path = data_dir / "authors_chain.json"
    if authors_path.exists():
        authors = json.loads(authors_path.read_text())
        runs = authors["runs"] + authors.get("stopped_runs", [])
        if runs:
            spe = authors["train_config"]["steps_per_epoch"]
            epochs = sorted({r.get("stopped_at_step", r["history"]["steps"][-1]) // spe for r in runs})
            when = "epoch " + " and ".join(map(str, epochs)) + f" of {authors['train_config']['steps'] // spe}"
            ours += (f"; the authors' own configuration on a GPU ({len(runs)} seeds, at {when}): test-OOD "
                     + " / ".join(pct(r.get("full_eval_at_stop", r["final"])["test_ood"]) for r in runs)
                     + " (" + " / ".join(pct(r["interventions"]["by_ratio"]["1.0"]) for r in runs)
                     + " with its never-seen rows raised to the ID norm)")
    rows.append(_row("A", "The matching rule generalises out of distribution (test-OOD)",
                     "test-OOD 94.4 % at the end of the authors' reference run (87 % right after the jump)",
                     ours, NB["matching"], "ood", rule_ood(ood)))
    return rows


HANDBUILT_HOPS = range(1, 7)
N_HANDBUILT = 200


def _handbuilt_row() -> dict:
    from .data import make_chain_data
    from .handbuilt import matching_model
    from .train import evaluate

    worst = {}
    for hops in HANDBUILT_HOPS:
        model = matching_model(hops, d_token=32)
        worst[hops] = min(evaluate(model, make_chain_data(N_HANDBUILT, hops, split, seed=7))["acc"]
                          for split in ("test_id", "test_ood"))
    return _row("A", "A hand-built model of random, nearly orthogonal matrices does the matching, hop by hop",
                "the paper's construction: pairing by position in layer 0, then W_k = Z_0^T and "
                "W_q = Z_{l-1}^T in each later layer, solving multi-hop chains with no training",
                f"`helpers.handbuilt.matching_model`, no training, {N_HANDBUILT} questions per split: "
                f"worst of test-ID / test-OOD for {min(worst)}-{max(worst)} hops: "
                + (f"{pct(min(worst.values()))} for every hop count" if len(set(worst.values())) == 1
                   else _nums(worst.values(), pct)),
                NB["matching"], "handbuilt", rule_handbuilt(worst, max(HANDBUILT_HOPS)))


def _init_row(data_dir: Path) -> dict:
    from . import experiments as X

    sweep = X.load_sweep(data_dir / "init_ln_sweep.json")
    runs = sweep["runs"]
    success = lambda r: r["final"]["test_id"] >= SOLVED

    def rate(group):
        return sum(map(success, group)) / len(group) if group else None

    small = lambda r: r["gamma"] > 0.5
    post_small = rate([r for r in runs if r["norm"] == "post" and small(r)])
    pre_small = rate([r for r in runs if r["norm"] == "pre" and small(r)])
    post_large = rate([r for r in runs if r["norm"] == "post" and not small(r)])

    parts = []
    for norm in sorted({r["norm"] for r in runs}, reverse=True):   # post, then pre
        cells = {}
        for r in runs:
            if r["norm"] == norm:
                cells.setdefault(r["gamma"], []).append(success(r))
        counts = {g: f"{sum(v)}/{len(v)}" for g, v in sorted(cells.items())}
        if len(set(counts.values())) == 1:
            parts.append(f"{norm}-LN {next(iter(counts.values()))} at every γ")
        else:
            parts.append(f"{norm}-LN " + ", ".join(f"γ {g:g}: {c}" for g, c in counts.items()))
    matched = lambda r: max(r["matching_scores"].values()) >= 0.9
    ok = [r for r in runs if success(r)]
    failed = [r for r in runs if not success(r)]
    ours = (f"seeds reaching 95 % test-ID in {steps(sweep['train_config']['steps'])} steps ({sweep['hops']} hop): "
            + "; ".join(parts)
            + f". Effective matching ≥ 0.9 in {sum(map(matched, ok))} of {len(ok)} successes, "
              f"{sum(map(matched, failed))} of {len(failed)} failures")
    two = data_dir / "init_ln_2hop_sweep.json"
    if two.exists():   # the paper's own setting, 2 hops
        grid = X.load_sweep(two)
        cells = {}
        for r in grid["runs"]:
            cells.setdefault((r["norm"], r["gamma"]), []).append(r["history"].steps_to("test_id", SOLVED) is not None)
        counts = "; ".join(f"{norm}-LN " + ", ".join(f"γ {g:g}: {sum(v)}/{len(v)}" for (n, g), v in sorted(cells.items()) if n == norm)
                           for norm in ("post", "pre"))
        ours += (f". 2 hops (the paper's setting, d_model 32, ≤ {steps(grid['train_config']['steps'])} steps): {counts}"
                 + (f" ({len(grid['pending'])} runs still to do)" if grid["pending"] else ""))
    return _row("A", "Small initialization and post-LayerNorm make the matching mechanism form",
                "small init (large γ) with post-LN learns the matching; large init or pre-LN fit the "
                "training set without it (the paper's init-rate and LayerNorm experiments)",
                ours, NB["init"], "init", rule_init_ln(post_small, pre_small, post_large))


def _noise_row(data_dir: Path) -> dict:
    from . import experiments as X

    sweep = X.load_sweep(data_dir / "noise_sweep.json")
    runs = sweep["runs"]
    effects, seeds, parts = {}, {}, []
    for hops in sorted({r["hops"] for r in runs}):
        base = [r for r in runs if r["hops"] == hops and r["sigma"] == 0]
        sigmas = sorted({r["sigma"] for r in runs if r["hops"] == hops and r["sigma"] > 0 and r["target"] == "both"})
        if not base or not sigmas:
            continue
        sigma = 1.0 if 1.0 in sigmas else sigmas[-1]     # the paper's std 1 when the sweep has it
        noisy = [r for r in runs if r["hops"] == hops and r["sigma"] == sigma and r["target"] == "both"]
        a = mean_steps([steps_to(r["history"], "test_id") for r in base])
        b = mean_steps([steps_to(r["history"], "test_id") for r in noisy])
        effects[hops], seeds[hops] = noise_effect(a, b), len(noisy)
        width = X.CHAIN_1HOP_MODEL.d_model if hops == 1 else X.CHAIN_2HOP_MODEL.d_model
        parts.append(f"{hops} hop{'s' if hops > 1 else ''} (d_model {width}, {len(noisy)} seed{'s' if len(noisy) > 1 else ''}): "
                     f"{steps(*a)} → {steps(*b)} with σ = {sigma:g}")
    control = [r for r in runs if r["hops"] == 1 and r["sigma"] == 1.0 and r["target"] == "unmatched"]
    if control:
        c = mean_steps([steps_to(r["history"], "test_id") for r in control])
        parts.append(f"control at 1 hop, σ = 1 on an unmatched pair (no planted identity): {steps(*c)}")
    ours = "mean steps to 95 % test-ID, no noise → frozen noise on W_qk and W_vo [ours]: " + "; ".join(parts)
    five = _noise5_part(data_dir)
    if five:
        effects["5 layers"], seeds["5 layers"], text = five
        ours += ". " + text
    return _row("A", "Adding orthogonal noise improves reasoning",
                "noise of std 0.5 and 1 on W_qk, W_vo or both raises the accuracy of 5-layer models on "
                "the double-chain and with-order datasets (the recipe itself is not public)",
                ours, NB["noise"], "noise", rule_noise(effects, seeds))


def _noise5_part(data_dir: Path) -> tuple[str, int, str] | None:
    """The 5-layer study's slice on with-order questions, sigma 1 at layer 0 against no noise:
    (effect, noisy seeds, text), or None while it has no such noisy run."""
    from . import experiments as X

    path = data_dir / "noise5_sweep.json"
    if not path.exists():
        return None
    runs = [r for r in X.load_sweep(path)["runs"] if r["dataset"] == "with_order_after"]
    base = [r for r in runs if r["sigma"] == 0]
    by_target = {t: [r for r in runs if r["sigma"] == 1.0 and r["layer"] == 0 and r["target"] == t]
                 for t in X.NOISE_TARGETS}
    if not base or not by_target["both"]:
        return None
    mean = {t: mean_steps([steps_to(r["history"], "test_id", 0.98) for r in rs]) for t, rs in by_target.items() if rs}
    a = mean_steps([steps_to(r["history"], "test_id", 0.98) for r in base])
    text = (f"5 layers x 1 head, mixed 1-3-hop with-order questions, mean steps to 98 % test-ID, σ = 1 at layer 0 "
            f"[ours]: no noise ({len(base)} seeds) {steps(*a)} → "
            + ", ".join(f"{'unmatched pair' if t == 'unmatched' else t} {steps(*m)} ({len(by_target[t])} seed"
                        f"{'s' if len(by_target[t]) > 1 else ''})" for t, m in mean.items()))
    final3 = lambda rs: f"{min(r['acc_by_hop']['3'] for r in rs):.2f}-{max(r['acc_by_hop']['3'] for r in rs):.2f}"
    text += f"; final 3-hop accuracy: no noise {final3(base)}, both {final3(by_target['both'])}"
    for target, name in (("both", "the matched pair"), ("vo", "W_vo alone"), ("unmatched", "the unmatched pair")):
        moved = {layer: [r for r in runs if r["sigma"] == 1.0 and r["layer"] == layer and r["target"] == target] for layer in (1, 2)}
        if any(moved.values()):
            text += f"; {name} at another layer: " + ", ".join(
                f"layer {layer} {steps(*mean_steps([steps_to(r['history'], 'test_id', 0.98) for r in rs]))} ({len(rs)} seeds)"
                for layer, rs in moved.items() if rs)
    return noise_effect(a, mean["both"]), len(by_target["both"]), text


def _parallel_row(data_dir: Path) -> dict:
    from . import experiments as X
    from .data import make_chain_data
    from .handbuilt import parallel_model
    from .train import evaluate

    parts, n_beyond, n_runs = [], 0, 0
    for name in ("parallel_sweep", "parallel_depth3"):
        path = data_dir / f"{name}.json"
        if name != "parallel_sweep" and not path.exists():
            continue
        sweep = X.load_sweep(path)
        threshold = sweep.get("solved_threshold", X.SOLVED)
        solved = {}
        for r in sweep["runs"]:
            k = X.largest_hops_solved(r["acc_by_hop"]["test_id"], threshold)
            solved.setdefault(r["depth"], []).append(k)
            n_beyond += k > r["depth"] - 1
            n_runs += 1
        budget = steps(sweep["train_config"]["steps"])
        parts.append(f"{budget} steps, hops {min(sweep['hops'])}-{max(sweep['hops'])}: "
                     + ", ".join(f"L={d}: {_nums(ks, str)}" for d, ks in sorted(solved.items())))
    hand = parallel_model()
    hand_acc = min(evaluate(hand, make_chain_data(N_HANDBUILT, 3, split, seed=7))["acc"] for split in ("test_id", "test_ood"))
    ours = ("largest k with every 1..k at ≥ 95 % test-ID, per depth L, one value per seed; "
            + "; ".join(parts) + f". Hand-built 3-layer model [ours]: 3 hops at {pct(hand_acc)}")
    return _row("A", "Transformers also reason in parallel: L layers do more than L-1 hops",
                "intermediate positions match too and compose hop segments; conjectured bound 2^(L-1) "
                "to 3^(L-1) hops for L layers (with the group's later work)",
                ours, NB["parallel"], "parallel", rule_parallel(n_beyond, n_runs))


def _iteration16_shuffled(data_dir: Path) -> str:
    """The n_len-16 polynomial runs of the data-order control [ours], if shipped: seeds with mean
    accuracy over lengths 4..16 >= 95 % and layer-2 peakiness >= 0.9 (the emergence table)."""
    from . import experiments as X

    path = data_dir / "iteration16_sweep.json"
    if not path.exists():
        return ""
    poly = list(X.iteration16_polynomial_sources(X.load_sweep(path)).values())
    if not poly:
        return ""
    good = [r for r in poly if X.iteration16_reaches_goal(r)]
    return (f". At the authors' n_len 16 with their model and data, on shuffled batches [ours]: {len(good)} of "
            f"{len(poly)} seeds reach mean accuracy ≥ 95 % over lengths 4-16 with layer-2 peakiness ≥ 0.9 "
            f"(the authors' definition: {_nums((r['peakiness'][1] for r in poly))}; layer 1 "
            f"{_nums((r['peakiness'][0] for r in poly))}) within {steps(max(r['history'].steps[-1] for r in poly))} steps")


def _iteration_rows(data_dir: Path) -> list[dict]:
    from . import experiments as X
    from .train import evaluate

    sweep = X.load_sweep(data_dir / "iteration_sweep.json")
    runs = sweep["runs"]
    budget = steps(sweep["scratch_config"]["steps"])
    rows = []

    # the iteration head (layer 2), across seeds
    poly = [r for r in runs if r["kind"] == "scratch" and r["task"] == "polynomial" and r["cot"]]
    final = lambda r: r["history"].final("test")
    peak2 = lambda r: r["history"].metrics.get("peakiness layer 2", [0.0])[-1]
    accurate = [r for r in poly if final(r) >= SOLVED]
    head = [r for r in accurate if peak2(r) >= 0.9]
    others = [r for r in poly if final(r) < SOLVED]
    ours = (f"polynomial with CoT, n_len {sweep['n_len']}, {len(poly)} seeds, ≤ {budget} steps: {len(accurate)} reach "
            f"≥ 95 % test accuracy, {len(head)} of them with final layer-2 peakiness ≥ 0.9 "
            f"({_nums(map(peak2, accurate))}, on length-4 test strings, as the sweep recorded it)")
    if others:
        ours += f"; the others end at {_nums(map(final, others), pct)}"
    ours += _iteration16_shuffled(data_dir)
    rows.append(_row("B", "With CoT an iteration head emerges: layer 2 reads x_{k+1} at step k",
                     "a 2-layer model with CoT learns polynomial iteration through an iteration head; its "
                     "layer-2 peakiness goes to ~1 as accuracy rises, though not every seed finds it",
                     ours, NB["heads"], "head", rule_head(len(head), len(accurate), len(poly))))

    # layer 1 of the head, measured live on the shipped checkpoint over every test length
    model, meta = X.load_polynomial_checkpoint(data_dir / "iteration_polynomial.pt", device="cpu")
    test = X.iteration_eval_sets("polynomial", n_len=meta["task"]["n_len"])["test"]
    pick = torch.randperm(len(test), generator=torch.Generator().manual_seed(0))[:N_QUESTIONS]
    sample = test[pick]
    peaks = authors_peakiness(model, sample)
    lengths = sample.info["lengths"]
    rows.append(_row("B", "Layer 1 of the head reads the end-of-input token",
                     "in the paper's circuit layer 1 attends from every CoT position to the end-of-input "
                     "token, so that its MLP can compute the position of x_{k+1}; a perfect head scores "
                     "peakiness 1 in both layers",
                     f"shipped polynomial model, {N_QUESTIONS:,} test strings of lengths "
                     f"{int(lengths.min())}-{int(lengths.max())}: accuracy {pct(evaluate(model, sample)['acc'])}, "
                     f"peakiness (the authors' definition) layer 1 {peaks[0]:.2f}, layer 2 {peaks[1]:.2f}",
                     NB["map"], "layer1", rule_layer1(peaks[0])))

    # parity with and without CoT
    parity = {cot: [r for r in runs if r["kind"] == "scratch" and r["task"] == "parity" and r["cot"] == cot]
              for cot in (True, False)}
    longest = max(int(k) for k in parity[True][0]["acc_by_length"])
    at_longest = {cot: [r["acc_by_length"][str(longest)] for r in group] for cot, group in parity.items()}
    all_lengths = [final(r) for r in parity[True]]
    first = min(X.MIN_TEST_LENGTH, longest)
    rows.append(_row("B", "Parity needs chain-of-thought",
                     "without CoT, parity is not learned once inputs get long; with CoT the same small "
                     "transformer learns it (the authors' CoT vs no-CoT experiments over length and width)",
                     f"parity from scratch, ≤ {budget} steps, final accuracy per seed at length {longest}: "
                     f"without CoT {_nums(at_longest[False], pct)} (chance 50 %); with CoT "
                     f"{_nums(at_longest[True], pct)}, and over all test lengths {first}-{longest} "
                     f"{_nums(all_lengths, pct)}",
                     NB["heads"], "parity",
                     rule_parity(max(at_longest[False]),
                                 sum(a >= SOLVED for a in all_lengths) / len(all_lengths),
                                 sum(a >= SOLVED for a in at_longest[True]) / len(at_longest[True]))))

    # transfer polynomial -> parity
    sweep16 = _iteration16_sweep(data_dir)
    scratch = {r["seed"]: steps_to(r["history"], "test") for r in parity[True]}
    tuned = {mode: {r["seed"]: steps_to(r["history"], "test") for r in runs
                    if r["kind"] == "finetune" and r["pretrain"] == "polynomial" and r["mode"] == mode}
             for mode in ("all", "layer2_mlp")}
    speedups = [None if tuned["all"][s][1] else scratch[s][0] / tuned["all"][s][0]
                for s in sorted(tuned["all"]) if s in scratch]
    known = [x for x in speedups if x is not None]
    bound = "≥ " if any(scratch[s][1] for s in tuned["all"] if s in scratch) else ""
    fmt = lambda group: ", ".join(steps(v, c) for _, (v, c) in sorted(group.items()))
    ours = (f"steps to 95 % parity test accuracy per seed: fine-tuned after polynomial pretraining "
            f"{fmt(tuned['all'])} (layer-2 MLP only: {fmt(tuned['layer2_mlp'])}); from scratch {fmt(scratch)}")
    if known:
        ours += (f"; speed-up {bound}{min(known):.0f}× in every seed" if len(known) == len(speedups)
                 else f"; speed-up {bound}{min(known):.0f}× in the {len(known)} seeds whose fine-tune got there")
    rows.append(_row("B", "The CoT skill transfers: polynomial pretraining makes parity fast",
                     "fine-tuned from a polynomial-iteration model, parity with CoT is learned much faster "
                     "than from scratch: the head is reused and only the step function changes",
                     ours + _iteration16_transfer(sweep16), NB["transfer"], "transfer",
                     _with_mlp2_at_16(rule_transfer(speedups), sweep16)))
    return rows


def _mlp2_at_16(sweep: dict) -> tuple[int, int]:
    """(seeds that reach 0.9 at every length, seeds run): parity fine-tuned through the layer-2 MLP
    alone at n_len 16, from polynomial sources with a head."""
    from . import experiments as X
    sources = X.iteration16_polynomial_sources(sweep)
    runs = [r for r in X.iteration16_transfer_runs(sweep)["finetune_mlp2"] if X.iteration16_reaches_goal(sources[r["seed"]])]
    return sum(X.worst_length_accuracy(r) >= 0.9 for r in runs), len(runs)


def _iteration16_sweep(data_dir: Path) -> dict:
    """The n_len-16 data-order control [ours] if shipped, else an empty sweep."""
    from . import experiments as X
    path = data_dir / "iteration16_sweep.json"
    return X.load_sweep(path) if path.exists() else {"runs": []}


def _with_mlp2_at_16(verdict: tuple[str, str], sweep16: dict) -> tuple[str, str]:
    """The transfer verdict, with the paper's 'only the step function changes' checked at n_len 16
    when shipped: the verdict reads n_len 8; a layer-2-MLP failure at 16 is said beside it."""
    ok, n = _mlp2_at_16(sweep16)
    if n == 0 or 2 * ok > n:
        return verdict
    return verdict[0], (f"{verdict[1]} (n_len 8); at n_len 16 the whole model transfers, but the layer-2 MLP alone, "
                        f"from a source with a head, learns parity in {ok} of {n} seeds, so 'only the step function changes' holds at 8, not at 16")


def _iteration16_transfer(sweep: dict) -> str:
    """Transfer in the n_len-16 data-order control [ours], if shipped: the whole-model speed-up
    over the seeds whose polynomial source has a head, the others, and the layer-2-MLP runs."""
    from . import experiments as X

    runs = X.iteration16_transfer_runs(sweep)
    if not runs["finetune_full"]:
        return ""
    sources = X.iteration16_polynomial_sources(sweep)
    scratch = {r["seed"]: r["history"].steps_to("test", 0.95) for r in runs["scratch"]}
    ratio = lambda r: (scratch[r["seed"]] / r["history"].steps_to("test", 0.95)
                       if scratch.get(r["seed"]) and r["history"].steps_to("test", 0.95) else None)
    head = [r for r in runs["finetune_full"] if X.iteration16_reaches_goal(sources[r["seed"]])]
    ratios = [x for x in map(ratio, head) if x is not None]
    others = [f"seed {r['seed']} (source layer-2 peakiness {sources[r['seed']]['peakiness'][1]:.2f}): "
              + (f"{ratio(r):.2g}×" if ratio(r) else "not reached")
              for r in runs["finetune_full"] if r not in head]
    mlp2_ok, n_mlp2_head = _mlp2_at_16(sweep)
    mlp2_other = [r["seed"] for r in runs["finetune_mlp2"]
                  if not X.iteration16_reaches_goal(sources[r["seed"]]) and X.worst_length_accuracy(r) >= 0.9]
    text = (f". At the authors' n_len 16 (their model and data, shuffled batches [ours]): fine-tuned whole from a "
            f"polynomial model with a head, parity reaches 95 % mean test accuracy over lengths 4-16 in "
            f"{_nums((r['history'].steps_to('test', 0.95) for r in head), str)} steps")
    if ratios:
        text += f", {statistics.fmean(ratios):.0f} ± {statistics.pstdev(ratios):.0f}× fewer than from scratch ({len(ratios)} seeds)"
    if others:
        text += "; from sources without one: " + "; ".join(others)
    text += (f"; layer-2 MLP only, from a source with a head: {mlp2_ok} of {n_mlp2_head} seeds reach 0.9 at every "
             f"length in {steps(X.ITER16_SHUFFLED_STEPS)} steps")
    if mlp2_other:
        many = len(mlp2_other) > 1
        text += f" (from a source without one, seed{'s' if many else ''} {', '.join(map(str, mlp2_other))} do{'' if many else 'es'})"
    return text


def _missing(paper: str, claim: str, notebook: str, rule_key: str, err: Exception) -> dict:
    return _row(paper, claim, "see the notebook", f"artifact missing: {err}", notebook, rule_key,
                ("not yet", "the artifact is not in data/ (see data/README.md to regenerate it)"))


def rows(data_dir: Path = DATA_DIR) -> list[dict]:
    """Every claim of both papers, with our numbers computed now from `data_dir`."""
    data_dir = Path(data_dir)
    out = []
    builders = [
        ("A", "The matching mechanism on 2-hop chains", NB["matching"], "matching", lambda: _chain_rows(data_dir)),
        ("A", "A hand-built model does the matching", NB["matching"], "handbuilt", lambda: [_handbuilt_row()]),
        ("A", "Small init and post-LN help", NB["init"], "init", lambda: [_init_row(data_dir)]),
        ("A", "Orthogonal noise improves reasoning", NB["noise"], "noise", lambda: [_noise_row(data_dir)]),
        ("A", "Parallel reasoning beyond L-1 hops", NB["parallel"], "parallel", lambda: [_parallel_row(data_dir)]),
        ("B", "Iteration heads, parity and transfer", NB["heads"], "head", lambda: _iteration_rows(data_dir)),
    ]
    for paper, claim, notebook, rule_key, build in builders:
        try:
            out.extend(build())
        except FileNotFoundError as err:
            out.append(_missing(paper, claim, notebook, rule_key, err))
    return out


# ----------------------------------------------------------------------------------------------
# Rendering
# ----------------------------------------------------------------------------------------------
def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown_table(rows_: list[dict] | None = None, from_notebooks: bool = False) -> str:
    """The scorecard as Markdown: the table, then the rule behind each status.

    from_notebooks: links relative to notebooks/ (for a notebook) instead of the repository root.
    """
    rows_ = rows() if rows_ is None else rows_
    lines = ["| paper | claim | the authors | ours (computed from `data/`) | notebook | status |",
             "|---|---|---|---|---|---|"]
    for r in rows_:
        target = r["notebook"].removeprefix("notebooks/") if from_notebooks else r["notebook"]
        link = f"[{Path(r['notebook']).name[:2]}]({target})"
        lines.append("| " + " | ".join(_cell(x) for x in (
            r["paper"], r["claim"], r["authors"], r["ours"], link,
            f"**{r['status']}**: {r['reason']}")) + " |")
    counts = {p: {s: sum(r["paper"] == p and r["status"] == s for r in rows_) for s in STATUSES}
              for p in sorted({r["paper"] for r in rows_})}
    lines += ["", "Totals: " + "; ".join(f"paper {p} ({'arXiv ' + (PAPER_A if p == 'A' else PAPER_B)}): "
                                        + ", ".join(f"{n} {s}" for s, n in c.items())
                                        for p, c in counts.items()) + ".",
              "", "How each status is decided (`helpers/scorecard.py`, one `rule_*` function per claim):", ""]
    seen = []
    for r in rows_:
        if r["rule"] not in seen:
            seen.append(r["rule"])
            lines.append(f"- *{r['claim']}*: {r['rule']}.")
    return "\n".join(lines)


def readme_block(text: str) -> str:
    """The text between the scorecard markers of README.md (stripped)."""
    match = re.search(re.escape(README_START) + r"(.*?)" + re.escape(README_END), text, re.S)
    if not match:
        raise ValueError(f"README.md has no {README_START} ... {README_END} block")
    return match.group(1).strip()


def write_readme(table: str, path: Path = ROOT_DIR / "README.md") -> Path:
    text = path.read_text()
    readme_block(text)  # raises when the markers are missing
    new = re.sub(re.escape(README_START) + r".*?" + re.escape(README_END),
                 lambda _: f"{README_START}\n{table}\n{README_END}", text, flags=re.S)
    path.write_text(new)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description="Print the reproduction scorecard.")
    parser.add_argument("--write-readme", action="store_true",
                        help=f"replace the block between {README_START} and {README_END} in README.md")
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.perf_counter()
    table = markdown_table()
    print(table)
    if args.write_readme:
        print(f"\nwrote {write_readme(table)}")
    print(f"\n(computed in {time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
    main()
