"""optuna-dashboard over a real sweep's journal, through its HTTP API."""

import json
import threading
import urllib.request
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest

from sweep.cli import main
from sweep.search.study import make_storage

WINDOWS = ["--val-windows", "5", "--test-windows", "5", "--stride", "12", "--max-context-length", "128"]


class QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):  # no access log on stderr
        pass


def test_when_the_dashboard_serves_a_sweep_journal_then_its_api_lists_every_study_and_trial(
        ray_session, data_dir, tiny_toto_dir, tmp_path):
    optuna_dashboard = pytest.importorskip("optuna_dashboard")
    assert main(["--symbols", "TEST", "--models", "toto", "naive", "--n-trials", "5", "--data-dir", str(data_dir),
                 "--toto-model", str(tiny_toto_dir), "--runs-dir", str(tmp_path / "runs"), "--output-dir",
                 str(tmp_path / "hp"), "--run-id", "dash", "--executor", "ray", "--workers", "2", *WINDOWS]) == 0
    app = optuna_dashboard.wsgi(make_storage(tmp_path / "runs/dash/optuna.journal"))
    server = make_server("127.0.0.1", 0, app, handler_class=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        with urllib.request.urlopen(f"{base}/api/studies", timeout=30) as response:
            studies = {s["study_name"]: s for s in json.load(response)["study_summaries"]}
        assert set(studies) == {"TEST.toto", "TEST.naive"}
        for name, expected in (("TEST.toto", (5, 6)), ("TEST.naive", (1, 2))):  # a worker may overshoot by one
            with urllib.request.urlopen(f"{base}/api/studies/{studies[name]['study_id']}?after=0",
                                        timeout=30) as response:
                trials = json.load(response)["trials"]
            complete = [t for t in trials if t["state"] == "Complete"]
            assert expected[0] <= len(complete) <= expected[1]
            for trial in complete:
                attrs = {a["key"]: a["value"] for a in trial["user_attrs"]}
                assert attrs["source"] in ("default", "search") and attrs["worker"].startswith("dash-w")
            first = {a["key"]: a["value"] for a in trials[0]["user_attrs"]}
            assert first["source"] == "default"  # the warm start runs first
    finally:
        server.shutdown()
        server.server_close()
