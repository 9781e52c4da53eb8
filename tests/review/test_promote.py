"""Promotion reviews: persistence as the implicit incumbent, the decision rule, MDE, dry runs, the lock."""

import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import numpy as np
import pytest
from filelock import FileLock

from sweep.cli import main
from sweep.errors import SweepError
from sweep.forecasters import forecaster_from_identity
from sweep.review.promote import KEPT, LOCK_NAME, PERSISTENCE, PROMOTED, PromoteSettings, decide, promote
from sweep.stats.paired import paired_test

WINDOWS = ["--val-windows", "8", "--test-windows", "30", "--stride", "24", "--max-context-length", "128"]


@pytest.fixture(scope="module")
def runs(shared_data, tiny_toto_dir, tmp_path_factory):
    """Two sweeps of BTCUSD on the same windows: a random tiny Toto (poor) and persistence (good)."""
    root = tmp_path_factory.mktemp("promote")
    for run_id, models in (("poor", ["toto"]), ("good", ["naive"]), ("mixed", ["toto", "naive"])):
        code = main(["--symbols", "BTCUSD", "--models", *models, "--n-trials", "2", "--data-dir", str(shared_data),
                     "--toto-model", str(tiny_toto_dir), "--runs-dir", str(root / "runs"),
                     "--output-dir", str(root / "template"), "--run-id", run_id, *WINDOWS])
        assert code == 0
    return root


@pytest.fixture
def settings(runs, shared_data, tmp_path):
    """Fresh hyperparams/ (no best yet) holding both runs' candidates."""
    import shutil

    shutil.copytree(runs / "template", tmp_path / "hp")
    return PromoteSettings(run_id="poor", data_dir=shared_data, output_dir=tmp_path / "hp", runs_dir=runs / "runs")


def _best(settings):
    return json.loads((settings.output_dir / "best" / "BTCUSD.json").read_text())


def _reviews(settings):
    return sorted((settings.output_dir / "reviews").glob("*-BTCUSD*.md"))


def test_when_a_first_candidate_loses_to_persistence_then_persistence_is_written_as_best(settings):
    (review,) = promote(settings)
    assert review.outcome == PERSISTENCE and not review.promoted and review.incumbent is None
    assert not review.persistence_test.candidate_better and "does not beat persistence" in review.reason
    best = _best(settings)
    assert best["model"]["family"] == "naive" and best["config"]["model"] == "naive"
    assert best["promotion"]["decision"] == PERSISTENCE and best["promotion"]["review"] == str(review.path)
    assert best["provenance"]["rejected_candidate"]["model"]["family"] == "toto"
    text = review.path.read_text()
    for needle in ("PERSISTENCE WRITTEN", "Candidate vs persistence", "minimum detectable effect", "Diebold-Mariano"):
        assert needle in text


def test_when_the_best_is_persistence_then_a_candidate_equal_to_it_is_not_promoted(settings):
    good = replace(settings, run_id="good")
    promote(settings)  # persistence becomes the best
    before = (settings.output_dir / "best" / "BTCUSD.json").read_text()
    (review,) = promote(good)
    assert review.outcome == KEPT and review.test.dm_p_value == 0.5 and review.persistence_test.mean_differential == 0
    assert (settings.output_dir / "best" / "BTCUSD.json").read_text() == before
    assert "KEPT CURRENT BEST" in review.path.read_text() and "Candidate vs current best" in review.path.read_text()


def test_when_the_candidate_is_worse_then_the_best_is_kept(settings):
    promote(replace(settings, run_id="good"))
    before = (settings.output_dir / "best" / "BTCUSD.json").read_text()
    (review,) = promote(settings)
    assert review.outcome == KEPT and review.test.mean_differential > 0
    assert (settings.output_dir / "best" / "BTCUSD.json").read_text() == before


def _paired(differential_mean: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    incumbent = np.abs(rng.normal(0.004, 0.002, 100))
    return paired_test(incumbent + differential_mean + rng.normal(0, 1e-4, 100), incumbent)


@pytest.mark.parametrize("vs_persistence, vs_best, outcome", [
    (-0.001, None, PROMOTED),        # first candidate, beats persistence
    (+0.001, None, PERSISTENCE),     # first candidate, loses: persistence is written
    (0.0, None, PERSISTENCE),        # no evidence either way counts as not beating persistence
    (-0.001, -0.001, PROMOTED),      # beats both
    (-0.001, +0.001, KEPT),          # beats persistence, not the best
    (+0.001, -0.001, KEPT),          # beats the best, not persistence: nothing below persistence reaches best/
])
def test_when_deciding_then_the_candidate_must_beat_persistence_and_the_best(vs_persistence, vs_best, outcome):
    decided, reason = decide(_paired(vs_persistence), None if vs_best is None else _paired(vs_best, 1))
    assert decided == outcome and "persistence" in reason


def test_when_losses_are_noisier_then_the_minimum_detectable_effect_grows():
    rng = np.random.default_rng(0)
    base = np.abs(rng.normal(0.004, 0.002, 100))
    quiet, noisy = (paired_test(base + rng.normal(0, s, 100), base) for s in (1e-4, 1e-3))
    assert 0 < quiet.mde < noisy.mde
    # (z_0.95 + z_0.8) * sd / sqrt(n) for white noise, up to the HAC weights
    assert noisy.mde == pytest.approx((1.6449 + 0.8416) * 1e-3 / 10, rel=0.25)


def test_when_dry_run_then_nothing_is_written(settings):
    (review,) = promote(replace(settings, dry_run=True))
    assert review.outcome == PERSISTENCE and review.path is None
    assert not (settings.output_dir / "best").exists() and not (settings.output_dir / "reviews").exists()


def test_when_dry_run_then_the_printed_decision_says_what_would_be_written(settings, capsys):
    argv = ["promote", "--run", "poor", "--dry-run", "--data-dir", str(settings.data_dir), "--output-dir",
            str(settings.output_dir), "--runs-dir", str(settings.runs_dir)]
    capsys.readouterr()
    assert main(argv) == 0
    printed = " ".join("".join(capsys.readouterr()).split())
    assert "the persistence config would be written as its best" in printed and "is written" not in printed
    assert "would write persistence" in printed  # the table's decision column too
    assert not (settings.output_dir / "best").exists()


def test_when_another_promoter_holds_the_lock_then_promotion_waits_and_gives_up(settings):
    with FileLock(str(settings.output_dir / LOCK_NAME)):
        with pytest.raises(SweepError, match="another promoter"):
            promote(replace(settings, lock_timeout_s=0.2))
    assert not (settings.output_dir / "best").exists()


def test_when_two_promoters_run_at_once_then_their_reviews_do_not_interleave(settings):
    def slow_load(identity):  # keeps each promoter inside its review long enough to overlap the other
        time.sleep(0.5)
        return forecaster_from_identity(identity)

    with ThreadPoolExecutor(2) as pool:
        reviews = [r for future in [pool.submit(promote, settings, slow_load) for _ in range(2)] for r in future.result()]
    # serialised: the first finds no best and writes persistence; the second meets that best and keeps it
    assert sorted(r.outcome for r in reviews) == [KEPT, PERSISTENCE]
    assert len(_reviews(settings)) == 2
    assert _best(settings)["model"]["family"] == "naive"


def test_when_the_run_has_no_candidates_then_config_error_names_the_folder(settings):
    with pytest.raises(Exception, match="no candidates in .*missing"):
        promote(replace(settings, run_id="missing"))


def test_when_the_candidate_the_sweep_did_not_declare_is_asked_for_then_it_is_refused_and_nothing_is_written(settings):
    from sweep.errors import ConfigError

    with pytest.raises(ConfigError, match="declared its selected candidate of BTCUSD.*second try at alpha"):
        promote(replace(settings, candidate="ensemble"))
    assert not (settings.output_dir / "best").exists() and not _reviews(settings)


def _same(recomputed, stored) -> bool:
    """Equal JSON values, floats to 1e-9 relative (a mean over a re-read column may differ in the last bit)."""
    if isinstance(stored, dict):
        return set(recomputed) == set(stored) and all(_same(recomputed[k], v) for k, v in stored.items())
    if isinstance(stored, float):
        return recomputed == pytest.approx(stored, rel=1e-9)
    return recomputed == stored


def test_when_a_candidate_is_written_then_its_per_window_test_losses_recompute_its_comparisons(settings):
    import pandas as pd

    folder = settings.output_dir / "candidates" / "poor"
    doc = json.loads((folder / "BTCUSD.json").read_text())
    losses = pd.read_csv(folder / doc["test_losses"]["file"])
    assert len(losses) == doc["windows"]["n_test_origins"] == 30 * 24
    assert doc["selection"]["promotion_candidate"] == "selected"
    for name in ("persistence", "default"):
        stored = doc["comparisons"][name]
        again = paired_test(losses["selected"], losses[name], stored["alpha"]).to_dict(losses[name].mean(), 24)
        assert _same(again, stored)
    assert doc["test"]["pct_return_mae"] == pytest.approx(losses["selected"].mean())


def test_when_persistence_is_selected_then_the_review_states_what_the_strongest_other_config_could_have_shown(
        settings, capsys):
    doc = json.loads((settings.output_dir / "candidates" / "mixed" / "BTCUSD.json").read_text())
    assert doc["config"]["model"] == "naive" and doc["comparisons"]["persistence"]["mde_relative"] is None
    power = doc["power_vs_persistence"]
    assert power["config_of"] == "BTCUSD.toto" and power["n_windows"] == 30 * 24
    assert power["mde_relative"] > 0 and power["origins_needed"]["5%"] > power["origins_needed"]["10%"] > 0
    assert "p_value" not in power  # power only: no second test at alpha
    assert main(["promote", "--run", "mixed", "--data-dir", str(settings.data_dir), "--runs-dir",
                 str(settings.runs_dir), "--output-dir", str(settings.output_dir)]) == 0
    captured = capsys.readouterr()
    out = " ".join((captured.out + captured.err).split())  # the verdicts go to stderr; rich wraps long lines
    # 720 origins of these noisy toy forecasts cannot see any gain: the sentence says so instead of "161.9%"
    relative = power["mde_relative"]
    seen = "cannot detect any gain" if relative > 1 else f"could see a {100 * relative:.1f}% gain"
    assert seen in out and "BTCUSD.toto's config" in out
    assert _best(settings)["promotion"]["power_vs_persistence"] == power
    assert "BTCUSD.toto's config" in _reviews(settings)[-1].read_text()


def test_when_persistence_is_selected_then_the_report_plots_the_strongest_other_configs_mde(settings, tmp_path):
    from sweep.report.report import write_report

    report = write_report("mixed", data_dir=settings.data_dir, output_dir=settings.output_dir,
                          runs_dir=settings.runs_dir, report_dir=tmp_path / "report")
    assert (tmp_path / "report" / "mde-vs-origins.png").stat().st_size > 0
    assert "mde-vs-origins.png" in report.path.read_text()
