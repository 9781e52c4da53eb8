"""What a promotion review may read and write on disk: the current best file and the run's forecast cache."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..scoring.cache import SampleCache
from ..scoring.ensemble import read_best
from ..errors import ConfigError
from ..runs.run_record import cache_folder, read_run_settings

__all__ = ["check_best_file", "read_promoted_best", "review_cache"]

#: Keys of the ``promotion`` block every version of ``promote`` has written into a best file.
PROMOTION_KEYS = ("review", "reviewed_at")


def check_best_file(path: Path) -> None:
    """Refuse a ``best/<SYMBOL>.json`` that is not a best config, before any review is written.

    It is checked whether or not the review will replace it: a promotion that cannot write its best
    config would leave a review recording a decision that never took effect.

    Parameters
    ----------
    path : Path
        ``<output_dir>/best/<SYMBOL>.json``; it may not exist.

    Raises
    ------
    ConfigError
        If ``path`` is a folder (naming it and the fix), or an existing file that is not a best config
        (:func:`sweep.scoring.ensemble.read_best`).
    """
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{path} is a folder, but promote reads and writes the best config file there; move the "
                          f"folder out of {path.parent} (or delete it if it holds nothing of yours) and promote again")
    if path.exists():
        read_best(path)


def read_promoted_best(path: Path) -> dict[str, Any]:
    """Read a ``best/<SYMBOL>.json`` to serve (``predict``, ``export``): a best config that ``promote`` wrote.

    A candidate copied into ``best/`` by hand passes :func:`sweep.scoring.ensemble.read_best` (it has the same keys)
    but no review has shown it beats persistence and the current best; only ``promote`` adds the ``promotion``
    block (:data:`PROMOTION_KEYS`: the review file and its time).

    Parameters
    ----------
    path : Path
        ``<output_dir>/best/<SYMBOL>.json``.

    Returns
    -------
    dict
        The best document.

    Raises
    ------
    ConfigError
        If the file is not a best config (:func:`sweep.scoring.ensemble.read_best`), or has no promotion block: the
        message names the file and the fix (move it away, then ``python -m sweep promote --run RUN``).
    """
    document = read_best(path)
    promotion = document.get("promotion")
    if isinstance(promotion, dict) and all(isinstance(promotion.get(k), str) for k in PROMOTION_KEYS):
        return document
    path = Path(path)
    provenance = document.get("provenance")
    run = provenance.get("run_id") if isinstance(provenance, dict) else None
    raise ConfigError(f"{path} has no `promotion` block, so `python -m sweep promote` did not write it (a candidate "
                      f"copied into {path.parent} by hand?) and no review has shown it beats persistence and the "
                      f"current best; move it out of {path.parent}, then run `python -m sweep promote --run "
                      f"{run if isinstance(run, str) and run else 'RUN_ID'} --symbols {path.stem}`")


def review_cache(run_dir: Path, dry_run: bool) -> SampleCache:
    """The forecast cache of a review: the run's (``<run_dir>/cache``, or its ``--cache-dir``) when the run folder
    exists, else memory only.

    A dry run writes nothing, so it keeps its forecasts in memory. So does a review whose run folder does
    not exist (a mistyped ``--runs-dir``, or candidates copied without their run folder): the folder is not
    created just to hold a cache, and the review, which needs only the candidate files and today's data,
    still runs.

    Parameters
    ----------
    run_dir : Path
        ``<runs_dir>/<run_id>``.
    dry_run : bool
        ``promote --dry-run``.

    Returns
    -------
    SampleCache
    """
    run_dir = Path(run_dir)
    if dry_run or not run_dir.is_dir():
        return SampleCache()
    recorded = read_run_settings(run_dir) if (run_dir / "run.json").is_file() else {}
    return SampleCache(cache_folder(run_dir, recorded))
