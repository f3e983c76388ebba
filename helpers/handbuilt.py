"""Transformers whose weights are written by hand, to show a mechanism is sufficient.

`matching_model(hops)` is the construction of paper A (notebook 00): random orthogonal
matrices Z_l, positional keys that pair tokens in layer 0, and one matching hop per later layer.
It solves k-hop chain questions without any training, for ID and OOD tokens alike.
"""
from __future__ import annotations

import math

import torch

from .data import CHAIN_VOCAB_SIZE
from .model import ModelConfig, Transformer


def random_orthogonal(d: int, generator: torch.Generator) -> torch.Tensor:
    q, r = torch.linalg.qr(torch.randn(d, d, generator=generator))
    return q * torch.sign(torch.diagonal(r))


def matching_model(hops: int, d_token: int = 128, beta: float = 40.0, n_pairs: int = 6,
                   vocab_size: int = CHAIN_VOCAB_SIZE, seed: int = 0) -> Transformer:
    """A (hops + 1)-layer, 1-head, LayerNorm-free model that answers `hops`-hop questions.

    Tokens are random vectors e_t of size d_token. Z_l (l = 0..hops) are random rotations, each
    writing into its own block of the residual stream, so their images are orthogonal (the
    high-dimension limit of the paper's nearly orthogonal random matrices). The stream is
    [token | Z_0 block | ... | Z_hops block | one-hot position].

    - Layer 0 pairs: an odd (second-of-pair) position attends to the position before it and
      writes its parent's token through W_vo0 = Z0.
    - Layer 1 matches: the query token a finds the key holding a Z0 (W_q = I, W_k = Z0^T) and
      writes the child b through W_vo1 = Z1.
    - Layer l matches again: W_q = Z_{l-1}^T, W_k = Z0^T, W_vo = Z_l. The output reads Z_L^T.

    A positional term keeps first-of-pair positions out of the matching layers: position 0 can
    only attend to itself in layer 0, so it would hold its own token. `beta` sharpens every
    softmax.
    """
    if not 1 <= hops <= n_pairs:
        raise ValueError(f"hops={hops} is outside the allowed range 1..{n_pairs} for {n_pairs} pairs")
    seq_len, n_layers = 2 * n_pairs + 1, hops + 1
    d_model = d_token * (n_layers + 1) + seq_len
    cfg = ModelConfig(vocab_size=vocab_size, seq_len=seq_len, n_layers=n_layers, n_heads=1,
                      d_model=d_model, d_head=d_model, d_ff=1, norm="none", unembed_bias=False)
    model = Transformer(cfg)
    g = torch.Generator().manual_seed(seed)
    E = torch.randn(vocab_size, d_token, generator=g) / math.sqrt(d_token)
    tok = slice(0, d_token)
    pos = slice(d_model - seq_len, d_model)
    first_pos = d_model - seq_len

    def Z(layer):  # [d_model, d_model]: token block -> block `layer`, rotated at random
        z = torch.zeros(d_model, d_model)
        z[tok, d_token * (layer + 1):d_token * (layer + 2)] = random_orthogonal(d_token, g)
        return z

    Zs = [Z(layer) for layer in range(n_layers)]
    token_projection = torch.zeros(d_model, d_model)
    token_projection[tok, tok] = torch.eye(d_token)
    sharp = beta * math.sqrt(cfg.d_head)  # undoes the 1/sqrt(d_head) of the attention scores
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.embed.weight[:, tok] = E
        model.pos_embed.weight[:, pos] = torch.eye(seq_len)
        for layer, block in enumerate(model.blocks):
            attn = block.attn
            if layer == 0:   # positional pairing: a query at odd p looks for key position p - 1
                for p in range(1, seq_len, 2):
                    attn.W_Q[0, first_pos + p, first_pos + p - 1] = sharp
                attn.W_K[0, pos, pos] = torch.eye(seq_len)
            else:            # matching on tokens, among second-of-pair positions only
                attn.W_Q[0] = sharp * (token_projection if layer == 1 else Zs[layer - 1].T)
                attn.W_K[0] = Zs[0].T
                attn.W_Q[0, pos, first_pos] = sharp            # every query carries a constant ...
                attn.W_K[0, first_pos:d_model:2, first_pos] = -1.0  # ... that vetoes even keys
            attn.W_V[0] = Zs[layer]
            attn.W_O[0] = torch.eye(d_model)
        model.unembed.weight[:] = (torch.cat([E, torch.zeros(vocab_size, d_model - d_token)], 1) @ Zs[-1])
    return model.eval()


def parallel_model(d_token: int = 64, beta: float = 40.0, n_pairs: int = 6, margin: float = 10.0,
                   vocab_size: int = CHAIN_VOCAB_SIZE, seed: int = 0) -> Transformer:
    """A 3-layer, 2-head, LayerNorm-free model that answers **3-hop** questions: one hop more
    than the serial budget of 3 layers, by composing a two-hop segment in parallel [ours].

    The residual stream holds blocks of size d_token (and a one-hot position):
    TOK (the token), P (layer 0: the parent, at second-of-pair positions), TOKODD and PODD (the
    layer-0 MLP copies TOK and P at second-of-pair positions only, zero elsewhere), C1, GP, OUT.

    - Layer 0 pairs (as `matching_model`); its MLP gates TOK and P by position parity:
      ReLU(t - margin * is_even) - ReLU(-t - margin * is_even) is t at odd positions, 0 at even.
    - Layer 1, head 0 ("child"): a query holding token a finds the slot whose parent is a and
      copies its token into C1. At the last position that is hop 1 (x1); at the slot of a
      child v, it is v's own child w: the slot now holds the segment parent(v) -> w, two hops,
      provided the pair [v][w] came earlier.
      Head 1 ("grandparent"): the slot of w (parent v) finds the slot holding v as a child and
      copies v's parent u into GP: the segment u -> w, provided [u][v] came earlier.
    - Layer 2, head 0: the last position (holding x1 in C1) finds the slot whose parent is x1
      (x2's) and reads its C1: x3 if [x2][x3] came before [x1][x2], else nothing.
      Head 1: finds the slot whose GP is x1 (x3's, if [x1][x2] came first) and reads its token.
      Exactly one of the two orders holds, so exactly one head brings x3.
    Heads that may find nothing (both heads of layer 1, head 1 of layer 2) also see a *sink*: position 0
    with a fixed score of half a match; its gated blocks are zero, so it writes nothing.
    """
    seq_len = 2 * n_pairs + 1
    names = ("TOK", "P", "TOKODD", "PODD", "C1", "GP", "OUT")
    block = {name: slice(i * d_token, (i + 1) * d_token) for i, name in enumerate(names)}
    first_pos = len(names) * d_token
    d_model = first_pos + seq_len
    pos = slice(first_pos, d_model)
    head = slice(0, d_token)        # heads work in a small space: a token block ...
    sink_dim = d_token              # ... and one coordinate that only the sink uses
    cfg = ModelConfig(vocab_size=vocab_size, seq_len=seq_len, n_layers=3, n_heads=2, d_model=d_model,
                      d_head=max(d_token + 1, seq_len), d_ff=4 * d_token, norm="none", unembed_bias=False)
    model = Transformer(cfg)
    g = torch.Generator().manual_seed(seed)
    E = torch.randn(vocab_size, d_token, generator=g) / math.sqrt(d_token)
    sharp = beta * math.sqrt(cfg.d_head)
    eye = torch.eye(d_token)

    def match(attn, h, query_block, key_block, value_block, out_block, sink: bool):
        attn.W_Q[h, block[query_block], head] = sharp * eye
        attn.W_K[h, block[key_block], head] = eye
        if sink:
            attn.W_Q[h, pos, sink_dim] = sharp * 0.5      # every position carries the constant ...
            attn.W_K[h, first_pos, sink_dim] = 1.0       # ... that only position 0's key answers
        attn.W_V[h, block[value_block], head] = eye
        attn.W_O[h, head, block[out_block]] = eye

    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.embed.weight[:, block["TOK"]] = E
        model.pos_embed.weight[:, pos] = torch.eye(seq_len)
        # layer 0: pair each second-of-pair position with the token before it
        attn = model.blocks[0].attn
        for p in range(1, seq_len, 2):
            attn.W_Q[0, first_pos + p, p - 1] = sharp
        attn.W_K[0, pos, :seq_len] = torch.eye(seq_len)
        attn.W_V[0, block["TOK"], head] = eye
        attn.W_O[0, head, block["P"]] = eye
        # layer 0 MLP: TOKODD = TOK and PODD = P at odd positions, 0 at even positions
        mlp = model.blocks[0].mlp
        even = torch.tensor([float(p % 2 == 0) for p in range(seq_len)])
        for i, (src, dst) in enumerate((("TOK", "TOKODD"), ("P", "PODD"))):
            rows = slice(2 * i * d_token, (2 * i + 2) * d_token)
            up, down = mlp.W_in.weight[rows], mlp.W_out.weight[:, rows]
            up[:d_token, block[src]] = eye
            up[d_token:, block[src]] = -eye
            up[:, pos] = -margin * even
            down[block[dst], :d_token] = eye
            down[block[dst], d_token:] = -eye
        # layer 1: children (segments forward) and grandparents (segments backward)
        match(model.blocks[1].attn, 0, "TOK", "PODD", "TOKODD", "C1", sink=True)
        match(model.blocks[1].attn, 1, "PODD", "TOKODD", "PODD", "GP", sink=True)
        # layer 2: jump two hops from x1 along whichever segment exists
        match(model.blocks[2].attn, 0, "C1", "PODD", "C1", "OUT", sink=False)
        match(model.blocks[2].attn, 1, "C1", "GP", "TOKODD", "OUT", sink=True)
        model.unembed.weight[:, block["OUT"]] = E
    return model.eval()
