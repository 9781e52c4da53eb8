"""The folder ``report`` writes into: never inside the hyperparams folder's ``best/`` or ``candidates/``, and a
report that fails leaves no folder or file it created behind."""

from __future__ import annotations

import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ..errors import ConfigError
from ..storage.store import check_output_folder

__all__ = ["check_report_folder", "removed_on_failure", "RESERVED_SUBFOLDERS"]

#: Folders of ``--output-dir`` whose every file other commands read as a config (``predict``, ``export``,
#: ``promote``, ``backtest``): a report's Markdown and plots do not belong there.
RESERVED_SUBFOLDERS = ("best", "candidates")


def check_report_folder(folder: Path, output_dir: Path) -> None:
    """Refuse a report folder that cannot be written or lies inside ``<output_dir>/best`` or ``candidates``.

    Parameters
    ----------
    folder : Path
        ``--report-dir`` (or its default, ``runs/<run>/report``); it may not exist.
    output_dir : Path
        The sweep's ``--output-dir``.

    Raises
    ------
    ConfigError
        Naming ``--report-dir``, the reserved folder and the fix; or as
        :func:`sweep.storage.store.check_output_folder`.
    """
    where = Path(folder).expanduser().resolve()
    for name in RESERVED_SUBFOLDERS:
        reserved = (Path(output_dir).expanduser() / name).resolve()
        if where == reserved or reserved in where.parents:
            raise ConfigError(f"--report-dir {folder} lies inside {Path(output_dir) / name}, whose files promote, "
                              f"predict and export read as configs; choose a folder outside "
                              f"{Path(output_dir) / 'best'} and {Path(output_dir) / 'candidates'} (default "
                              f"runs/<run>/report)")
    check_output_folder(folder, "--report-dir")


@contextmanager
def removed_on_failure(folder: Path) -> Iterator[None]:
    """Undo what a failing block created under ``folder``: the folder, when it did not exist before (and the
    parents it lacked, while they are empty), else the files and folders that are new in it.

    Files that existed before and were overwritten stay overwritten; nothing that existed before is removed.

    Parameters
    ----------
    folder : Path
        The report folder; it may not exist yet.
    """
    folder = Path(folder)
    created = next((p for p in reversed((folder, *folder.parents)) if not p.exists() and not p.is_symlink()), None)
    before = set(folder.rglob("*")) if created is None and folder.is_dir() else set()
    try:
        yield
    except BaseException:
        if created is not None:
            shutil.rmtree(folder, ignore_errors=True)
            for parent in folder.parents:  # the parents it made, only while empty (never another process's files)
                if parent == created.parent:
                    break
                try:
                    parent.rmdir()
                except OSError:
                    break
        elif folder.is_dir():
            for path in sorted(set(folder.rglob("*")) - before, reverse=True):  # children before their folders
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
        raise
