"""Measurements on trained models: matching matrices, ablations, peakiness of iteration heads."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable

import numpy as np
import torch

from .data import SeqData
from .model import Transformer
from .train import predict


# ----------------------------------------------------------------------------------------------
# Paper A: the matching mechanism
# ----------------------------------------------------------------------------------------------
def matching_matrix(model: Transformer, layer: int, tokens: torch.Tensor) -> torch.Tensor:
    """Weight-space matching matrix M_l[u, v] (notebook 00's notation) over `tokens` (rows u, columns v).

    Layer 1: e_u W_qk1 (e_v W_vo0)^T. Layer l >= 2: (e_u W_vo_{l-1}) W_qk_l (e_v W_vo0)^T: the
    query holds u as written by the previous hop, the key holds v as written by the pairing
    layer 0. It ignores LayerNorm, positions and the FFN.
    """
    if layer < 1:
        raise ValueError(f"layer={layer}: matching starts at layer 1 (layer 0 pairs tokens)")
    with torch.no_grad():
        e = model.token_embeddings()[tokens.to(model.device)]
        query_side = e if layer == 1 else e @ model.W_vo(layer - 1)
        key_side = e @ model.W_vo(0)
        return (query_side @ model.W_qk(layer) @ key_side.T).cpu()


def effective_matching_matrix(model: Transformer, data: SeqData, layer: int, hop: int | None = None,
                              head: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Matching measured on real hidden states: (M [n_tok, n_tok], tokens).

    Rows: the mean query of `layer` at the last position, grouped by the node that query should
    look for when the layer performs hop number `hop` (default: hop = layer, as in a 2-hop
    model; a 3-layer 1-hop model may match in layer 2 with hop=1): the node hop-1 after start. Columns: the mean key at every second-of-pair
    position, grouped by that pair's first token (its parent). M[u, v] is their dot product:
    a diagonal M means "the query for u finds the position whose parent is u".
    """
    if layer < 1:
        raise ValueError(f"layer={layer}: matching starts at layer 1 (layer 0 pairs tokens)")
    _, cache = model.run_with_cache(data.inputs.to(model.device),
                                    names_filter=lambda n: n.endswith(("hook_q", "hook_k")))
    q = cache["q", layer][:, -1, head].cpu()                    # [batch, d_head]
    rows = torch.arange(len(data))
    looked_for = data.info["chain"][rows, data.info["start"] + (hop or layer) - 1]
    return _matching_by_parent(q, looked_for, cache, data, layer, head)


def _matching_by_parent(q, looked_for, cache, data, layer, head):
    """(M, tokens): mean query grouped by the node it looks for, against the mean key of `layer`
    at every second-of-pair slot grouped by that pair's parent."""
    n_pair_tokens = pair_token_count(data)
    k = cache["k", layer][:, 1:n_pair_tokens:2, head].cpu()      # [batch, n_pairs, d_head]
    parents = data.inputs[:, 0:n_pair_tokens:2]
    tokens = torch.tensor(sorted(set(looked_for.tolist()) & set(parents.unique().tolist())))
    q_mean = _group_mean(q, looked_for, tokens)
    k_mean = _group_mean(k.reshape(-1, k.shape[-1]), parents.reshape(-1), tokens)
    return q_mean @ k_mean.T, tokens


def _group_mean(x: torch.Tensor, groups: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    return torch.stack([x[groups == t].mean(0) for t in tokens])


def diagonal_score(matrix: torch.Tensor) -> float:
    """Fraction of rows whose largest entry is on the diagonal (1.0: perfect matching)."""
    return (matrix.argmax(dim=1) == torch.arange(len(matrix))).float().mean().item()


def ablation_accuracy(model: Transformer, data: SeqData, hook_name: str, mode: str = "zero") -> float:
    """Accuracy with one activation replaced by zeros ("zero") or its batch mean ("mean")."""
    if mode not in ("zero", "mean"):
        raise ValueError(f"mode={mode!r} is not one of ['zero', 'mean']")

    def ablate(x, hook):
        return torch.zeros_like(x) if mode == "zero" else x.mean(0, keepdim=True).expand_as(x)

    with model.hooks([(hook_name, ablate)]):
        _, correct = predict(model, data)
    return correct.float().mean().item()


def embedding_norms(model: Transformer, tokens: torch.Tensor) -> torch.Tensor:
    return model.token_embeddings()[tokens.to(model.device)].norm(dim=-1).detach().cpu()


def with_ood_embeddings_rescaled(model: Transformer, ood_tokens: torch.Tensor, id_tokens: torch.Tensor,
                                 ratio: float = 1.0, random_directions: bool = False, seed: int = 0) -> Transformer:
    """A copy of `model` whose OOD token embeddings have norm `ratio` x the mean ID norm.

    OOD tokens never occur in training, so their embeddings stay at init size while ID ones
    grow; this asks whether the matching circuit would handle them if only they were visible
    (ratio 1), or would lose them if they were as faint as a narrow model's (ratio < 1).
    random_directions=True also replaces each OOD row's direction with a fresh Gaussian one
    (generator `seed`): if OOD works because an untrained row is *some* random code, a new random
    code of the same norm works as well. No weight is trained.
    """
    import copy

    if ratio <= 0:
        raise ValueError(f"ratio={ratio} must be > 0")
    fixed = copy.deepcopy(model)
    rows = ood_tokens.to(model.device)
    with torch.no_grad():
        target = embedding_norms(model, id_tokens).mean() * ratio
        emb = fixed.embed.weight[rows]
        if random_directions:
            g = torch.Generator().manual_seed(seed)
            emb = torch.randn(emb.shape, generator=g).to(emb)
        fixed.embed.weight[rows] = emb * (target.to(emb) / emb.norm(dim=-1, keepdim=True))
    return fixed


def embedding_geometry(model: Transformer, id_tokens: torch.Tensor, ood_tokens: torch.Tensor) -> dict:
    """How the token embeddings sit: {"ood_id_norm_ratio": mean OOD row norm / mean ID row norm,
    "id_abs_cos": mean |cosine| between two different ID rows, "id_ood_abs_cos": mean |cosine|
    between an ID row and an OOD row}. Random rows in d dimensions give |cos| ~ 0.8 / sqrt(d)."""
    emb = model.token_embeddings().detach().cpu()
    id_rows, ood_rows = emb[id_tokens], emb[ood_tokens]
    unit_id = id_rows / id_rows.norm(dim=-1, keepdim=True)
    unit_ood = ood_rows / ood_rows.norm(dim=-1, keepdim=True)
    cos_id = (unit_id @ unit_id.T).abs()
    n = len(id_tokens)
    return {"ood_id_norm_ratio": (ood_rows.norm(dim=-1).mean() / id_rows.norm(dim=-1).mean()).item(),
            "id_abs_cos": ((cos_id.sum() - cos_id.diagonal().sum()) / (n * (n - 1))).item(),
            "id_ood_abs_cos": (unit_id @ unit_ood.T).abs().mean().item()}


def pair_token_count(data: SeqData) -> int:
    """How many leading positions of a chain question hold the shuffled pairs."""
    if "n_pairs" in data.info:
        return 2 * int(data.info["n_pairs"])
    n_chains, n_nodes = data.info["chains"].shape[1:]
    return 2 * n_chains * (n_nodes - 1)


def child_position(data: SeqData, node: torch.Tensor) -> torch.Tensor:
    """Position of each row's second-of-pair slot holding `node` (where node is a child)."""
    n_pair_tokens = pair_token_count(data)
    children = data.inputs[:, 1:n_pair_tokens:2]
    return (children == node[:, None]).float().argmax(dim=1) * 2 + 1


def hop_attention_accuracy(model: Transformer, data: SeqData, head: int = 0) -> dict[int, float]:
    """How often each layer attends where the matching mechanism says it should.

    Layer 0: every second-of-pair position's strongest key is the token before it (pairing).
    Layer l >= 1: the last position's strongest key is the slot of the node l hops after the
    start (the slot whose parent matches what the query holds).
    """
    _, cache = model.run_with_cache(data.inputs.to(model.device),
                                    names_filter=lambda n: n.endswith("hook_pattern"))
    rows = torch.arange(len(data))
    n_pair_tokens = pair_token_count(data)
    odd = torch.arange(1, n_pair_tokens, 2)
    result = {0: (cache["pattern", 0][:, head, odd].argmax(-1).cpu() == odd - 1).float().mean().item()}
    for layer in range(1, model.cfg.n_layers):
        node = data.info["chain"][rows, (data.info["start"] + layer).clamp(max=data.info["chain"].shape[1] - 1)]
        target = child_position(data, node)
        strongest = cache["pattern", layer][:, head, -1].argmax(-1).cpu()
        result[layer] = (strongest == target).float().mean().item()
    return result


def other_middle_node(data: SeqData) -> torch.Tensor:
    """Per row, the chain index of a node that has a child but is not the true first hop."""
    start = data.info["start"]
    other = (start + 1) % 5 + 1                                   # a node in 1..5: it has a child
    return torch.where(other == start + 1, other % 5 + 1, other)  # ... and is not the true middle


def redirect_last_query(model: Transformer, data: SeqData, layer: int, key_pos: torch.Tensor,
                        head: int = 0) -> torch.Tensor:
    """Predicted tokens when the last position of `layer` is forced to attend to `key_pos`."""
    def redirect(pattern, hook):
        pattern = pattern.clone()
        pattern[:, head, -1] = 0.0
        pattern[torch.arange(len(pattern)), head, -1, key_pos.to(pattern.device)] = 1.0
        return pattern

    with torch.no_grad(), model.hooks([(f"blocks.{layer}.attn.hook_pattern", redirect)]):
        return model(data.inputs.to(model.device))[:, -1].argmax(-1).cpu()


# ----------------------------------------------------------------------------------------------
# Paper B: iteration heads
# ----------------------------------------------------------------------------------------------
def iteration_head_targets(data: SeqData, min_length: int = 1):
    """Index tensors (row, query, key1, key2) of the entries an ideal iteration head attends.

    For a sequence of length L (prefix at 0, x_t at t, EoI at L+1) and k = 0..L-1, the query
    at L+1+k holds s_k (EoI plays s_0): layer 1 should read the EoI key (L+1), layer 2 the key
    of x_{k+1} (position k+1).
    """
    lengths = data.info["lengths"][:, None]
    k = torch.arange(int(lengths.max()))[None, :]
    valid = (k < lengths) & (lengths >= min_length)
    rows = torch.arange(len(lengths))[:, None].expand_as(valid)
    return rows[valid], (lengths + 1 + k)[valid], (lengths + 1).expand_as(valid)[valid], (k + 1).expand_as(valid)[valid]


def iteration_attention_metrics(model: Transformer, data: SeqData, min_length: int = 1,
                                head: int = 0) -> dict:
    """Paper B's attention metrics, per length, as `attention_metrics` in `src/cot/evals/cot.py`
    (facebookresearch/pal) computes them.

    For the sequences of length L (EoI at position L+1): layer 1 takes the chain-of-thought
    queries L+2..2L+1 against the EoI key; layer 2 the diagonal, query L+1+t against the key of
    x_{t+1} (t = 0..L-1). Per layer: "peaky" is the fraction of those weights above 0.5,
    "mean" their mean, "invariance" 1 - (std over sequences, averaged over the entries).
    Returns {"per_length": {L: {...}}, "lengths": [...], and the mean over lengths >= min_length
    of each score as "peaky", "mean", "invariance": (layer 1, layer 2)}.
    """
    lengths = [L for L in sorted(data.info["lengths"].unique().tolist()) if L >= min_length]
    if not lengths:
        raise ValueError(f"min_length={min_length}: the data holds no sequence that long "
                         f"(lengths {sorted(data.info['lengths'].unique().tolist())})")
    _, cache = model.run_with_cache(data.inputs.to(model.device),
                                    names_filter=lambda n: n.endswith("hook_pattern"))
    per_length = {}
    for L in lengths:
        rows = data.info["lengths"] == L
        eoi, t = L + 1, torch.arange(L)
        first = cache["pattern", 0][rows, head].cpu()[:, eoi + 1:2 * eoi, eoi]     # [n, L]
        second = cache["pattern", 1][rows, head].cpu()[:, eoi + t, t + 1]          # [n, L]
        per_length[L] = {
            "peaky": tuple((w > 0.5).float().mean().item() for w in (first, second)),
            "mean": tuple(w.mean().item() for w in (first, second)),
            "invariance": tuple(1 - (w.std(dim=0).mean().item() if len(w) > 1 else 0.0) for w in (first, second)),
        }
    means = {key: tuple(float(np.mean([per_length[L][key][i] for L in lengths])) for i in (0, 1))
             for key in ("peaky", "mean", "invariance")}
    return {"per_length": per_length, "lengths": lengths, **means}


def peakiness(model: Transformer, data: SeqData, min_length: int = 1, head: int = 0) -> dict[int, float]:
    """Paper B's peakiness of both layers {0: layer 1, 1: layer 2} (1.0: a perfect iteration head):
    per length, the fraction of the target attention weights above 0.5, then the mean over the
    lengths >= min_length present in `data` (see `iteration_attention_metrics`)."""
    peaky = iteration_attention_metrics(model, data, min_length, head)["peaky"]
    return {0: peaky[0], 1: peaky[1]}


def ideal_iteration_patterns(tokens: torch.Tensor, eoi_token: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The two attention patterns [batch, query, key] of a perfect iteration head.

    Layer 1: every position from EoI on attends to EoI. Layer 2: the position EoI + k attends to
    x_{k+1} at position k + 1 (the last ones, which predict EoS, to EoI). Positions before EoI
    attend to themselves.
    """
    batch, T = tokens.shape
    eoi = (tokens == eoi_token).float().argmax(dim=1)[:, None]            # [batch, 1]
    q = torch.arange(T, device=tokens.device)[None, :]                     # [1, T]
    after = q >= eoi
    key1 = torch.where(after, eoi, q)
    key2 = torch.where(after, torch.minimum(q - eoi + 1, eoi), q)
    eye = torch.eye(T, device=tokens.device)
    return eye[key1], eye[key2]


@contextmanager
def iteration_head_by_hand(model: Transformer, eoi_token: int, head: int = 0, layers: tuple[int, ...] = (0, 1)):
    """Within the block, the attention patterns of `layers` (0: layer 1, 1: layer 2; both by
    default) are replaced by the ideal ones; the rest of the model (embeddings, values, MLPs, the
    other layer's attention) computes, and trains, as usual."""
    if not layers or any(layer not in (0, 1) for layer in layers):
        raise ValueError(f"layers={layers!r} must name layer 0, layer 1 or both (0 and 1)")
    current = {}

    def remember(module, args):
        current["patterns"] = ideal_iteration_patterns(args[0], eoi_token)

    def override(layer):
        def fn(pattern, hook):
            pattern = pattern.clone()
            pattern[:, head] = current["patterns"][layer]
            return pattern
        return fn

    handle = model.register_forward_pre_hook(remember)
    try:
        with model.hooks([(f"blocks.{layer}.attn.hook_pattern", override(layer)) for layer in layers]):
            yield model
    finally:
        handle.remove()


def chain_index(data: SeqData) -> torch.Tensor:
    """[n, seq]: index in the asked chain of the token at each position (-1: not on that chain)."""
    hits = data.inputs[:, :, None] == data.info["chain"][:, None, :]
    return torch.where(hits.any(-1), hits.float().argmax(-1), torch.tensor(-1))


def top_key_chain_offsets(model: Transformer, data: SeqData, head: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Where each layer's strongest key sits on the chain, relative to the query.

    Returns (last, pairs):
    - last [n_layers, n]: chain index of the last position's strongest key minus the start's
      (serial matching predicts `l` in layer l: it fetches the node l hops ahead);
    - pairs [n_layers, n, n_pairs]: for each second-of-pair position (token at chain index i),
      the chain index of its strongest key minus i, or NaN when that key is inside its own
      pair. Keys in *other* pairs are what composing hop segments in parallel needs.
    Offsets to tokens off the asked chain (other chain, hop token) are NaN.
    """
    patterns = _patterns(model, data, head)
    index = _chain_index_or_nan(data)
    odd = torch.arange(1, pair_token_count(data), 2)
    pairs = []
    for pattern in patterns:
        top = pattern[:, odd].argmax(-1)                          # [n, n_pairs]
        offset = torch.gather(index, 1, top) - index[:, odd]
        pairs.append(torch.where((top == odd) | (top == odd - 1), torch.tensor(float("nan")), offset))
    return chain_offsets_read(model, data, (-1,), head, patterns)[0], torch.stack(pairs)


def _patterns(model: Transformer, data: SeqData, head: int = 0) -> list[torch.Tensor]:
    """Every layer's attention pattern of `head`, [n, query, key], on the CPU."""
    _, cache = model.run_with_cache(data.inputs.to(model.device),
                                    names_filter=lambda n: n.endswith("hook_pattern"))
    return [cache["pattern", layer][:, head].cpu() for layer in range(model.cfg.n_layers)]


def _chain_index_or_nan(data: SeqData) -> torch.Tensor:
    index = chain_index(data).float()
    index[index < 0] = float("nan")
    return index


def chain_offsets_read(model: Transformer, data: SeqData, positions=(-1,), head: int = 0,
                       patterns: list[torch.Tensor] | None = None) -> torch.Tensor:
    """[len(positions), n_layers, n]: at each query position and layer, where the strongest key's
    token sits on the asked chain, counted from the start (k: the node k hops after the start;
    NaN: a token off that chain, e.g. the hop token or the other chain). A serial model's last
    position reads node l - 1 in layer l; any other position shows what it prepares for it."""
    patterns = patterns if patterns is not None else _patterns(model, data, head)
    index, rows = _chain_index_or_nan(data), torch.arange(len(data))
    return torch.stack([torch.stack([index[rows, pattern[:, pos].argmax(-1)] - data.info["start"] for pattern in patterns])
                        for pos in positions])


def with_order_attention_targets(model: Transformer, data: SeqData, positions=(-2, -1), head: int = 0,
                                 patterns: list[torch.Tensor] | None = None) -> list[list[dict]]:
    """With-order questions (pairs, then the start token, then the hop token): [position][layer] ->
    {label: share of questions}, largest first, for where each query position's strongest key is:
    "start token" or "hop token" (the question's own two tokens), "node k" (the second slot of a
    pair, holding the node k hops after the start as a child: where matching looks), "node k as a
    parent" (a pair's first slot) or "off chain" (a slot of a node before the start)."""
    patterns = patterns if patterns is not None else _patterns(model, data, head)
    T = data.inputs.shape[1]
    offsets = chain_offsets_read(model, data, positions, head, patterns)
    table = []
    for pos, by_layer in zip(positions, offsets):
        rows = []
        for pattern, offset in zip(patterns, by_layer):
            top = pattern[:, pos].argmax(-1)
            labels = ["start token" if t == T - 2 else "hop token" if t == T - 1
                      else "off chain" if torch.isnan(o) or o < 0 else f"node {int(o)}" + ("" if t % 2 else " as a parent")
                      for t, o in zip(top.tolist(), offset)]
            shares = {v: labels.count(v) / len(labels) for v in set(labels)}
            rows.append(dict(sorted(shares.items(), key=lambda kv: -kv[1])))
        table.append(rows)
    return table


def serial_walk_share(model: Transformer, data: SeqData, hops: int, head: int = 0,
                      patterns: list[torch.Tensor] | None = None) -> dict[int, float]:
    """With-order questions of `hops` hops: {first layer s: share of questions whose last (hop)
    position walks the chain on its own from layer s}, i.e. its strongest key is the start token
    in layer s and the slot holding node j as a child in layer s + j, for j = 1..hops. A walk needs
    hops + 1 layers, so s runs over 0..n_layers - hops - 1. A question can fit walks from two
    first layers whose layers do not overlap (1 hop from layers 0 and 2, say); it counts once,
    under the earliest, so the shares add up to the share of questions walked at all."""
    patterns = patterns if patterns is not None else _patterns(model, data, head)
    n_layers, T = len(patterns), data.inputs.shape[1]
    if not 1 <= hops < n_layers:
        raise ValueError(f"hops={hops}: a walk of k hops needs k + 1 layers, so hops must be in 1..{n_layers - 1}")
    offsets = chain_offsets_read(model, data, (-1,), head, patterns)[0]          # [n_layers, n]
    tops = torch.stack([pattern[:, -1].argmax(-1) for pattern in patterns])       # [n_layers, n]
    reads_start = tops == T - 2
    child_slot = (tops < pair_token_count(data)) & (tops % 2 == 1)

    def reads_node(j, layer):
        return child_slot[layer] & (offsets[layer] == j)

    shares, counted = {}, torch.zeros_like(reads_start[0])
    for s in range(n_layers - hops):
        walks = reads_start[s].clone()
        for j in range(1, hops + 1):
            walks &= reads_node(j, s + j)
        shares[s] = (walks & ~counted).float().mean().item()
        counted |= walks
    return shares


def without_start_token(layers) -> list[tuple[str, Callable]]:
    """Hooks (for `model.hooks`) that stop the last position of a with-order question (the hop
    token) from attending to the start token (the position before it) in each of `layers`: that
    attention weight is set to 0 and the rest renormalised."""
    def block(pattern, hook):
        pattern = pattern.clone()
        pattern[:, :, -1, -2] = 0.0
        return pattern / pattern.sum(-1, keepdim=True)
    return [(f"blocks.{layer}.attn.hook_pattern", block) for layer in layers]


def pairs_kept_apart(layers, n_pair_tokens: int) -> list[tuple[str, Callable]]:
    """Hooks (for `model.hooks`) that stop the pairs of a chain question from reading each other in
    each of `layers`: a query among the first `n_pair_tokens` positions (`pair_token_count`) keeps
    only its attention to its own pair (the pair's first slot, and itself); the weights on every
    other key are set to 0 and the rest renormalised. The question's positions are untouched, so
    what this removes is the traffic between pairs that composing hops in parallel would need."""
    if n_pair_tokens < 2 or n_pair_tokens % 2:
        raise ValueError(f"n_pair_tokens={n_pair_tokens}: the pairs fill an even number >= 2 of positions")

    def keep_own_pair(pattern, hook):
        keys = torch.arange(pattern.shape[-1], device=pattern.device)
        queries = torch.arange(n_pair_tokens, device=pattern.device)
        other = keys[None, :] // 2 != queries[:, None] // 2                  # [pair query, key]
        pattern = pattern.clone()
        pattern[:, :, :n_pair_tokens] = pattern[:, :, :n_pair_tokens].masked_fill(other, 0.0)
        return pattern / pattern.sum(-1, keepdim=True)
    return [(f"blocks.{layer}.attn.hook_pattern", keep_own_pair) for layer in layers]


def shared_node_reads(model: Transformer, data: SeqData, layer: int, head: int = 0,
                      patterns: list[torch.Tensor] | None = None) -> dict[str, float]:
    """Of the pairs' first ("parent") and second ("child") slots, the share whose strongest key in
    `layer` sits in *another* pair and holds the same token: the pair that shares this node, where
    linking two pairs into a two-hop segment would look. Also, under "parent can" / "child can",
    the share of slots for which such a key exists at all (an earlier position, in another pair,
    with the same token: the causal mask hides later ones), and under "parent of those that can" /
    "child of those that can", the first share divided by the second."""
    patterns = patterns if patterns is not None else _patterns(model, data, head)
    if not 0 <= layer < len(patterns):
        raise ValueError(f"layer={layer}: allowed 0..{len(patterns) - 1}")
    n_pair_tokens, inputs = pair_token_count(data), data.inputs.cpu()
    queries = torch.arange(n_pair_tokens)
    top = patterns[layer][:, :n_pair_tokens].argmax(-1)                              # [n, pair positions]
    same = (inputs.gather(1, top) == inputs[:, :n_pair_tokens]) & (top // 2 != queries // 2)
    pairs = inputs[:, :n_pair_tokens]
    earlier_other = (queries[None, :] < queries[:, None]) & (queries[None, :] // 2 != queries[:, None] // 2)
    can = ((pairs[:, :, None] == pairs[:, None, :]) & earlier_other).any(-1)        # [n, pair positions]
    out = {}
    for name, cols in (("parent", slice(0, None, 2)), ("child", slice(1, None, 2))):
        out[name] = same[:, cols].float().mean().item()
        out[f"{name} can"] = can[:, cols].float().mean().item()
        out[f"{name} of those that can"] = (same[:, cols] & can[:, cols]).sum().item() / max(1, can[:, cols].sum().item())
    return out


# ----------------------------------------------------------------------------------------------
# Notebook 08 [ours]: which mechanism does each chain-of-thought step use?
# ----------------------------------------------------------------------------------------------
def cot_queries(data: SeqData) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(row, position, node) of every scored chain-of-thought step: the query at `position`
    holds `node` (the start token or a path token) and must predict its child."""
    rows, pos = data.mask.nonzero(as_tuple=True)
    return rows, pos, data.inputs[rows, pos]


def cot_child_slot(data: SeqData, rows: torch.Tensor, node: torch.Tensor) -> torch.Tensor:
    """Position of the second-of-pair slot whose parent is `node`, i.e. where `node`'s child sits."""
    n_pair_tokens = pair_token_count(data)
    parents = data.inputs[rows, 0:n_pair_tokens:2]
    return (parents == node[:, None]).float().argmax(dim=1) * 2 + 1


def cot_effective_matching_matrix(model: Transformer, data: SeqData, layer: int = 1,
                                  head: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Paper A's effective matching matrix for the chain-of-thought steps: rows are the mean
    query of `layer` at every step grouped by the node the step holds, columns the mean key at
    every second-of-pair slot grouped by its parent. Diagonal: each step looks up its node by
    content."""
    if layer < 1:
        raise ValueError(f"layer={layer}: matching starts at layer 1 (layer 0 pairs tokens)")
    _, cache = model.run_with_cache(data.inputs.to(model.device),
                                    names_filter=lambda n: n.endswith(("hook_q", "hook_k")))
    rows, pos, node = cot_queries(data)
    q = cache["q", layer][:, :, head].cpu()[rows, pos]
    return _matching_by_parent(q, node, cache, data, layer, head)


def cot_attention_summary(model: Transformer, data: SeqData, layer: int = 1, head: int = 0) -> dict:
    """Where `layer`'s strongest key sits for every chain-of-thought step.

    "content": the fraction that is the slot of the step's child (found by what the node is);
    "fixed_offset": the fraction at the single most common query-key distance (what a
    positional head, like paper B's iteration head, would show: one offset for every step);
    "peaky": the fraction of steps whose top weight is above 0.5 (paper B's threshold)."""
    _, cache = model.run_with_cache(data.inputs.to(model.device),
                                    names_filter=lambda n: n.endswith("hook_pattern"))
    rows, pos, node = cot_queries(data)
    pattern = cache["pattern", layer][:, head].cpu()[rows, pos]          # [steps, key]
    top = pattern.argmax(-1)
    offsets = pos - top
    return {"content": (top == cot_child_slot(data, rows, node)).float().mean().item(),
            "fixed_offset": (offsets == offsets.mode().values).float().mean().item(),
            "peaky": (pattern.max(-1).values > 0.5).float().mean().item()}


def redirected_step_accuracy(model: Transformer, data: SeqData, seed: int = 0) -> dict:
    """Overwrite the first chain-of-thought token x_{i+1} with another node w of the chain that
    has a child, and read the prediction at that position (teacher forcing).

    Returns the fraction of predictions equal to child(w) ("follows_new_token": the step reads
    the token it is given) and equal to the original x_{i+2} ("keeps_old_path": it recalls the
    path some other way). Rows with fewer than 2 steps are skipped."""
    keep = data.info["hops"] >= 2
    if not keep.any():
        raise ValueError("redirected_step_accuracy needs questions of at least 2 hops")
    d = data[keep]
    pos = d.info["question_pos"] + 1
    chain, start = d.info["chain"], d.info["start"]
    n_nodes = chain.shape[1]
    g = torch.Generator().manual_seed(seed)
    index = torch.randint(0, n_nodes - 1, (len(d),), generator=g)      # nodes with a child
    index = torch.where(index == start + 1, (index + 1) % (n_nodes - 1), index)
    rows = torch.arange(len(d))
    inputs = d.inputs.clone()
    inputs[:, pos] = chain[rows, index]
    with torch.no_grad():
        pred = model(inputs.to(model.device))[:, pos].argmax(-1).cpu()
    return {"follows_new_token": (pred == chain[rows, index + 1]).float().mean().item(),
            "keeps_old_path": (pred == chain[rows, start + 2]).float().mean().item()}


def answer_kinds(model: Transformer, data: SeqData) -> dict[str, float]:
    """What a chain model answers, as shares of the questions: "right"; "one_hop_short" (the node
    one hop before the answer, e.g. the middle node of a 2-hop question); "start" (the start token
    itself); "other_context" (another token of the question); "outside" (a token not in it).
    A model that fails by stopping a hop early, or by guessing among the pairs, shows it here."""
    from .train import predict_tokens

    answer = predict_tokens(model, data)
    rows = torch.arange(len(data))
    chain, start, hops = data.info["chain"], data.info["start"], data.info["hops"]
    right = answer == data.labels
    short = ~right & (answer == chain[rows, start + hops - 1]) & (hops > 1)
    at_start = ~right & ~short & (answer == data.inputs[:, -1])
    in_context = (data.inputs[:, :-1] == answer[:, None]).any(1)
    other = ~right & ~short & ~at_start & in_context
    kinds = {"right": right, "one_hop_short": short, "start": at_start, "other_context": other,
             "outside": ~(right | short | at_start | other)}
    return {name: mask.float().mean().item() for name, mask in kinds.items()}
