"""Skill against horizon: how the selected config, its family's default and the incumbent do at each horizon of a
run with several ``--horizons``, read from the per-window test losses stored beside each candidate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..data.windows import WindowSpec
from ..objectives import Objective
from ..stats.paired import paired_test
from ..storage.store import slot_parts
from ._plots import pyplot, save_figure

__all__ = ["horizon_skills", "horizon_plots", "horizon_section", "FORECASTS"]

#: The test-loss columns drawn by horizon: the selected config, its family's default and the strongest other model
#: (stored where the benchmark itself was selected), with how the plot and table name them.
FORECASTS = {"selected": "selected config", "default": "its family's default",
             "alternative": "strongest other model"}


def _skill(losses: np.ndarray, benchmark: np.ndarray, objective: Objective, alpha: float, overlap: int,
           seed: int) -> dict[str, float]:
    """Test skill against the benchmark and its ``1 - 2 alpha`` interval (the paired test's block bootstrap of the
    mean differential, blocks and HAC bandwidth covering the ``overlap`` windows that share a target)."""
    test = paired_test(losses, benchmark, alpha, seed, overlap=overlap)
    scale = float(benchmark.mean()) if objective.relative_skill else 1.0  # pnl: skill in return units
    return {"skill": objective.skill(float(losses.mean()), float(benchmark.mean())),
            "ci_low": -test.ci_upper / scale + 0.0, "ci_high": -test.ci_lower / scale + 0.0}  # no -0.0


def horizon_skills(candidates: dict[str, dict[str, Any]], losses: dict[str, pd.DataFrame], objective: Objective,
                   seed: int = 0) -> dict[str, list[dict[str, Any]]]:
    """Per symbol, the test skill at each horizon of the selected config, its family's default and, where the
    benchmark itself was selected, the strongest other model's config (the candidate's power block's).

    Parameters
    ----------
    candidates : dict
        ``{file name: candidate document}`` (``BTCUSD``, ``BTCUSD.h4``, ...; :func:`sweep.storage.store.horizon_slot`).
    losses : dict
        ``{file name: per-window test losses}`` (the ``<name>.test_losses.csv`` beside each candidate: columns
        ``selected``, ``default``, the benchmark's and, in a run of several horizons where the benchmark was
        selected, ``alternative``; ``[n_test_origins]`` each, the objective's units).
    objective : Objective
    seed : int
        Bootstrap seed.

    Returns
    -------
    dict
        ``{symbol: [{"horizon", "model", "selected": {skill, ci_low, ci_high}, "default": {...}, and, when stored,
        "alternative": {...} with "alternative_model"}, ...]}`` by increasing horizon; skill is ``1 - loss / benchmark loss`` (``benchmark loss - loss`` under ``pnl``), so the
        incumbent benchmark's is 0.
    """
    rows: dict[str, list[dict[str, Any]]] = {}
    for slot, document in candidates.items():
        symbol, _ = slot_parts(slot)
        spec = WindowSpec.from_document(document["windows"])
        frame, alpha = losses[slot], document["comparisons"][objective.benchmark]["alpha"]
        overlap = spec.overlap  # windows sharing a target bar
        benchmark = frame[objective.benchmark].to_numpy(float)
        named = [name for name in FORECASTS if name in frame]
        power = document.get(objective.power_key) or {}
        rows.setdefault(symbol, []).append(
            {"horizon": spec.horizon, "model": document["model"].get("family"),
             "alternative_model": str(power.get("config_of", "")).rpartition(".")[2],
             **{name: _skill(frame[name].to_numpy(float), benchmark, objective, alpha, overlap, seed)
                for name in named}})
    return {symbol: sorted(found, key=lambda r: r["horizon"]) for symbol, found in rows.items()}


def horizon_plots(skills: dict[str, list[dict[str, Any]]], objective: Objective, folder: Path) -> dict[str, Path]:
    """``<SYMBOL>-skill-by-horizon.png`` of every symbol with more than one horizon: skill against horizon (bars,
    log scale) of :data:`FORECASTS` (each point labelled with its family) and the incumbent benchmark (0), with
    intervals."""
    plt, plots = pyplot(), {}
    for symbol, rows in skills.items():
        if len(rows) < 2:
            continue
        horizons = np.array([r["horizon"] for r in rows], dtype=float)
        figure, axis = plt.subplots(figsize=(7, 4))
        for k, (name, label) in enumerate(FORECASTS.items()):
            drawn = [r for r in rows if name in r]
            if not drawn:
                continue
            at = np.array([r["horizon"] for r in drawn], dtype=float) * (0.97 + 0.03 * k)  # side by side
            skill = np.array([r[name]["skill"] for r in drawn])
            error = np.array([[r[name]["skill"] - r[name]["ci_low"] for r in drawn],
                              [r[name]["ci_high"] - r[name]["skill"] for r in drawn]])
            axis.errorbar(at, skill, yerr=error, marker="o", capsize=3, color=f"C{k}", label=label)
            for x, y, r in zip(at, skill, drawn) if name != "default" else ():  # which family each point is
                axis.annotate(r["alternative_model"] if name == "alternative" else r["model"], (x, y),
                              textcoords="offset points", xytext=(4, 6), fontsize=7)
        axis.axhline(0.0, color="black", linewidth=1, label=f"incumbent: {objective.benchmark}")
        axis.set_xscale("log")
        axis.set_xticks(horizons, [str(int(h)) for h in horizons])
        axis.set_xlabel("horizon (bars)")
        axis.set_ylabel("test skill" + ("" if objective.relative_skill else f" ({objective.units})"))
        axis.set_title(f"{symbol}: skill against {objective.benchmark} by horizon (test windows)")
        axis.legend(fontsize=8)
        plots[symbol] = save_figure(figure, folder / f"{symbol}-skill-by-horizon.png")
    return plots


def horizon_section(skills: dict[str, list[dict[str, Any]]], plots: dict[str, Path], objective: Objective,
                    folder: Path) -> list[str]:
    """The report's ``## Skill by horizon`` lines (empty for a one-horizon run)."""
    if not plots:
        return []
    lines = ["", "## Skill by horizon", "",
             f"Test skill against {objective.benchmark} (the incumbent, 0) of each horizon's selected config, its "
             "family's default and, where the incumbent itself was selected, the strongest other model's config, "
             "with the paired test's two-sided 1 - 2 alpha block-bootstrap intervals (90 % at "
             "--alpha 0.05; blocks of at least the horizon at test stride 1), from the per-window test losses "
             "beside each candidate.", "",
             "| symbol | horizon | selected | skill [interval] | default skill [interval] | strongest other model | "
             "its skill [interval] |", "|---|---:|---|---|---|---|---|"]
    for symbol, rows in skills.items():
        for r in rows:
            cells = [f"{r[n]['skill']:+.4f} [{r[n]['ci_low']:+.4f}, {r[n]['ci_high']:+.4f}]" if n in r else "-"
                     for n in FORECASTS]
            lines.append(f"| {symbol} | {r['horizon']} | {r['model']} | {cells[0]} | {cells[1]} | "
                         f"{r['alternative_model'] or '-'} | {cells[2]} |")
    for symbol, path in plots.items():
        lines += ["", f"![{path.stem}]({path.relative_to(folder)})"]
    return lines
