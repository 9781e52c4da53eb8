"""Compare two demo folders (``make demo DEMO_DIR=...``) for identical results, apart from times, latencies and paths.

A refactoring that claims "behaviour unchanged" runs the same demo with the same seed before and after and
checks, with this script, that every study holds the same trials (number, state, params, values, per-window
validation losses), and that candidates, ensemble weights, reviews, best files, per-window test losses and
``backtest.json`` are equal. What legitimately differs is left out: creation times, measured latency and
wall time, the git commit, and the folder each demo ran in.

Usage::

    python scripts/compare_runs.py BEFORE_DIR AFTER_DIR

Exits 0 when everything compared is equal, 1 otherwise (each difference is printed).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

#: Keys whose values are times, measurements or machine facts, never results. A training job's record
#: (``training.json``, ``kronos.json``) holds its creation time, so its hash among a checkpoint's files differs
#: by run; the records themselves are compared as files, without that time.
VOLATILE_KEYS = {"created_at", "updated_at", "reviewed_at", "git_commit", "latency_s", "wall_s", "seconds",
                 "inference_s", "elapsed_s", "datetime_start", "datetime_complete", "duration", "training.json",
                 "kronos.json"}
#: Files that record a process, not a result (the run's driver lock: pid and command line).
SKIPPED_FILES = {"driver.json"}
VOLATILE_TEXT = [re.compile(p) for p in (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(\+00:00|Z)?",  # timestamps
                                         r"\d{8}T\d{6}Z",  # timestamps in names
                                         r"latency[^\n]*",  # measured latency (a table row)
                                         r"\b[0-9a-f]{40}\b", r"\b[0-9a-f]{64}\b")]  # commits, record hashes


def normalised(value: Any, roots: tuple[str, ...]) -> Any:
    """``value`` without volatile keys, with each demo folder's path replaced by ``<DEMO>``."""
    if isinstance(value, dict):
        return {k: normalised(v, roots) for k, v in value.items() if k not in VOLATILE_KEYS
                and not k.endswith("latency_s")}
    if isinstance(value, list):
        return [normalised(v, roots) for v in value]
    if isinstance(value, str):
        return _text(value, roots)
    return value


def _text(text: str, roots: tuple[str, ...]) -> str:
    for root in roots:
        text = text.replace(root, "<DEMO>")
    for pattern in VOLATILE_TEXT:
        text = pattern.sub("<T>", text)
    return text


def _trials(journal: Path) -> dict[str, list[tuple]]:
    """``{study: [(number, state, params, values, validation losses)]}`` of an Optuna journal."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    storage = JournalStorage(JournalFileBackend(str(journal)))
    out = {}
    for summary in optuna.get_all_study_summaries(storage):
        study = optuna.load_study(study_name=summary.study_name, storage=storage)
        out[summary.study_name] = [(t.number, t.state.name, t.params, t.values,
                                    t.user_attrs.get("validation_window_errors"), t.user_attrs.get("source"))
                                   for t in study.get_trials(deepcopy=False)]
    return out


def _named(folder: Path, path: Path, roots: tuple[str, ...]) -> str:
    return _text(str(path.relative_to(folder)), roots)


def compare(before: Path, after: Path) -> list[str]:
    """Every difference between the two demo folders, as one line each (empty: identical)."""
    roots = (str(before.resolve()), str(after.resolve()), str(before), str(after))
    problems = []
    files = {}
    for side, folder in (("before", before), ("after", after)):
        for path in sorted(p for p in folder.rglob("*")
                           if p.is_file() and "cache" not in p.parts and p.name not in SKIPPED_FILES):
            if path.suffix in (".json", ".csv", ".md", ".journal"):
                files.setdefault(_named(folder, path, roots), {})[side] = path
    for name, sides in sorted(files.items()):
        if len(sides) == 1:
            problems.append(f"{name}: only {next(iter(sides))}")
            continue
        a, b = sides["before"], sides["after"]
        if a.suffix == ".journal":
            same = _trials(a) == _trials(b)
        elif a.suffix == ".json":
            same = normalised(json.loads(a.read_text()), roots) == normalised(json.loads(b.read_text()), roots)
        else:
            same = _text(a.read_text(), roots) == _text(b.read_text(), roots)
        if not same:
            problems.append(f"{name}: differs")
    return problems


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__)
        return 2
    problems = compare(Path(argv[0]), Path(argv[1]))
    for line in problems:
        print(line)
    print("identical" if not problems else f"{len(problems)} difference(s)")
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
