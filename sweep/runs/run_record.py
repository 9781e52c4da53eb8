"""A run's id and its record of what its studies depend on: ``run.json``, and the same settings on each of its studies.

:func:`sweep.runs.settings.check_run_settings` writes the record and refuses a resume that differs from it;
this module reads and validates it (``run.json`` for the sweep, ``report`` and ``promote``; the studies'
``run_settings`` attribute where a shared ``--storage`` is used from a runs folder without ``run.json``)
and names each difference with its recorded and given value.
"""

from __future__ import annotations

import re
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..storage.faults import storage_faults
from ..storage.storage_url import is_database_url
from ..storage.store import read_json
from ..search.study import OBJECTIVE, RUN_SETTINGS_ATTR, make_storage
from ..data.windows import WindowSpec

__all__ = ["validate_run_id", "new_run_id", "RUN_ID_PATTERN", "cache_folder", "read_run_settings", "run_settings_problem", "settings_changes", "recorded_in_storage", "recorded_models",
           "RUN_FIX"]

RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9._-]+$")


def validate_run_id(run_id: str, flag: str = "--run-id") -> str:
    """Return ``run_id`` if it is safe as a folder name (no path separators, not ``.`` or ``..``).

    Raises
    ------
    ConfigError
        If it does not match ``[A-Za-z0-9._-]+``.
    """
    if not RUN_ID_PATTERN.match(run_id) or run_id in (".", ".."):
        raise ConfigError(f"{flag} {run_id!r} is invalid: it names a folder, so it must match [A-Za-z0-9._-]+ "
                          f"(e.g. nightly-2026-11-22)")
    return run_id


def new_run_id() -> str:
    """A run id from the current UTC time, e.g. ``20261122T021500Z``."""
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")



#: run.json keys every reader needs (written since the first run.json) and the keys added later, with their types.
_REQUIRED_KEYS = {"windows": dict, "seed": int, "freq": str, "gap_policy": str, "toto_model": str, "data": dict}
_LATER_KEYS = {"folds": (int, type(None)), "kronos_model": str, "kronos_tokenizer": (str, type(None)),
               "model_ids": dict, "objective": str, "objectives": list, "cache_dir": (str, type(None)), "finetune": (bool, list), "variants": dict,
               "storage": (str, type(None)), "promote_candidate": str, "ensemble": (str, type(None)),
               "selection": list, "pool": (list, type(None)), "select": list, "select_alpha": (int, float), "data_dir": str, "data_spans": dict}
#: Keys a resume must keep; checkpoints compare as resolved folders, the storage as its redacted URL.
_COMPARED = ("folds", "windows", "seed", "freq", "gap_policy", "toto_model", "kronos_model", "kronos_tokenizer",
             "objectives", "finetune", "storage", "promote_candidate", "ensemble", "selection", "pool", "select",
             "select_alpha", "fee_bps", "long_only", "horizons")
_CHECKPOINT_KEYS = ("toto_model", "kronos_model", "kronos_tokenizer")
RUN_FIX = "restore it, or start a new run with a new --run-id"


def cache_folder(run_dir: Path, recorded: dict[str, Any]) -> Path:
    """The forecast cache of a run: the ``cache_dir`` its settings record (``--cache-dir``), else
    ``<run_dir>/cache``."""
    return Path(recorded["cache_dir"]) if recorded.get("cache_dir") else Path(run_dir) / "cache"


def run_settings_problem(document: object) -> str | None:
    """What is wrong with a run settings document (run.json, or a study's record).

    Parameters
    ----------
    document : object
        The parsed JSON.

    Returns
    -------
    str or None
        The problem as the rest of a sentence (``lacks windows``, ``has seed '0', expected int``); None if the
        document holds every key the readers need, with the right types, and ``windows`` is a complete block.
    """
    if not isinstance(document, dict):
        return f"is a JSON {type(document).__name__}, not an object of run settings"
    missing = [k for k in _REQUIRED_KEYS if k not in document]
    if missing:
        return f"lacks {', '.join(missing)}"
    for key, kind in {**_REQUIRED_KEYS, **_LATER_KEYS}.items():
        if key in document and not isinstance(document[key], kind):
            names = " or ".join(t.__name__.replace("NoneType", "null") for t in (kind if isinstance(kind, tuple)
                                                                                   else (kind,)))
            return f"has {key} {document[key]!r}, expected {names}"
    for key in ("data", "model_ids", "variants"):
        if not all(isinstance(v, str) for v in document.get(key, {}).values()):
            return f"has {key} {document[key]!r}, whose values are not all strings"
    try:
        WindowSpec.from_document(document["windows"])
    except (KeyError, TypeError, ValueError, ConfigError) as e:
        return f"has windows {document['windows']!r} that are not a complete windows block ({type(e).__name__}: {e})"
    return None


def read_run_settings(run_dir: str | Path) -> dict[str, Any]:
    """The settings a run was started with: ``<run_dir>/run.json``, validated.

    Parameters
    ----------
    run_dir : str or Path
        ``<runs_dir>/<run_id>``.

    Returns
    -------
    dict
        Holds at least ``windows`` (a block :meth:`WindowSpec.from_document` accepts), ``seed``, ``freq``,
        ``gap_policy``, ``toto_model`` and ``data``; keys added later have their recorded types when present.

    Raises
    ------
    ConfigError
        If the file is missing, not JSON, or not a run settings document (naming the file, what is wrong and
        the fix).
    """
    path = Path(run_dir) / "run.json"
    if not path.exists():
        raise ConfigError(f"run settings {path} does not exist: is --runs-dir right, and was run "
                          f"{Path(run_dir).name!r} started there?")
    try:
        document = read_json(path, "run settings")
    except ConfigError as e:
        raise ConfigError(f"{e}; {RUN_FIX}") from e
    problem = run_settings_problem(document)
    if problem:
        raise ConfigError(f"run settings {path} {problem}; {RUN_FIX}")
    return document


def recorded_models(document: dict[str, Any]) -> dict[str, Any]:
    """The ``model_ids``, ``model_options`` and ``variants`` of :class:`sweep.runs.settings.SweepSettings` that a valid run
    settings document records (``toto_model``, ``kronos_model``, ``kronos_tokenizer`` and ``model_ids``)."""
    variants = document.get("variants", {})
    ids = {label: source for label, source in document.get("model_ids", {}).items() if label not in variants}
    ids["toto"] = document["toto_model"]
    if document.get("kronos_model"):
        ids["kronos"] = document["kronos_model"]
    tokenizer = document.get("kronos_tokenizer")
    return {"model_ids": ids, "model_options": {"kronos": {"tokenizer": tokenizer}} if tokenizer else {},
            "variants": variants}


def _same_place(source: Any) -> Any:
    """A checkpoint or journal path as its resolved real path when it is local (hub ids and URLs as they are)."""
    if not isinstance(source, str) or source.startswith("bundled:"):
        return source
    if is_database_url(source):  # an SQLite file by its real path; other databases as named
        from sqlalchemy.engine import make_url

        url = make_url(source)
        if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
            return source
        return f"sqlite:///{Path(url.database).expanduser().resolve()}"
    path = Path(source).expanduser()
    return str(path.resolve()) if path.is_dir() or path.is_file() else source


def _shown(was: Any, now: Any) -> str:
    """Recorded and given value; of dicts only the sub-keys that differ (``val_windows 8 recorded, 12 now``)."""
    if isinstance(was, dict) and isinstance(now, dict):
        return ", ".join(f"{k} {was.get(k)!r} recorded, {now.get(k)!r} now" for k in sorted({*was, *now}, key=str)
                         if was.get(k) != now.get(k))
    return f"{was!r} recorded, {now!r} now"


def settings_changes(stored: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Each setting ``stored`` records otherwise than ``current``, with both values.

    Parameters
    ----------
    stored : dict
        A valid record (:func:`run_settings_problem`); keys a document written before they existed lacks count
        as today's value.
    current : dict
        :func:`sweep.runs.settings.run_settings_document` of the command now.

    Returns
    -------
    list of str
        E.g. ``windows (val_windows 8 recorded, 12 now)``; checkpoint folders and journal or SQLite files
        compare by their resolved real path. Empty when nothing differs.
    """
    stored = {**{k: current[k] for k in ("kronos_model", "kronos_tokenizer", "storage", "promote_candidate",
                                          "ensemble", "select", "select_alpha")},
              "objectives": [OBJECTIVE], "finetune": False, "folds": None, "model_ids": {},
              "selection": ["per-symbol"], "pool": None, **stored}
    if isinstance(stored["finetune"], bool):  # runs recorded when --finetune meant Toto only
        stored["finetune"] = ["toto"] if stored["finetune"] else []
    stored["windows"] = asdict(WindowSpec.from_document(stored["windows"]))  # before test_stride: every stride
    changed = []
    for key in _COMPARED:
        was, now = stored.get(key), current.get(key)  # fee_bps, long_only: only under --objective pnl
        if (_same_place(was) != _same_place(now)) if key in (*_CHECKPOINT_KEYS, "storage") else was != now:
            changed.append(f"{key} ({_shown(was, now)})")
    changed += [f"the checkpoint of {label} ({_shown(stored['model_ids'][label], source)})"
                for label, source in current["model_ids"].items()
                if _same_place(stored["model_ids"].get(label, source)) != _same_place(source)]
    changed += [f"data of {s} (fingerprint {_shown(stored['data'][s], fp)})" for s, fp in current["data"].items()
                if stored["data"].get(s, fp) != fp]
    return changed


def recorded_in_storage(url: str, namespace: str | None, folder: Path) -> list[tuple[str, dict[str, Any] | None]]:
    """``(study name, recorded run settings or None)`` of each study of a run in its storage, in one read.

    Nothing is created to look: a journal or SQLite file that does not exist, or a database without Optuna's
    tables, holds no study.

    Parameters
    ----------
    url : str
        The run's storage: a database URL or a journal file path.
    namespace : str or None
        The run's study-name prefix in a shared storage (its run id); None: every study is the run's.
    folder : Path
        The run folder (named if its disk is full).

    Returns
    -------
    list of (str, dict or None)

    Raises
    ------
    StorageError
        If the database cannot be read.
    """
    with storage_faults(url, folder):
        if is_database_url(url):
            from sqlalchemy import create_engine, inspect
            from sqlalchemy.engine import make_url
            from sqlalchemy.pool import NullPool

            database = make_url(url).database
            if make_url(url).get_backend_name() == "sqlite" and not (database and Path(database).is_file()):
                return []
            engine = create_engine(url, poolclass=NullPool)
            try:
                if not inspect(engine).has_table("studies"):
                    return []
            finally:
                engine.dispose()
            storage = make_storage(url)
        elif Path(url).is_file():  # read as is: a torn tail is repaired by the run, not by a look
            from optuna.storages import JournalStorage
            from optuna.storages.journal import JournalFileBackend

            storage = JournalStorage(JournalFileBackend(url))
        else:
            return []
        studies = storage.get_all_studies()
        if hasattr(storage, "engine"):
            storage.engine.dispose()  # the run opens its own connection
    prefix = f"{namespace}/" if namespace else ""
    return [(s.study_name, s.user_attrs.get(RUN_SETTINGS_ATTR)) for s in studies if s.study_name.startswith(prefix)]
