"""Promotion reviews: first candidate, better, worse and insignificant candidates, dry runs, the lock."""

import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest
from filelock import FileLock

from sweep.cli import main
from sweep.errors import SweepError
from sweep.forecasters import forecaster_from_identity
from sweep.promote import LOCK_NAME, PromoteSettings, promote

WINDOWS = ["--val-windows", "8", "--test-windows", "30", "--stride", "24", "--max-context-length", "128"]


@pytest.fixture(scope="module")
def runs(shared_data, tiny_toto_dir, tmp_path_factory):
    """Two sweeps of BTCUSD on the same windows: a random tiny Toto (poor) and persistence (good)."""
    root = tmp_path_factory.mktemp("promote")
    for run_id, models in (("poor", ["toto"]), ("good", ["naive"])):
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


def test_when_a_symbol_has_no_best_then_its_first_candidate_is_promoted(settings):
    (review,) = promote(settings)
    assert review.promoted and "first candidate" in review.reason
    assert _best(settings)["model"]["family"] == "toto"
    assert _best(settings)["promotion"]["review"] == str(review.path)
    assert "PROMOTED" in review.path.read_text()


def test_when_the_candidate_is_better_then_it_replaces_the_best(settings):
    promote(settings)
    (review,) = promote(replace(settings, run_id="good"))
    assert review.promoted and review.test.dm_p_value < 0.05 and review.test.ci_upper < 0
    assert _best(settings)["model"]["family"] == "naive"
    text = review.path.read_text()
    for needle in ("Diebold-Mariano", "bootstrap", "## Candidate", "## Current best", "pct_return_mae"):
        assert needle in text
    assert len(_reviews(settings)) == 2


def test_when_the_candidate_is_worse_then_the_best_is_kept(settings):
    promote(replace(settings, run_id="good"))
    before = (settings.output_dir / "best" / "BTCUSD.json").read_text()
    (review,) = promote(settings)
    assert not review.promoted and review.test.mean_differential > 0
    assert (settings.output_dir / "best" / "BTCUSD.json").read_text() == before
    assert "KEPT CURRENT BEST" in review.path.read_text()


def test_when_the_candidate_is_no_better_then_it_is_not_promoted(settings):
    good = replace(settings, run_id="good")
    promote(good)
    (review,) = promote(good)
    assert not review.promoted and review.test.dm_p_value == 0.5 and "no significant improvement" in review.reason


def test_when_dry_run_then_nothing_is_written(settings):
    (review,) = promote(replace(settings, dry_run=True))
    assert review.promoted and review.path is None
    assert not (settings.output_dir / "best").exists() and not (settings.output_dir / "reviews").exists()


def test_when_another_promoter_holds_the_lock_then_promotion_waits_and_gives_up(settings):
    with FileLock(str(settings.output_dir / LOCK_NAME)):
        with pytest.raises(SweepError, match="another promoter"):
            promote(replace(settings, lock_timeout_s=0.2))
    assert not (settings.output_dir / "best").exists()


def test_when_two_promoters_run_at_once_then_their_reviews_do_not_interleave(settings):
    promote(settings)  # the poor model is the current best

    def slow_load(identity):  # keeps each promoter inside its review long enough to overlap the other
        time.sleep(0.5)
        return forecaster_from_identity(identity)

    good = replace(settings, run_id="good")
    with ThreadPoolExecutor(2) as pool:
        reviews = [r for future in [pool.submit(promote, good, slow_load) for _ in range(2)] for r in future.result()]
    # serialised: the first beats the poor best and replaces it; the second meets an equal best and keeps it
    assert sorted(r.promoted for r in reviews) == [False, True]
    assert sorted("PROMOTED" in path.read_text() for path in _reviews(settings)) == [False, True, True]
    assert _best(settings)["model"]["family"] == "naive"


def test_when_the_run_has_no_candidates_then_config_error_names_the_folder(settings):
    with pytest.raises(Exception, match="no ensemble candidates"):
        promote(replace(settings, candidate="ensemble"))
