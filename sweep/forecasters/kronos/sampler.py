"""Batched, KV-cached sampling of Kronos paths, returned individually in price units.

The pipeline follows upstream ``KronosPredictor.predict_batch`` (shiyu-coder/Kronos):

1. bars ``open, high, low, close, volume, amount`` (``amount = volume * mean(OHLC)``
   when the data has none) are normalised per window with the context's own mean
   and (population) std, ``(x - mean) / (std + 1e-5)``, and clipped to ``±clip``;
2. the tokenizer encodes the context into ``(s1, s2)`` tokens;
3. each step samples ``s1`` from the predictor, then ``s2`` given that ``s1``, with
   temperature and top-k *or* top-p filtering;
4. the tokenizer decodes the last ``max_context`` tokens and the generated bars are
   de-normalised.

Deviations from upstream, all deliberate:

- Paths are returned one by one (``[n_windows, n_samples, horizon]``); upstream
  returns their mean.
- The context is encoded once per window, shared by all its paths, and every new
  token is fed through cached keys/values; upstream re-runs the whole window for
  each token of each path. The result is identical (up to float rounding) while
  ``context_length + horizon <= max_context + 1``. Beyond that upstream slides its
  window and re-encodes it without the oldest tokens; here the cached states of
  the kept tokens stay as they were computed (sliding-window attention over the
  cache), so paths differ from upstream's after that point.
- The tokenizer decoder (causal) likewise shares the context part of its input
  across paths; its output equals decoding each path's full window.
- Setting both ``top_k > 0`` and ``top_p < 1`` is refused (:class:`Sampling`);
  upstream silently ignores ``top_p`` then.
- The calendar features of the forecast bars are those of the bars after the
  context at its median spacing; upstream takes the future timestamps from the caller.
- Prices are de-normalised in float64 (upstream: float32, which rounds a BTC close to 1/128 USD).
- Random numbers: tokens are drawn with ``torch.multinomial`` from the same
  ``[n_windows * n_samples, vocab]`` probabilities, s1 then s2 per step, so one
  generator state gives the same tokens as upstream's decoding; the forecaster
  seeds one generator per block of paths.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F

from ..config import check_kronos_sampling
from ._layers import PrefixCache
from .model import ContextState, Kronos
from .tokenizer import KronosTokenizer

#: One generator for every row, one per window, or None (torch's global stream).
Generators = "torch.Generator | list[torch.Generator] | None"

__all__ = ["Sampling", "EncodedWindows", "bars_with_amount", "normalise", "scale", "calendar_features", "future_timestamps",
           "filter_logits", "encode_windows", "draw_tokens", "decode_close", "CLOSE_COLUMN"]

#: Column of ``close`` among Kronos' six inputs ``open, high, low, close, volume, amount``.
CLOSE_COLUMN = 3
#: Added to the std before dividing (upstream ``KronosPredictor``).
STD_EPS = 1e-5


@dataclass(frozen=True)
class Sampling:
    """Sampling parameters of one Kronos config.

    Attributes
    ----------
    temperature : float
        Logits are divided by it before filtering; > 0.
    top_k : int
        Keep the ``top_k`` most likely tokens; 0 disables.
    top_p : float
        Nucleus filtering (Holtzman et al. 2019): keep the smallest set of tokens with
        cumulative probability ``>= top_p``; 1.0 disables. Never set together with ``top_k``.
    clip : float
        Normalised inputs are clipped to ``[-clip, clip]`` (upstream default 5).

    Raises
    ------
    ConfigError
        See :func:`sweep.forecasters.config.check_kronos_sampling`.
    """

    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    clip: float = 5.0

    def __post_init__(self) -> None:
        check_kronos_sampling(asdict(self))


def bars_with_amount(ohlcv: np.ndarray) -> np.ndarray:
    """``[..., 5]`` OHLCV -> ``[..., 6]`` with ``amount = volume * mean(open, high, low, close)`` (upstream's fill)."""
    amount = ohlcv[..., 4:5] * ohlcv[..., :4].mean(axis=-1, keepdims=True)
    return np.concatenate([ohlcv, amount], axis=-1)


def normalise(bars: np.ndarray, clip: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-window normalisation of ``[W, L, 6]`` bars with context-only statistics.

    Returns
    -------
    x : numpy.ndarray
        ``[W, L, 6]`` float32, ``clip((bars - mean) / (std + 1e-5), -clip, clip)``.
    mean, std : numpy.ndarray
        ``[W, 1, 6]`` float32 (population std, as ``np.std``).
    """
    bars = bars.astype(np.float32)
    mean = bars.mean(axis=1, keepdims=True)
    std = bars.std(axis=1, keepdims=True)
    return scale(bars, mean, std, clip), mean, std


def scale(bars: np.ndarray, mean: np.ndarray, std: np.ndarray, clip: float) -> np.ndarray:
    """``clip((bars - mean) / (std + 1e-5), -clip, clip)`` as float32."""
    return np.clip((bars.astype(np.float32) - mean) / (std + STD_EPS), -clip, clip)


def calendar_features(timestamps_s: np.ndarray) -> np.ndarray:
    """``[..., T]`` POSIX seconds -> ``[..., T, 5]`` float32 minute, hour, weekday (Mon=0), day, month (UTC)."""
    stamps = _utc_index(timestamps_s)
    return np.stack([stamps.minute, stamps.hour, stamps.weekday, stamps.day, stamps.month],
                    axis=-1).astype(np.float32).reshape(*np.shape(timestamps_s), 5)


def _utc_index(timestamps_s: np.ndarray):
    import pandas as pd

    return pd.DatetimeIndex(pd.to_datetime(np.asarray(timestamps_s).ravel(), unit="s", utc=True))


def future_timestamps(timestamps_s: np.ndarray, horizon: int) -> np.ndarray:
    """``[W, horizon]`` open times of the bars after each context, at the context's median bar spacing."""
    step = np.median(np.diff(timestamps_s, axis=1), axis=1, keepdims=True) if timestamps_s.shape[1] > 1 else 3600
    return timestamps_s[:, -1:] + step * np.arange(1, horizon + 1)


def filter_logits(logits: torch.Tensor, top_k: int, top_p: float) -> torch.Tensor:
    """Top-k or nucleus filtering of ``[B, V]`` logits; removed tokens get ``-inf``. Top-k wins when both are set."""
    if top_k > 0:
        kth = torch.topk(logits, min(top_k, logits.shape[-1]))[0][..., -1:]
        return logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True)
        cumulative = torch.cumsum(F.softmax(sorted_logits, dim=-1), dim=-1)
        remove = cumulative > top_p
        remove[..., 1:] = remove[..., :-1].clone()  # keep the token that crosses top_p
        remove[..., 0] = False
        return logits.masked_fill(remove.scatter(1, order, remove), float("-inf"))
    return logits


def _draw(logits: torch.Tensor, sampling: Sampling, generator: Generators) -> torch.Tensor:
    """One token per row of ``[W, S, V]`` logits -> ``[W, S]``.

    ``generator`` is one generator for every row, or a list of ``W``: one per window, so each
    window's tokens come from its own stream, whatever other windows share its batch.
    """
    flat = filter_logits(logits.reshape(-1, logits.shape[-1]) / sampling.temperature, sampling.top_k, sampling.top_p)
    probs = F.softmax(flat, dim=-1)
    if isinstance(generator, (list, tuple)):
        rows = logits.shape[1]
        ids = torch.cat([torch.multinomial(probs[w * rows:(w + 1) * rows], 1, generator=g)
                         for w, g in enumerate(generator)])
    else:
        ids = torch.multinomial(probs, 1, generator=generator)
    return ids.view(logits.shape[:-1])


@dataclass
class EncodedWindows:
    """Everything about a set of windows that every sample path shares.

    Attributes
    ----------
    s1_ids, s2_ids : torch.Tensor
        ``[W, P]`` context tokens.
    future_stamps : torch.Tensor
        ``[W, horizon, 5]`` calendar features of the forecast bars.
    next_logits : torch.Tensor
        ``[W, 2**s1_bits]`` logits of the first forecast ``s1`` token.
    state : ContextState
        The predictor's cache after the context.
    decoder_caches : list of PrefixCache
        The tokenizer decoder's cache of the context tokens inside the final decode window.
    mean, std : numpy.ndarray
        ``[W, 1, 6]`` normalisation statistics.
    max_context : int
    """

    s1_ids: torch.Tensor
    s2_ids: torch.Tensor
    future_stamps: torch.Tensor
    next_logits: torch.Tensor
    state: ContextState
    decoder_caches: list[PrefixCache]
    mean: np.ndarray
    std: np.ndarray
    max_context: int

    @property
    def context_length(self) -> int:
        return self.s1_ids.shape[1]


@torch.no_grad()
def encode_windows(model: Kronos, tokenizer: KronosTokenizer, ohlcv: np.ndarray, timestamps_s: np.ndarray,
                   horizon: int, clip: float, max_context: int, device: str = "cpu") -> EncodedWindows:
    """Normalise, tokenize and encode the contexts of ``W`` windows once.

    Parameters
    ----------
    ohlcv : numpy.ndarray
        ``[W, P, 5]`` open, high, low, close (quote currency), volume (base units), oldest first.
    timestamps_s : numpy.ndarray
        ``[W, P]`` bar open times, POSIX seconds.
    horizon : int
        Bars to forecast; at most ``max_context``.
    clip : float
        Clip of the normalised inputs.
    max_context : int
        The predictor's context window (model card: 512 for Kronos-small/base, 2048 for Kronos-mini).

    Raises
    ------
    ValueError
        If the context is longer than ``max_context`` or ``horizon`` exceeds it.
    """
    n_windows, length = timestamps_s.shape
    if length > max_context or not 1 <= horizon <= max_context:
        raise ValueError(f"context_length {length} and horizon {horizon} must both be within max_context "
                         f"{max_context}")
    x, mean, std = normalise(bars_with_amount(ohlcv), clip)
    s1, s2 = tokenizer.encode(torch.from_numpy(x).to(device))
    stamps = torch.from_numpy(calendar_features(timestamps_s)).to(device)
    future = torch.from_numpy(calendar_features(future_timestamps(timestamps_s, horizon))).to(device)
    logits, state = model.encode_context(s1, s2, stamps)
    if horizon == 1:  # one step never appends a token: only the dependency layer's cache is read again
        state = replace(state, caches=[])
    decode_from = max(0, length + horizon - max_context)
    decoder_caches = tokenizer.decode_prefix(s1[:, decode_from:], s2[:, decode_from:])
    return EncodedWindows(s1, s2, future, logits[:, -1], state, decoder_caches, mean, std, max_context)


def _branch(state: ContextState) -> ContextState:
    """A copy of a context state without any path tokens (the prefix tensors are shared, not copied)."""
    fresh = [PrefixCache(c.prefix_k, c.prefix_v) for c in state.caches]
    return replace(state, caches=fresh, cross=PrefixCache(state.cross.prefix_k, state.cross.prefix_v))


@torch.no_grad()
def draw_tokens(model: Kronos, windows: EncodedWindows, num_paths: int, horizon: int, sampling: Sampling,
                generator: Generators = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample ``num_paths`` token paths per window autoregressively through the KV cache.

    ``generator``: one ``torch.Generator`` for all windows (as upstream), or one per window.

    Returns
    -------
    s1_ids, s2_ids : torch.Tensor
        ``[W, num_paths, horizon]`` int64.
    """
    state = _branch(windows.state)
    length, max_context = windows.context_length, windows.max_context
    s1_logits = windows.next_logits.unsqueeze(1).expand(-1, num_paths, -1)
    s1_path, s2_path = [], []
    for step in range(horizon):
        window_start = max(0, length + step - max_context)
        s1 = _draw(s1_logits, sampling, generator)
        s2 = _draw(model.s2_logits(state, s1, window_start), sampling, generator)
        s1_path.append(s1)
        s2_path.append(s2)
        if step + 1 < horizon:
            s1_logits = model.append(state, s1, s2, windows.future_stamps[:, step],
                                     max(0, length + step + 1 - max_context))
    return torch.stack(s1_path, dim=-1), torch.stack(s2_path, dim=-1)


@torch.no_grad()
def decode_close(tokenizer: KronosTokenizer, windows: EncodedWindows, s1_ids: torch.Tensor,
                 s2_ids: torch.Tensor) -> np.ndarray:
    """Close prices ``[W, S, horizon]`` (quote currency) of token paths ``[W, S, horizon]``."""
    caches = [PrefixCache(c.prefix_k, c.prefix_v) for c in windows.decoder_caches]
    # every path is decoded, even repeated token pairs: decoding only a window's distinct pairs made
    # the decoder's shapes, so its float rounding, depend on the other windows of the batch
    bars = tokenizer.decode_after(caches, s1_ids, s2_ids)[..., CLOSE_COLUMN].cpu().numpy()
    mean, std = windows.mean[:, :, CLOSE_COLUMN], windows.std[:, :, CLOSE_COLUMN]   # [W, 1]
    # in float64 (upstream: float32, whose steps are 0.0078 at 1e5): prices keep every bit the model gave
    scale = std.astype(np.float64) + STD_EPS
    return bars.astype(np.float64) * scale[..., None] + mean.astype(np.float64)[..., None]
