"""Transformer building blocks of Kronos, with attention over a cached, shared context prefix.

Parameter and buffer names equal those of the published checkpoints (upstream
``model/module.py`` of shiyu-coder/Kronos), so ``model.safetensors`` loads
unchanged. Upstream re-runs the whole window for every generated token; here
the context is encoded once per window and its keys/values are shared by every
sample path of that window (:class:`PrefixCache`), while each path keeps only
the keys/values of its own generated tokens.

Shapes: ``W`` windows, ``S`` sample paths per window, ``T`` new tokens,
``P`` prefix (context) tokens, ``h`` heads, ``d`` head dim.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["RMSNorm", "FeedForward", "RotaryPositionalEmbedding", "SelfAttention", "TransformerBlock",
           "PrefixCache", "shared_prefix_attention"]


class RMSNorm(nn.Module):
    """Root-mean-square norm with a learned gain (eps 1e-5, computed in fp32 as upstream)."""

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x32 = x.float()
        return (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)).type_as(x) * self.weight


class FeedForward(nn.Module):
    """SwiGLU feed-forward ``w2(silu(w1 x) * w3 x)``."""

    def __init__(self, d_model: int, ff_dim: int, ffn_dropout_p: float = 0.0):
        super().__init__()
        self.w1 = nn.Linear(d_model, ff_dim, bias=False)
        self.w3 = nn.Linear(d_model, ff_dim, bias=False)
        self.w2 = nn.Linear(ff_dim, d_model, bias=False)
        self.ffn_dropout = nn.Dropout(ffn_dropout_p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ffn_dropout(self.w2(F.silu(self.w1(x)) * self.w3(x)))


class RotaryPositionalEmbedding(nn.Module):
    """Rotary position embedding (Su et al. 2021, "RoFormer"), base 10000, half-split rotation.

    ``inv_freq`` is a persistent buffer because the published checkpoints store it.
    """

    def __init__(self, dim: int):
        super().__init__()
        self.register_buffer("inv_freq", 1.0 / (10000 ** (torch.arange(0, dim, 2).float() / dim)))

    def rotate(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Rotate ``x`` (``[..., T, d]``) by the absolute ``positions`` (``[T]``)."""
        freqs = torch.outer(positions.to(self.inv_freq), self.inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        x1, x2 = x.chunk(2, dim=-1)
        return x * emb.cos() + torch.cat((-x2, x1), dim=-1) * emb.sin()


@dataclass
class PrefixCache:
    """Keys and values of one attention layer: a context prefix shared by the paths of a window, plus each path's own.

    Attributes
    ----------
    prefix_k, prefix_v : torch.Tensor
        ``[W, h, P, d]``, RoPE already applied to keys.
    new_k, new_v : torch.Tensor or None
        ``[W, S, h, n, d]`` keys/values of the tokens each path appended so far.
    """

    prefix_k: torch.Tensor
    prefix_v: torch.Tensor
    new_k: torch.Tensor | None = None
    new_v: torch.Tensor | None = None

    def append(self, k: torch.Tensor, v: torch.Tensor) -> None:
        self.new_k = k if self.new_k is None else torch.cat([self.new_k, k], dim=3)
        self.new_v = v if self.new_v is None else torch.cat([self.new_v, v], dim=3)


def shared_prefix_attention(q: torch.Tensor, cache: PrefixCache, prefix_from: int = 0) -> torch.Tensor:
    """Softmax attention of ``q`` over a shared prefix plus each path's own keys, causal among the own keys.

    Parameters
    ----------
    q : torch.Tensor
        ``[W, S, h, T, d]``; the ``T`` queries are the last ``T`` of ``cache.new_k`` (when it is set).
    cache : PrefixCache
        With ``new_k``/``new_v`` of shape ``[W, S, h, n, d]``, ``n >= T``, or ``None``.
    prefix_from : int
        Prefix keys before this index are not visible (a sliding context window).

    Returns
    -------
    torch.Tensor
        ``[W, S, h, T, d]``.
    """
    scale = q.shape[-1] ** -0.5
    prefix_scores = torch.einsum("wshtd,whpd->wshtp", q, cache.prefix_k) * scale
    if prefix_from > 0:
        prefix_scores[..., :prefix_from] = float("-inf")
    if cache.new_k is None:  # nothing appended yet: the prefix alone
        return torch.einsum("wshtp,whpd->wshtd", prefix_scores.softmax(dim=-1), cache.prefix_v)
    own_scores = torch.einsum("wshtd,wshnd->wshtn", q, cache.new_k) * scale
    n_queries, n_own = q.shape[3], cache.new_k.shape[3]
    # query t sits at own position n_own - T + t and sees own keys up to it
    own_visible = torch.ones(n_queries, n_own, dtype=torch.bool, device=q.device).tril(n_own - n_queries)
    own_scores = own_scores.masked_fill(~own_visible, float("-inf"))
    weights = torch.cat([prefix_scores, own_scores], dim=-1).softmax(dim=-1)
    n_prefix = prefix_scores.shape[-1]
    return (torch.einsum("wshtp,whpd->wshtd", weights[..., :n_prefix], cache.prefix_v)
            + torch.einsum("wshtn,wshnd->wshtd", weights[..., n_prefix:], cache.new_v))


class SelfAttention(nn.Module):
    """Causal multi-head self-attention with RoPE (upstream ``MultiHeadAttentionWithRoPE``)."""

    def __init__(self, d_model: int, n_heads: int, attn_dropout_p: float = 0.0, resid_dropout_p: float = 0.0):
        super().__init__()
        self.n_heads = n_heads
        self.head_dim = d_model // n_heads
        self.q_proj = nn.Linear(d_model, d_model)
        self.k_proj = nn.Linear(d_model, d_model)
        self.v_proj = nn.Linear(d_model, d_model)
        self.out_proj = nn.Linear(d_model, d_model)
        self.rotary = RotaryPositionalEmbedding(self.head_dim)
        self.attn_dropout_p = attn_dropout_p
        self.resid_dropout = nn.Dropout(resid_dropout_p)

    def heads(self, x: torch.Tensor) -> torch.Tensor:
        return x.unflatten(-1, (self.n_heads, self.head_dim)).transpose(-3, -2)

    def _qkv(self, x: torch.Tensor, positions: torch.Tensor):
        q, k, v = (self.heads(proj(x)) for proj in (self.q_proj, self.k_proj, self.v_proj))
        return self.rotary.rotate(q, positions), self.rotary.rotate(k, positions), v

    def out(self, attended: torch.Tensor) -> torch.Tensor:
        return self.resid_dropout(self.out_proj(attended.transpose(-3, -2).flatten(-2)))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, PrefixCache]:
        """Full causal pass over ``x`` (``[B, T, d_model]``, positions ``0..T-1``); also returns its cache."""
        q, k, v = self._qkv(x, torch.arange(x.shape[1], device=x.device))
        attended = F.scaled_dot_product_attention(q, k, v, dropout_p=self.attn_dropout_p if self.training else 0.0,
                                                  is_causal=True)
        return self.out(attended), PrefixCache(k, v)

    def extend(self, x: torch.Tensor, cache: PrefixCache, first_position: int, prefix_from: int = 0) -> torch.Tensor:
        """Append the tokens ``x`` (``[W, S, T, d_model]``) at positions ``first_position...`` and attend."""
        positions = torch.arange(first_position, first_position + x.shape[2], device=x.device)
        q, k, v = self._qkv(x, positions)
        cache.append(k, v)
        return self.out(shared_prefix_attention(q, cache, prefix_from))


class TransformerBlock(nn.Module):
    """Pre-norm block: ``x + attn(norm1 x)``, then ``x + ffn(norm2 x)``."""

    def __init__(self, d_model: int, n_heads: int, ff_dim: int = 1024, ffn_dropout_p: float = 0.0,
                 attn_dropout_p: float = 0.0, resid_dropout_p: float = 0.0):
        super().__init__()
        self.norm1 = RMSNorm(d_model)
        self.self_attn = SelfAttention(d_model, n_heads, attn_dropout_p, resid_dropout_p)
        self.norm2 = RMSNorm(d_model)
        self.ffn = FeedForward(d_model, ff_dim, ffn_dropout_p)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, PrefixCache]:
        """``x``: ``[B, T, d_model]``; returns the output and this layer's cache."""
        attended, cache = self.self_attn(self.norm1(x))
        x = x + attended
        return x + self.ffn(self.norm2(x)), cache

    def extend(self, x: torch.Tensor, cache: PrefixCache, first_position: int, prefix_from: int = 0) -> torch.Tensor:
        """``x``: ``[W, S, T, d_model]`` new tokens after the cached ones."""
        x = x + self.self_attn.extend(self.norm1(x), cache, first_position, prefix_from)
        return x + self.ffn(self.norm2(x))


def run_blocks(blocks: nn.ModuleList, x: torch.Tensor) -> tuple[torch.Tensor, list[PrefixCache]]:
    """Full causal pass through ``blocks``; returns the output and one cache per block."""
    caches = []
    for block in blocks:
        x, cache = block(x)
        caches.append(cache)
    return x, caches


def extend_blocks(blocks: nn.ModuleList, x: torch.Tensor, caches: list[PrefixCache], first_position: int,
                  prefix_from: int = 0) -> torch.Tensor:
    """Append tokens through ``blocks`` using (and growing) their caches."""
    for block, cache in zip(blocks, caches):
        x = block.extend(x, cache, first_position, prefix_from)
    return x
