"""Transformers whose weights are written by hand, to show a mechanism is sufficient.

`matching_model(hops)` is the construction of paper A (`papers.md`): random orthogonal
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
