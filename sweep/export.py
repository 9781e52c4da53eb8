"""Export promoted configs to other layouts: the predecessor's trading code (``stock-prediction``).

That code (lee101/stock-prediction) reads, per symbol:

- ``best/<SYMBOL>.json``: ``model`` as a lowercase string (``"toto"``, ``"kronos"``),
  ``metadata.candidate_pct_return_mae`` as ``{model: float}`` (it picks a second model from
  it) and ``validation`` / ``test`` blocks with ``price_mae``, ``pct_return_mae`` and
  ``latency_s``;
- ``toto/<SYMBOL>.json``: ``{"symbol", "model": "toto", "config": {"name", "num_samples",
  "aggregate", "samples_per_batch"}}``; a number above 1 in an aggregate name is a percent,
  and ``num_samples`` is clamped to [128, 4096];
- ``kronos/<SYMBOL>.json``: ``config`` ``{"name", "temperature", "top_p", "top_k",
  "sample_count", "max_context", "clip"}``, ``max_context`` being the context length used;
  it always averages the paths, and its top-p filter is dead whenever ``top_k > 0``.

Every tuned setting the layout cannot carry, or will change, is reported as a warning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .aggregate import parse_aggregation
from .ensemble import document_members
from .errors import ConfigError
from .store import best_path, read_json, write_json_atomic

__all__ = ["ExportResult", "export_stock_prediction", "predecessor_aggregate", "LAYOUTS", "TOTO_NUM_SAMPLES_RANGE"]

LAYOUTS = ("stock-prediction",)
#: The predecessor clamps Toto's num_samples to this range.
TOTO_NUM_SAMPLES_RANGE = (128, 4096)
METRIC_KEYS = ("price_mae", "pct_return_mae", "latency_s")


@dataclass
class ExportResult:
    """What an export wrote and what it could not carry.

    Attributes
    ----------
    written : list of Path
    warnings : list of str
        One line per tuned setting the layout drops or changes, or symbol not exported.
    """

    written: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def predecessor_aggregate(name: str) -> str:
    """Our aggregation name in the predecessor's spelling (fractions as percents: ``trimmed_mean_0.1`` ->
    ``trimmed_mean_10``; ``mean`` and ``median`` unchanged).

    Raises
    ------
    ConfigError
        If ``name`` is not a valid aggregation.
    """
    parsed = parse_aggregation(name)
    return parsed.kind if parsed.p is None else f"{parsed.kind}_{round(100 * parsed.p, 6):g}"


def _metrics(block: dict[str, Any] | None) -> dict[str, float | None]:
    return {key: (block or {}).get(key) for key in METRIC_KEYS}


def _toto_file(symbol: str, config, name: str, spb: int, warn: list[str]) -> dict[str, Any]:
    low, high = TOTO_NUM_SAMPLES_RANGE
    if config.num_samples < low:
        warn.append(f"{symbol}: toto num_samples {config.num_samples} will be raised to {low} by the layout's clamp")
    warn.append(f"{symbol}: toto context_length {config.context_length} is not carried (the layout feeds its own "
                f"context)")
    return {"symbol": symbol, "model": "toto",
            "config": {"name": name, "num_samples": min(max(config.num_samples, low), high),
                       "aggregate": predecessor_aggregate(config.aggregate), "samples_per_batch": spb}}


def _kronos_file(symbol: str, config, name: str, warn: list[str]) -> dict[str, Any]:
    s = config.sampling
    top_k = int(s.get("top_k", 0))
    if config.aggregate != "mean" and config.num_samples > 1:
        warn.append(f"{symbol}: kronos aggregate {config.aggregate!r} is not carried (the layout always averages "
                    f"the paths)")
    return {"symbol": symbol, "model": "kronos",
            "config": {"name": name, "temperature": s.get("temperature", 1.0),
                       "top_p": 1.0 if top_k > 0 else s.get("top_p", 1.0),  # top-p is dead while top-k is on
                       "top_k": top_k, "sample_count": config.num_samples, "max_context": config.context_length,
                       "clip": s.get("clip", 5.0)}}


def _export_symbol(symbol: str, document: dict[str, Any], source: Path, to: Path, result: ExportResult) -> None:
    members = [(label, identity, config, weight) for label, identity, config, weight in document_members(document)
               if weight > 0]
    family = document["model"].get("family")
    if family == "naive" or all(config.model == "naive" for _, _, config, _ in members):
        result.warnings.append(f"{symbol}: not exported: its best is persistence (no model beat it), and the layout "
                               f"has no 'no model' value; keep the symbol out of the trading system")
        return
    carried = [m for m in members if m[2].model in ("toto", "kronos")]
    if not carried:
        result.warnings.append(f"{symbol}: not exported: its best ({', '.join(c.model for _, _, c, _ in members)}) "
                               f"has no place in the layout, which carries toto and kronos only")
        return
    if family == "ensemble":
        result.warnings.append(f"{symbol}: the ensemble ({', '.join(f'{l} {w:.2f}' for l, _, _, w in members)}) is "
                               f"not carried; exporting its strongest toto or kronos member alone")
    label, _identity, config, _weight = max(carried, key=lambda m: m[3])
    provenance = document.get("provenance", {})
    name = f"sweep:{provenance.get('run_id', 'run')}:{provenance.get('study_name', label)}"
    if config.model == "toto":
        spb = int((document.get("validation") or {}).get("speed", {}).get("samples_per_batch", 16))
        detail = _toto_file(symbol, config, name, spb, result.warnings)
    else:
        detail = _kronos_file(symbol, config, name, result.warnings)
    studies = (document.get("selection") or {}).get("studies", [])
    candidates = {s["model"]: s["validation_pct_return_mae"] for s in studies if s["model"] in ("toto", "kronos")}
    best = {"symbol": symbol, "model": config.model,
            "metadata": {"candidate_pct_return_mae": candidates or {config.model: document["validation"].get(
                "pct_return_mae")}, "source": str(source), "exported_by": "python -m sweep export"},
            "validation": _metrics(document.get("validation")), "test": _metrics(document.get("test"))}
    for path, content in ((to / "best" / f"{symbol}.json", best), (to / config.model / f"{symbol}.json", detail)):
        result.written.append(write_json_atomic(path, content))


def export_stock_prediction(hyperparams_dir: str | Path, to: str | Path,
                            symbols: tuple[str, ...] | None = None) -> ExportResult:
    """Write the predecessor's files for every promoted config in ``<hyperparams_dir>/best/``.

    Parameters
    ----------
    hyperparams_dir : str or Path
        Root of ``best/`` (the sweep's ``--output-dir``).
    to : str or Path
        Folder receiving ``best/``, ``toto/`` and ``kronos/``.
    symbols : tuple of str, optional
        Default: every ``best/<SYMBOL>.json``.

    Returns
    -------
    ExportResult

    Raises
    ------
    ConfigError
        If there is no promoted config, or a file is not valid JSON or has an invalid config.
    """
    folder = Path(hyperparams_dir) / "best"
    chosen = symbols or tuple(sorted(p.stem for p in folder.glob("*.json")))
    if not chosen:
        raise ConfigError(f"no promoted configs in {folder}; run `python -m sweep promote --run RUN_ID` first")
    result = ExportResult()
    for symbol in chosen:
        path = best_path(hyperparams_dir, symbol)
        _export_symbol(symbol, read_json(path, "best config"), path, Path(to), result)
    return result
