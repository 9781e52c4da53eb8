"""The Kronos predictor: a decoder-only Transformer over hierarchical (s1, s2) tokens.

Each step predicts the coarse token ``s1`` from the sequence, then the fine token
``s2`` from the sequence and the chosen ``s1`` (a "dependency-aware" cross
attention layer). Names and shapes follow the published ``NeoQuasar/Kronos-*``
checkpoints (upstream ``Kronos`` of shiyu-coder/Kronos, arXiv:2508.02739).

Inference runs in two parts instead of upstream's full re-run per token:
:meth:`Kronos.encode_context` encodes each window's context once, and
:meth:`Kronos.append` feeds the tokens of every path through cached keys/values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ._layers import (PrefixCache, RMSNorm, SelfAttention, TransformerBlock, extend_blocks, run_blocks,
                      shared_prefix_attention)

__all__ = ["Kronos", "ContextState", "MODEL_CONFIG_KEYS", "TIME_FEATURES"]

MODEL_CONFIG_KEYS = ("s1_bits", "s2_bits", "n_layers", "d_model", "n_heads", "ff_dim", "ffn_dropout_p",
                     "attn_dropout_p", "resid_dropout_p", "token_dropout_p", "learn_te")
#: Calendar features of each bar, in upstream's column order.
TIME_FEATURES = ("minute", "hour", "weekday", "day", "month")
_TIME_SIZES = (60, 24, 7, 32, 13)


class HierarchicalEmbedding(nn.Module):
    """``fusion_proj([emb_s1(s1), emb_s2(s2)] * sqrt(d_model))``."""

    def __init__(self, s1_bits: int, s2_bits: int, d_model: int):
        super().__init__()
        self.d_model = d_model
        self.emb_s1 = nn.Embedding(2 ** s1_bits, d_model)
        self.emb_s2 = nn.Embedding(2 ** s2_bits, d_model)
        self.fusion_proj = nn.Linear(2 * d_model, d_model)

    def forward(self, s1_ids: torch.Tensor, s2_ids: torch.Tensor) -> torch.Tensor:
        scale = math.sqrt(self.d_model)
        return self.fusion_proj(torch.cat([self.emb_s1(s1_ids) * scale, self.emb_s2(s2_ids) * scale], dim=-1))


class FixedEmbedding(nn.Module):
    """Frozen sinusoidal table (Vaswani et al. 2017), used when ``learn_te`` is False."""

    def __init__(self, size: int, d_model: int):
        super().__init__()
        position = torch.arange(size).float().unsqueeze(1)
        div_term = (torch.arange(0, d_model, 2).float() * -(math.log(10000.0) / d_model)).exp()
        table = torch.zeros(size, d_model)
        table[:, 0::2] = torch.sin(position * div_term)
        table[:, 1::2] = torch.cos(position * div_term)
        self.emb = nn.Embedding(size, d_model)
        self.emb.weight = nn.Parameter(table, requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.emb(x).detach()


class TemporalEmbedding(nn.Module):
    """Sum of minute, hour, weekday, day-of-month and month embeddings of each bar."""

    def __init__(self, d_model: int, learn_pe: bool):
        super().__init__()
        make = nn.Embedding if learn_pe else FixedEmbedding
        for name, size in zip(TIME_FEATURES, _TIME_SIZES):
            setattr(self, f"{name}_embed", make(size, d_model))

    def forward(self, stamps: torch.Tensor) -> torch.Tensor:
        """``stamps``: ``[..., T, 5]`` in :data:`TIME_FEATURES` order."""
        stamps = stamps.long()
        return sum(getattr(self, f"{name}_embed")(stamps[..., i]) for i, name in enumerate(TIME_FEATURES))


class CrossAttention(SelfAttention):
    """Upstream ``MultiHeadCrossAttentionWithRoPE``: the same projections, queries from one sequence and
    keys/values from another."""

    def forward(self, query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
        """Training pass, causal, with RoPE at positions ``0..T-1`` (query and key have length ``T``)."""
        positions = torch.arange(query.shape[1], device=query.device)
        q = self.rotary.rotate(self.heads(self.q_proj(query)), positions)
        k = self.rotary.rotate(self.heads(self.k_proj(key)), positions)
        attended = F.scaled_dot_product_attention(q, k, self.heads(self.v_proj(key)), is_causal=True,
                                                  dropout_p=self.attn_dropout_p if self.training else 0.0)
        return self.out(attended)


class DependencyAwareLayer(nn.Module):
    """``norm(hidden + cross_attn(query=s1 embedding, key=value=hidden))``; 4 heads as upstream."""

    def __init__(self, d_model: int, n_heads: int = 4, attn_dropout_p: float = 0.0, resid_dropout: float = 0.0):
        super().__init__()
        self.cross_attn = CrossAttention(d_model, n_heads, attn_dropout_p, resid_dropout)
        self.norm = RMSNorm(d_model)

    def forward(self, hidden: torch.Tensor, sibling: torch.Tensor) -> torch.Tensor:
        return self.norm(hidden + self.cross_attn(sibling, hidden))


class DualHead(nn.Module):
    """Linear heads for ``s1`` logits and (conditioned) ``s2`` logits."""

    def __init__(self, s1_bits: int, s2_bits: int, d_model: int):
        super().__init__()
        self.proj_s1 = nn.Linear(d_model, 2 ** s1_bits)
        self.proj_s2 = nn.Linear(d_model, 2 ** s2_bits)


@dataclass
class ContextState:
    """What decoding needs after the context: per-layer caches and the final hidden states.

    Attributes
    ----------
    caches : list of PrefixCache
        One per Transformer block; prefix ``[W, h, P, d]``, paths ``[W, S, h, n, d]``.
    cross : PrefixCache
        Keys/values of the dependency layer over the final hidden states (RoPE-free, see
        :meth:`Kronos.s2_logits`).
    last_hidden : torch.Tensor
        ``[W, S, d_model]`` (or ``[W, 1, d_model]`` right after the context) final hidden state of the last token.
    length : int
        Tokens in the sequence so far (context plus appended).
    """

    caches: list[PrefixCache]
    cross: PrefixCache
    last_hidden: torch.Tensor
    length: int


class Kronos(nn.Module):
    """The Kronos predictor (config keys as in the published ``config.json``)."""

    def __init__(self, s1_bits: int, s2_bits: int, n_layers: int, d_model: int, n_heads: int, ff_dim: int,
                 ffn_dropout_p: float, attn_dropout_p: float, resid_dropout_p: float, token_dropout_p: float,
                 learn_te: bool):
        super().__init__()
        self.config: dict[str, Any] = {k: v for k, v in locals().items() if k in MODEL_CONFIG_KEYS}
        self.token_drop = nn.Dropout(token_dropout_p)
        self.embedding = HierarchicalEmbedding(s1_bits, s2_bits, d_model)
        self.time_emb = TemporalEmbedding(d_model, learn_te)
        self.transformer = nn.ModuleList(TransformerBlock(d_model, n_heads, ff_dim, ffn_dropout_p, attn_dropout_p,
                                                          resid_dropout_p) for _ in range(n_layers))
        self.norm = RMSNorm(d_model)
        self.dep_layer = DependencyAwareLayer(d_model)
        self.head = DualHead(s1_bits, s2_bits, d_model)
        self.apply(self._init_weights)

    def _init_weights(self, module: nn.Module) -> None:
        # upstream's initialisation, for training from scratch; unlike upstream it leaves the frozen
        # sinusoidal tables of learn_te=False alone (upstream overwrites them with random values)
        if isinstance(module, nn.Linear):
            nn.init.xavier_normal_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding) and module.weight.requires_grad:
            nn.init.normal_(module.weight, mean=0, std=self.embedding.d_model ** -0.5)

    def _embed(self, s1_ids: torch.Tensor, s2_ids: torch.Tensor, stamps: torch.Tensor | None) -> torch.Tensor:
        x = self.embedding(s1_ids, s2_ids)
        if stamps is not None:
            x = x + self.time_emb(stamps)
        return self.token_drop(x)

    def forward(self, s1_ids: torch.Tensor, s2_ids: torch.Tensor, stamps: torch.Tensor | None,
                s1_targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher-forced training pass.

        Parameters
        ----------
        s1_ids, s2_ids : torch.Tensor
            ``[B, T]`` input tokens.
        stamps : torch.Tensor or None
            ``[B, T, 5]`` calendar features of the input bars.
        s1_targets : torch.Tensor
            ``[B, T]`` next ``s1`` tokens, which condition the ``s2`` head.

        Returns
        -------
        s1_logits, s2_logits : torch.Tensor
            ``[B, T, 2**s1_bits]`` and ``[B, T, 2**s2_bits]``.
        """
        hidden, _ = run_blocks(self.transformer, self._embed(s1_ids, s2_ids, stamps))
        hidden = self.norm(hidden)
        sibling = self.embedding.emb_s1(s1_targets)
        return self.head.proj_s1(hidden), self.head.proj_s2(self.dep_layer(hidden, sibling))

    def encode_context(self, s1_ids: torch.Tensor, s2_ids: torch.Tensor,
                       stamps: torch.Tensor | None) -> tuple[torch.Tensor, ContextState]:
        """Encode each window's context once.

        Parameters
        ----------
        s1_ids, s2_ids : torch.Tensor
            ``[W, P]`` context tokens.
        stamps : torch.Tensor or None
            ``[W, P, 5]``.

        Returns
        -------
        s1_logits : torch.Tensor
            ``[W, P, 2**s1_bits]`` (the last position predicts the first new token).
        state : ContextState
        """
        hidden, caches = run_blocks(self.transformer, self._embed(s1_ids, s2_ids, stamps))
        hidden = self.norm(hidden)
        cross = self.dep_layer.cross_attn
        state = ContextState(caches, PrefixCache(cross.heads(cross.k_proj(hidden)), cross.heads(cross.v_proj(hidden))),
                             hidden[:, -1:], hidden.shape[1])
        return self.head.proj_s1(hidden), state

    def s2_logits(self, state: ContextState, s1_ids: torch.Tensor, window_start: int = 0) -> torch.Tensor:
        """Logits ``[W, S, 2**s2_bits]`` of the next ``s2`` given each path's next ``s1`` (``[W, S]``).

        As in upstream inference, the dependency layer's single query attends to every
        token of the window with RoPE at position 0 for query and keys (a no-op).
        """
        cross = self.dep_layer.cross_attn
        q = cross.heads(cross.q_proj(self.embedding.emb_s1(s1_ids)).unsqueeze(2))   # [W, S, h, 1, d]
        attended = shared_prefix_attention(q, state.cross, window_start)
        hidden = self.dep_layer.norm(state.last_hidden + cross.out(attended).squeeze(2))
        return self.head.proj_s2(hidden)

    def append(self, state: ContextState, s1_ids: torch.Tensor, s2_ids: torch.Tensor, stamps: torch.Tensor | None,
               window_start: int = 0) -> torch.Tensor:
        """Feed one token per path (``[W, S]``) after the sequence; returns the next ``s1`` logits ``[W, S, V1]``.

        ``stamps`` (``[W, 5]``) are the calendar features of the fed token's bar, shared by a window's paths.

        ``window_start`` hides earlier context positions (a sliding window of ``max_context`` tokens).
        """
        x = self._embed(s1_ids.unsqueeze(-1), s2_ids.unsqueeze(-1), None if stamps is None else stamps[:, None, None])
        hidden = self.norm(extend_blocks(self.transformer, x, state.caches, state.length, window_start))
        cross = self.dep_layer.cross_attn
        state.cross.append(cross.heads(cross.k_proj(hidden)), cross.heads(cross.v_proj(hidden)))
        state.last_hidden = hidden.squeeze(2)
        state.length += 1
        return self.head.proj_s1(state.last_hidden)

