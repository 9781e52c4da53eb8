"""Export promoted configs to other layouts: the predecessor's trading code (``stock-prediction``).

That code (lee101/stock-prediction) reads, per symbol:

- ``best/<SYMBOL>.json``: ``model`` as a lowercase string (``"toto"``, ``"kronos"``),
  ``metadata.candidate_pct_return_mae`` as ``{model: float}`` (it picks a second model from it) and
  ``validation`` / ``test`` blocks with ``price_mae``, ``pct_return_mae`` and ``latency_s``;
- ``toto/<SYMBOL>.json``: ``{"symbol", "model": "toto", "config": {"name", "num_samples", "aggregate",
  "samples_per_batch"}}``; a number above 1 in an aggregate name is a percent, and ``num_samples`` is clamped
  to [128, 4096];
- ``kronos/<SYMBOL>.json``: ``config`` ``{"name", "temperature", "top_p", "top_k", "sample_count",
  "max_context", "clip"}``, ``max_context`` being the context length used; it always averages the paths, and
  its top-p filter is dead whenever ``top_k > 0``.

Every tuned setting the layout cannot carry, or will change, is reported as a warning; so is every config
promoted for a horizon beyond 1 bar (``best/<SYMBOL>.h<H>.json``), which the layout has no place for.

An export is all or nothing: every best config is checked before anything is written, the whole folder is
built beside ``--to`` and swapped in by a rename (:func:`sweep.storage.store.staged_folder`), and a manifest
(:data:`MANIFEST_NAME`) records which files are ours. Files of a symbol that no longer has a model are removed;
files the export never wrote are kept; symbols left out of ``--symbols`` keep their files from the previous export.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._version import __version__
from ..stats.aggregate import parse_aggregation
from ..data.bars import validate_symbol
from ..scoring.ensemble import document_members
from ..errors import ConfigError
from ..review.promote_files import read_promoted_best
from ..storage.store import (best_path, candidate_path, check_output_folder, read_json, slot_parts, staged_folder,
                             utc_now, write_json_atomic)

__all__ = ["ExportResult", "export_stock_prediction", "predecessor_aggregate", "LAYOUTS", "TOTO_NUM_SAMPLES_RANGE",
           "MANIFEST_NAME"]

LAYOUTS = ("stock-prediction",)
#: The predecessor clamps Toto's num_samples to this range.
TOTO_NUM_SAMPLES_RANGE = (128, 4096)
METRIC_KEYS = ("price_mae", "pct_return_mae", "latency_s")
#: Families the layout has a place for.
CARRIED = ("toto", "kronos")
#: The manifest every export writes at the root of ``--to``: which files it wrote, for which best file.
MANIFEST_NAME = "sweep-export.json"


@dataclass
class ExportResult:
    """What an export wrote, removed and kept, and what it could not carry.

    Attributes
    ----------
    written : list of Path
        Files written under ``--to`` (the manifest last).
    removed : list of tuple
        ``(path, reason)`` of each file of an earlier export that is gone now.
    kept : list of Path
        Files of symbols outside ``--symbols``, carried over from the previous export unchanged.
    warnings : list of str
        One line per tuned setting the layout drops or changes, or symbol not exported.
    """

    written: list[Path] = field(default_factory=list)
    removed: list[tuple[Path, str]] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)
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


def _study_maes(document: dict[str, Any]) -> dict[str, float]:
    """``{model: validation pct-return MAE}`` of the Toto and Kronos studies a document's selection lists."""
    studies = (document.get("selection") or {}).get("studies") or []
    return {s["model"]: s["validation_pct_return_mae"] for s in studies if isinstance(s, dict)
            and s.get("model") in CARRIED and s.get("validation_pct_return_mae") is not None}


def _candidate_maes(document: dict[str, Any], hyperparams_dir: Path, symbol: str) -> dict[str, float]:
    """The study MAEs of ``document``; an ensemble lists its studies without them, so they come from the
    run's selected candidate (``candidates/<run_id>/<SYMBOL>.json``) when it is still there."""
    maes = _study_maes(document)
    run_id = (document.get("provenance") or {}).get("run_id")
    if maes or document["model"]["family"] != "ensemble" or not isinstance(run_id, str):
        return maes
    selected = candidate_path(hyperparams_dir, run_id, symbol)
    try:
        sibling = read_json(selected, "candidate") if selected.is_file() else {}
    except ConfigError:
        return {}
    return _study_maes(sibling) if isinstance(sibling, dict) else {}


def _symbol_files(symbol: str, document: dict[str, Any], source: Path, hyperparams_dir: Path,
                  warn: list[str]) -> tuple[dict[str, Any], str | None]:
    """``({relative path: content}, None)`` of a symbol's files, or ``({}, why not exported)``."""
    members = [m for m in document_members(document) if m[3] > 0]
    family = document["model"]["family"]
    if family == "naive" or all(config.model == "naive" for _, _, config, _ in members):
        warn.append(f"{symbol}: not exported: its best is persistence (no model beat it), and the layout has no "
                    f"'no model' value; keep the symbol out of the trading system")
        return {}, "its best is persistence"
    carried = [m for m in members if m[2].model in CARRIED]
    if not carried:
        models = ", ".join(c.model for _, _, c, _ in members)
        warn.append(f"{symbol}: not exported: its best ({models}) has no place in the layout, which carries toto and "
                    f"kronos only")
        return {}, f"its best ({models}) has no place in the layout"
    if family == "ensemble":
        warn.append(f"{symbol}: the ensemble ({', '.join(f'{l} {w:.2f}' for l, _, _, w in members)}) is not "
                    f"carried; exporting its strongest toto or kronos member alone (best/{symbol}.json's validation "
                    f"and test metrics are the ensemble's)")
    label, _identity, config, _weight = max(carried, key=lambda m: m[3])
    if config.decision:  # tuned under --objective pnl: the forecast is carried, its trading rule is not
        warn.append(f"{symbol}: the trading rule {config.decision} is not carried (the layout has no trading rule)")
    provenance = document.get("provenance") or {}
    name = f"sweep:{provenance.get('run_id', 'run')}:{provenance.get('study_name', label)}"
    if config.model == "toto":
        spb = int(((document.get("validation") or {}).get("speed") or {}).get("samples_per_batch", 16))
        detail = _toto_file(symbol, config, name, spb, warn)
    else:
        detail = _kronos_file(symbol, config, name, warn)
    maes = _candidate_maes(document, hyperparams_dir, symbol)
    best = {"symbol": symbol, "model": config.model,
            "metadata": {"candidate_pct_return_mae": maes or {config.model: (document.get("validation") or {}).get(
                "pct_return_mae")}, "source": str(source), "exported_by": "python -m sweep export"},
            "validation": _metrics(document.get("validation")), "test": _metrics(document.get("test"))}
    return {f"best/{symbol}.json": best, f"{config.model}/{symbol}.json": detail}, None


def _check_destination(to: Path, hyperparams_dir: Path) -> None:
    """Refuse a ``--to`` that the export cannot build beside and swap in whole.

    Raises
    ------
    ConfigError
        If ``to`` is a file, lies under a file, is not writable, nor the folder holding it (where the new
        folder is built), or it holds the current folder or ``hyperparams_dir``.
    """
    check_output_folder(to, "--to")
    if to.is_dir() and not os.access(to.parent, os.W_OK | os.X_OK):
        raise ConfigError(f"--to {to}: {to.parent} is not writable by this user, and the export builds the new "
                          f"folder beside --to and swaps it in; fix its permissions or pass another folder")
    real = to.resolve()
    for what, inside in (("the current folder", Path.cwd()), (f"--output-dir {hyperparams_dir}",
                                                              hyperparams_dir.resolve())):
        if real == inside or real in inside.parents:
            raise ConfigError(f"--to {to} holds {what}, and an export replaces --to whole; pass a folder of its own, "
                              f"e.g. {to / 'stock-prediction'}")


def _chosen_symbols(hyperparams_dir: Path, symbols: tuple[str, ...] | None) -> tuple[str, ...]:
    """``symbols`` (each with a best file), or every 1-bar ``best/<SYMBOL>.json``; a ConfigError names a symbol that
    is invalid or has no best file, or says there is no best file at all."""
    folder = hyperparams_dir / "best"
    if not symbols:
        chosen = tuple(sorted(p.stem for p in folder.glob("*.json") if slot_parts(p.stem)[1] == 1))
        if not chosen:
            raise ConfigError(f"no promoted configs in {folder}; run `python -m sweep promote --run RUN_ID` first")
        return chosen
    chosen = tuple(dict.fromkeys(validate_symbol(s) for s in symbols))
    missing = [s for s in chosen if not best_path(hyperparams_dir, s).is_file()]
    if missing:
        raise ConfigError(f"--symbols {' '.join(missing)}: {best_path(hyperparams_dir, missing[0])} does not exist "
                          f"(no promoted config); drop them from --symbols, or run `python -m sweep promote --run "
                          f"RUN_ID --symbols {' '.join(missing)}` first")
    return chosen


def _other_horizons(hyperparams_dir: Path, chosen: tuple[str, ...]) -> list[str]:
    """A warning per best config of a chosen symbol at a horizon beyond 1 bar (``best/<SYMBOL>.h<H>.json``): the
    predecessor's layout holds one config per symbol, the next bar's, so those are left out."""
    slots = sorted((p, *slot_parts(p.stem)) for p in (hyperparams_dir / "best").glob("*.h*.json"))
    return [f"{path} (horizon {h} bars) is not exported: the stock-prediction layout holds one config per symbol, "
            f"its 1-bar best/<SYMBOL>.json; serve it with `python -m sweep predict --symbol {symbol} --horizon {h}`"
            for path, symbol, h in slots if h > 1 and symbol in chosen]


def _manifest_files_ok(entry: Any) -> bool:
    files = entry.get("files") if isinstance(entry, dict) else None
    return isinstance(files, list) and all(
        isinstance(f, str) and f and not f.startswith("/") and ".." not in f.split("/") for f in files)


def _previous_manifest(to: Path) -> dict[str, Any] | None:
    """The manifest of the export that wrote ``to`` (None for a new or empty folder).

    Raises
    ------
    ConfigError
        If ``to`` holds files but no manifest (an earlier export did not write it), or a broken manifest.
    """
    path = to / MANIFEST_NAME
    if not to.is_dir() or not (path.exists() or any(to.iterdir())):
        return None
    fix = (f"pass a new or empty folder, or move {to} away; an export only replaces files its own manifest "
           f"({MANIFEST_NAME}) lists, so it cannot tell its files from yours here")
    if not path.exists():
        raise ConfigError(f"--to {to} is not empty and has no {MANIFEST_NAME}, so no sweep export wrote it: {fix}")
    try:
        manifest = read_json(path, "export manifest")
    except ConfigError as e:
        raise ConfigError(f"{e}: {fix}") from e
    symbols = manifest.get("symbols") if isinstance(manifest, dict) else None
    if not isinstance(symbols, dict) or not all(_manifest_files_ok(e) for e in symbols.values()):
        raise ConfigError(f"{path} is not a sweep export manifest (it needs 'symbols': {{SYMBOL: {{'files': "
                          f"[relative paths]}}}}): {fix}")
    return manifest


@dataclass
class _Plan:
    """Everything an export will do, decided before anything is written (paths relative to ``--to``)."""

    files: dict[str, Any] = field(default_factory=dict)
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    carry: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    removed: list[tuple[str, str]] = field(default_factory=list)


def _entry(symbol: str, hyperparams_dir: Path, files: dict[str, Any], reason: str | None, now: str) -> dict[str, Any]:
    source = best_path(hyperparams_dir, symbol)
    return {"status": "skipped" if reason else "exported", "reason": reason,
            "model": files[f"best/{symbol}.json"]["model"] if files else None, "files": sorted(files),
            "source": str(source), "source_sha256": hashlib.sha256(source.read_bytes()).hexdigest(),
            "exported_at": now}


def _plan(hyperparams_dir: Path, to: Path, chosen: tuple[str, ...], every: bool, previous: dict[str, Any] | None,
          warn: list[str]) -> _Plan:
    """Check every chosen best config and decide each file; symbols of ``previous`` outside ``chosen`` keep
    their files unless ``every`` symbol was chosen (then their best file is gone, and so are their files)."""
    plan, now = _Plan(), utc_now()
    for symbol in chosen:
        source = best_path(hyperparams_dir, symbol)
        files, reason = _symbol_files(symbol, read_promoted_best(source), source, hyperparams_dir, warn)
        plan.files.update(files)
        plan.entries[symbol] = _entry(symbol, hyperparams_dir, files, reason, now)
    for symbol, entry in ((previous or {}).get("symbols") or {}).items():
        new = plan.entries.get(symbol)
        present = [f for f in entry["files"] if (to / f).is_file()]
        if new is None and not every:
            plan.entries[symbol] = {**entry, "files": present}
            plan.carry += present
            plan.kept += present
            continue
        why = (f"its best file {best_path(hyperparams_dir, symbol)} no longer exists" if new is None else
               f"{new['reason']} now" if new["reason"] else f"its best is {new['model']} now")
        plan.removed += [(f, why) for f in present if f not in plan.files]
    return plan


def _foreign(to: Path, ours: set[str]) -> list[str]:
    """Paths under ``to`` (relative; a trailing ``/`` marks an empty folder) that no export wrote."""
    found: list[str] = []
    for root, dirs, files in os.walk(to):
        base = Path(root)
        for name in [*files, *(d for d in dirs if (base / d).is_symlink())]:
            rel = (base / name).relative_to(to).as_posix()
            if rel not in ours:
                found.append(rel)
        if not dirs and not files and base != to:
            found.append(base.relative_to(to).as_posix() + "/")
    return found


def _clash(ours: str, theirs: str) -> bool:
    """Whether writing file ``ours`` would replace or need to replace ``theirs``."""
    return theirs == ours or theirs.startswith(ours + "/") or (not theirs.endswith("/") and
                                                               ours.startswith(theirs + "/"))


def _carry(to: Path, staging: Path, rel: str) -> None:
    """Copy ``to/rel`` into the staging folder as it is (a link stays a link, an empty folder stays one)."""
    (staging / rel if rel.endswith("/") else (staging / rel).parent).mkdir(parents=True, exist_ok=True)
    if not rel.endswith("/"):
        shutil.copy2(to / rel, staging / rel, follow_symlinks=False)


def _build(to: Path, carry: list[str], files: dict[str, Any], manifest: dict[str, Any]) -> None:
    """Build the new ``to`` beside it and swap it in; a failure leaves ``to`` as it was.

    Raises
    ------
    ConfigError
        If a folder turns out not to be writable (e.g. a read-only file system).
    """
    try:
        with staged_folder(to) as staging:
            for rel in carry:
                _carry(to, staging, rel)
            for rel, content in files.items():
                write_json_atomic(staging / rel, content)
            write_json_atomic(staging / MANIFEST_NAME, manifest)
    except OSError as e:
        if e.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise
        raise ConfigError(f"--to {to}: cannot write {e.filename or to} ({e.strerror}); nothing was changed. Pass a "
                          f"folder you can write to, or fix its permissions") from e


def export_stock_prediction(hyperparams_dir: str | Path, to: str | Path,
                            symbols: tuple[str, ...] | None = None) -> ExportResult:
    """Write the predecessor's files for every promoted config in ``<hyperparams_dir>/best/``, all or nothing.

    Every best config is checked first; the new ``to`` is built beside it and swapped in, with a manifest
    (:data:`MANIFEST_NAME`: sweep version, time, output dir and, per symbol, the files written or why none were,
    and the SHA-256 of its best file). A symbol with no model now (persistence, a family the layout has no place
    for, or, in a full export, no best file) loses the files an earlier export wrote for it. Files no export
    wrote are kept; configs of horizons beyond 1 bar are left out, with a warning each.

    Parameters
    ----------
    hyperparams_dir : str or Path
        Root of ``best/`` (the sweep's ``--output-dir``).
    to : str or Path
        Folder receiving ``best/``, ``toto/`` and ``kronos/``: new, empty, or written by an earlier export.
    symbols : tuple of str, optional
        Default: every ``best/<SYMBOL>.json``. Symbols of the previous export left out keep their files.

    Returns
    -------
    ExportResult

    Raises
    ------
    ConfigError
        If there is no promoted config, a best file is not a best config that promote wrote
        (:func:`sweep.review.promote_files.read_promoted_best`), ``to`` is a file or not writable,
        or it holds files but no manifest; nothing is changed then.
    """
    hyperparams_dir, to = Path(hyperparams_dir), Path(to)
    to = to.resolve() if to.is_symlink() else to  # replace the folder, not the link to it
    _check_destination(to, hyperparams_dir)
    chosen = _chosen_symbols(hyperparams_dir, symbols)
    previous = _previous_manifest(to)
    result = ExportResult(warnings=_other_horizons(hyperparams_dir, chosen))
    plan = _plan(hyperparams_dir, to, chosen, not symbols, previous, result.warnings)
    ours = {f for e in ((previous or {}).get("symbols") or {}).values() for f in e["files"]} | {MANIFEST_NAME}
    foreign = _foreign(to, ours) if to.is_dir() else []
    clash = next((to / f for rel in plan.files for f in foreign if _clash(rel, f)), None)
    if clash is not None:
        raise ConfigError(f"{clash} in --to was not written by sweep export (its {MANIFEST_NAME} does not list it), "
                          f"and the export would replace it; move it out of {to} and export again")
    manifest = {"exported_by": "python -m sweep export", "layout": "stock-prediction", "sweep_version": __version__,
                "exported_at": utc_now(), "output_dir": str(hyperparams_dir),
                "symbols": dict(sorted(plan.entries.items()))}
    _build(to, [*plan.carry, *foreign], plan.files, manifest)
    result.written = [to / rel for rel in plan.files] + [to / MANIFEST_NAME]
    result.removed = [(to / rel, why) for rel, why in plan.removed]
    result.kept = [to / rel for rel in plan.kept]
    return result
