"""Pretraining cutoffs and local training ranges: what a model has seen, and the flags they raise."""

import json

import pytest

from sweep.forecasters.overlap import inherited_limits, overlap_flags, overlaps, pretraining_cutoff, training_limits


def test_when_a_published_checkpoint_is_named_then_its_documented_cutoff_is_known():
    assert pretraining_cutoff("NeoQuasar/Kronos-small") == "2024-06-30"
    assert pretraining_cutoff("Datadog/Toto-Open-Base-1.0") == "unknown"  # nothing documented
    assert training_limits("NeoQuasar/Kronos-base") == {"pretraining_cutoff": "2024-06-30", "trained_until": None}


def test_when_a_checkpoint_is_fine_tuned_then_it_inherits_the_cutoff_and_the_later_training_end(tmp_path):
    first = inherited_limits("NeoQuasar/Kronos-small", ["2023-01-01T00:00:00+00:00", "2023-03-01T05:00:00+00:00"])
    assert first == {"pretraining_cutoff": "2024-06-30", "trained_until": "2023-03-01T05:00:00+00:00"}
    folder = tmp_path / "kronos-ft"
    (folder / "predictor").mkdir(parents=True)
    (folder / "kronos.json").write_text(json.dumps(first))
    # the predictor folder of a kronostraining output finds the record one level up
    assert training_limits(str(folder / "predictor")) == first
    again = inherited_limits(str(folder), ["2022-06-01T00:00:00+00:00"])
    assert again == first  # fine-tuning on older bars does not move trained_until back
    assert inherited_limits("scratch", ["2022-06-01T00:00:00+00:00"])["pretraining_cutoff"] is None


def test_when_a_record_predates_trained_until_then_the_latest_last_bar_is_used(tmp_path):
    (tmp_path / "training.json").write_text(json.dumps({"data": [
        {"symbol": "A", "last_bar": "2023-01-02T00:00:00+00:00"}, {"symbol": "B", "last_bar": "2023-05-01T00:00:00+00:00"}]}))
    assert training_limits(str(tmp_path))["trained_until"] == "2023-05-01T00:00:00+00:00"


@pytest.mark.parametrize("start, limits, expected", [
    ("2024-06-30 23:00:00+00:00", {"pretraining_cutoff": "2024-06-30"}, {"pretraining": True, "training": False}),
    ("2024-07-01 00:00:00+00:00", {"pretraining_cutoff": "2024-06-30"}, {"pretraining": False, "training": False}),
    ("2023-05-01 00:00:00+00:00", {"trained_until": "2023-05-01T00:00:00+00:00"},
     {"pretraining": False, "training": True}),
    ("2023-05-01 01:00:00+00:00", {"trained_until": "2023-05-01T00:00:00+00:00"},
     {"pretraining": False, "training": False}),
    ("2020-01-01 00:00:00+00:00", {}, {"pretraining": False, "training": False}),
])
def test_when_windows_start_before_a_limit_then_they_overlap(start, limits, expected):
    assert overlaps(start, limits) == expected


def test_when_a_candidate_uses_kronos_on_2024_data_then_it_is_flagged_with_the_cutoff():
    windows = {"first_validation_origin_time": "2024-01-01 00:00:00+00:00",
               "first_test_origin_time": "2024-03-01 00:00:00+00:00"}
    flags = overlap_flags([{"family": "kronos", "model_id": "NeoQuasar/Kronos-small"},
                           {"family": "naive", "model_id": "persistence"}], windows)
    assert flags == {"pretraining_overlap": True, "pretraining_cutoff": "2024-06-30", "training_overlap": False,
                     "trained_until": None}
    toto = overlap_flags([{"family": "toto", "model_id": "Datadog/Toto-Open-Base-1.0"}], windows)
    assert toto["pretraining_overlap"] == "unknown" and toto["pretraining_cutoff"] == "unknown"  # card has no date
    both = overlap_flags([{"family": "toto", "model_id": "Datadog/Toto-Open-Base-1.0"},
                          {"family": "kronos", "model_id": "NeoQuasar/Kronos-small"}], windows)
    assert both["pretraining_overlap"] is True and both["pretraining_cutoff"] == "2024-06-30"
    assert overlap_flags([{"family": "garch", "model_id": "arch"}], windows)["pretraining_cutoff"] is None


def test_when_a_sweep_uses_a_model_pretrained_past_its_test_windows_then_it_warns_with_model_and_date(data_dir,
                                                                                                     caplog):
    from sweep.data.bars import load_ohlcv
    from sweep.forecasters.overlap import warn_overlaps
    from sweep.data.windows import WindowSpec, make_splits

    data = load_ohlcv(data_dir, "TEST")  # synthetic hours from 2024-01-01
    splits = make_splits(data.n_bars, WindowSpec(val_windows=5, test_windows=5, stride=12, max_context_length=64))
    with caplog.at_level("WARNING", logger="sweep.forecasters.overlap"):
        warn_overlaps({"kronos": "NeoQuasar/Kronos-small", "toto": "Datadog/Toto-Open-Base-1.0"}, {"TEST": data},
                      {"TEST": splits})
    (record,) = caplog.records
    assert "kronos" in record.getMessage() and "2024-06-30" in record.getMessage()
