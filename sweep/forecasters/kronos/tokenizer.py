"""Kronos tokenizer: binary spherical quantisation of normalised OHLCV bars into hierarchical (s1, s2) tokens.

An encoder (causal Transformer) maps each bar to a ``s1_bits + s2_bits`` vector,
binary spherical quantisation (BSQ; Zhao et al. 2024, arXiv:2406.07548) turns
it into bits, and the bits split into a coarse token ``s1`` (first ``s1_bits``)
and a fine token ``s2`` (the rest). A decoder maps tokens back to bars.
Names and shapes follow the published ``NeoQuasar/Kronos-Tokenizer-*``
checkpoints (upstream ``KronosTokenizer``), including its quirk that the
encoder and decoder hold ``n_enc_layers - 1`` and ``n_dec_layers - 1`` blocks.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ._layers import PrefixCache, TransformerBlock, extend_blocks, run_blocks

__all__ = ["KronosTokenizer", "BSQuantizer", "TOKENIZER_CONFIG_KEYS"]

TOKENIZER_CONFIG_KEYS = ("d_in", "d_model", "n_heads", "ff_dim", "n_enc_layers", "n_dec_layers", "ffn_dropout_p",
                         "attn_dropout_p", "resid_dropout_p", "s1_bits", "s2_bits", "beta", "gamma0", "gamma", "zeta",
                         "group_size")


def _entropy(probs: torch.Tensor) -> torch.Tensor:
    return -(probs * torch.log(probs + 1e-8)).sum(dim=-1)


class BinarySphericalQuantizer(nn.Module):
    """BSQ with the soft entropy penalty (arXiv:2406.07548, Sec. 3; upstream defaults: analytical per-sample
    entropy, group-wise codebook entropy, l2-normalised codes, inverse temperature 1).

    Parameters
    ----------
    embed_dim : int
        Bits per code (``s1_bits + s2_bits``).
    beta, gamma0, gamma, zeta : float
        Commitment weight, per-sample entropy weight, codebook entropy weight, entropy-penalty weight.
    group_size : int
        Bits per group of the codebook-entropy approximation; must divide ``embed_dim``.
    """

    def __init__(self, embed_dim: int, beta: float, gamma0: float, gamma: float, zeta: float, group_size: int):
        super().__init__()
        if embed_dim % group_size:
            raise ValueError(f"group_size {group_size} must divide the code size {embed_dim}")
        self.embed_dim, self.group_size = embed_dim, group_size
        self.beta, self.gamma0, self.gamma, self.zeta = beta, gamma0, gamma, zeta
        self.register_buffer("basis", 2 ** torch.arange(embed_dim - 1, -1, -1))
        self.register_buffer("group_basis", 2 ** torch.arange(group_size - 1, -1, -1))
        group_codes = torch.arange(2 ** group_size).unsqueeze(-1)
        codebook = torch.remainder(torch.floor_divide(group_codes, self.basis), 2) * 2 - 1
        self.register_buffer("group_codebook", codebook.float()[:, -group_size:], persistent=False)

    def forward(self, z: torch.Tensor, with_loss: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """Quantise ``z`` (``[..., embed_dim]``, unit norm) to ``±1/sqrt(embed_dim)`` with a straight-through gradient.

        Returns the codes and the BSQ loss (0 when ``with_loss`` is False).
        """
        hard = torch.where(z > 0, torch.ones_like(z), -torch.ones_like(z))
        zq = (z + (hard - z).detach()) / self.embed_dim ** 0.5
        if not with_loss:
            return zq, zq.new_zeros(())
        commit = self.beta * ((zq.detach() - z) ** 2).sum(dim=-1).mean()
        per_sample, codebook = self._soft_entropies(z)
        return zq, commit + self.zeta * (self.gamma0 * per_sample - self.gamma * codebook)

    def _soft_entropies(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        scale = self.embed_dim ** 0.5
        groups = z.unflatten(-1, (-1, self.group_size))
        distance = -2 * torch.einsum("...gc,dc->...gd", groups, self.group_codebook / scale)
        group_probs = (-distance).softmax(dim=-1)
        p = torch.sigmoid(-4 * z / scale)
        per_sample = _entropy(torch.stack([p, 1 - p], dim=-1)).sum(dim=-1).mean()
        codebook = _entropy(group_probs.flatten(0, -3).mean(dim=0)).sum()
        return per_sample, codebook


class BSQuantizer(nn.Module):
    """Splits a BSQ code into the ``s1`` (first ``s1_bits``) and ``s2`` (remaining) token ids, bit ``i`` worth ``2**i``."""

    def __init__(self, s1_bits: int, s2_bits: int, beta: float, gamma0: float, gamma: float, zeta: float,
                 group_size: int):
        super().__init__()
        self.s1_bits, self.s2_bits = s1_bits, s2_bits
        self.bsq = BinarySphericalQuantizer(s1_bits + s2_bits, beta, gamma0, gamma, zeta, group_size)

    @staticmethod
    def bits_to_indices(bits: torch.Tensor) -> torch.Tensor:
        weights = 2 ** torch.arange(bits.shape[-1], dtype=torch.long, device=bits.device)
        return ((bits >= 0).long() * weights).sum(-1)

    def forward(self, z: torch.Tensor, with_loss: bool = True):
        """Returns ``(loss, codes [..., s1+s2], (s1_ids, s2_ids))``."""
        codes, loss = self.bsq(F.normalize(z, dim=-1), with_loss)
        s1 = self.bits_to_indices(codes[..., :self.s1_bits])
        s2 = self.bits_to_indices(codes[..., self.s1_bits:])
        return loss, codes, (s1, s2)


class KronosTokenizer(nn.Module):
    """The Kronos tokenizer (config keys as in the published ``config.json``).

    Raises
    ------
    ValueError
        If ``s1_bits != s2_bits``: upstream's decoder splits the code in halves, so
        unequal halves would decode silently wrong tokens.
    """

    def __init__(self, d_in: int, d_model: int, n_heads: int, ff_dim: int, n_enc_layers: int, n_dec_layers: int,
                 ffn_dropout_p: float, attn_dropout_p: float, resid_dropout_p: float, s1_bits: int, s2_bits: int,
                 beta: float, gamma0: float, gamma: float, zeta: float, group_size: int):
        super().__init__()
        if s1_bits != s2_bits:
            raise ValueError(f"s1_bits ({s1_bits}) must equal s2_bits ({s2_bits}) in a Kronos tokenizer")
        self.config: dict[str, Any] = {k: v for k, v in locals().items() if k in TOKENIZER_CONFIG_KEYS}
        self.d_in, self.s1_bits, self.s2_bits = d_in, s1_bits, s2_bits
        self.codebook_dim = s1_bits + s2_bits
        self.embed = nn.Linear(d_in, d_model)
        self.head = nn.Linear(d_model, d_in)

        def blocks(n: int) -> nn.ModuleList:
            return nn.ModuleList(TransformerBlock(d_model, n_heads, ff_dim, ffn_dropout_p, attn_dropout_p,
                                                  resid_dropout_p) for _ in range(n - 1))

        self.encoder = blocks(n_enc_layers)
        self.decoder = blocks(n_dec_layers)
        self.quant_embed = nn.Linear(d_model, self.codebook_dim)
        self.post_quant_embed_pre = nn.Linear(s1_bits, d_model)
        self.post_quant_embed = nn.Linear(self.codebook_dim, d_model)
        self.tokenizer = BSQuantizer(s1_bits, s2_bits, beta, gamma0, gamma, zeta, group_size)

    def _quantize(self, x: torch.Tensor, with_loss: bool):
        z, _ = run_blocks(self.encoder, self.embed(x))
        return self.tokenizer(self.quant_embed(z), with_loss)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids of normalised bars.

        Parameters
        ----------
        x : torch.Tensor
            ``[B, T, d_in]`` normalised, clipped bars.

        Returns
        -------
        s1_ids, s2_ids : torch.Tensor
            ``[B, T]`` int64 each.
        """
        return self._quantize(x, with_loss=False)[2]

    def forward(self, x: torch.Tensor):
        """Training pass: ``((recon_from_s1, recon_full), bsq_loss, (s1_ids, s2_ids))``, recon ``[B, T, d_in]``."""
        bsq_loss, codes, ids = self._quantize(x, with_loss=True)
        recon_s1, _ = run_blocks(self.decoder, self.post_quant_embed_pre(codes[..., :self.s1_bits]))
        recon, _ = run_blocks(self.decoder, self.post_quant_embed(codes))
        return (self.head(recon_s1), self.head(recon)), bsq_loss, ids

    def ids_to_codes(self, s1_ids: torch.Tensor, s2_ids: torch.Tensor) -> torch.Tensor:
        """``[..., s1_bits + s2_bits]`` codes ``±1/sqrt(codebook_dim)`` of token ids (inverse of the quantiser split)."""
        weights = 2 ** torch.arange(self.s1_bits, device=s1_ids.device, dtype=torch.long)
        bits = torch.cat([(s1_ids.unsqueeze(-1) & weights) != 0, (s2_ids.unsqueeze(-1) & weights) != 0], dim=-1)
        return (bits.float() * 2 - 1) / self.codebook_dim ** 0.5

    def decode(self, s1_ids: torch.Tensor, s2_ids: torch.Tensor) -> torch.Tensor:
        """Bars ``[B, T, d_in]`` (normalised units) of token ids ``[B, T]``; the decoder is causal."""
        z, _ = run_blocks(self.decoder, self.post_quant_embed(self.ids_to_codes(s1_ids, s2_ids)))
        return self.head(z)

    def decode_prefix(self, s1_ids: torch.Tensor, s2_ids: torch.Tensor) -> list[PrefixCache]:
        """Decoder caches of shared prefix tokens ``[W, P]`` (their outputs are not needed)."""
        return run_blocks(self.decoder, self.post_quant_embed(self.ids_to_codes(s1_ids, s2_ids)))[1]

    def decode_after(self, caches: list[PrefixCache], s1_ids: torch.Tensor, s2_ids: torch.Tensor) -> torch.Tensor:
        """Bars ``[W, S, T, d_in]`` of each path's tokens ``[W, S, T]`` that follow the cached prefix.

        Equal to :meth:`decode` of ``prefix + path`` restricted to the path's positions.
        """
        first = caches[0].prefix_k.shape[2] if caches else 0
        z = extend_blocks(self.decoder, self.post_quant_embed(self.ids_to_codes(s1_ids, s2_ids)), caches, first)
        return self.head(z)
