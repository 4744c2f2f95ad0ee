from __future__ import annotations

import pytest

from ..conftest import run_cli


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["simulate", "nope.toml", "--out", "x"], "Scenario file not found: nope.toml"),
        (
            ["simulate", "simulations/speed_to_lead.toml", "--n-leads", "0", "--out", "x"],
            "expected an integer from 1 to 20,000,000, got '0'",
        ),
        (
            ["simulate", "speed_to_lead", "--n-leads", "1000000000000", "--out", "x"],
            "expected an integer from 1 to 20,000,000, got '1000000000000'",
        ),
        (["simulate", "speed_to_lead", "--out", "/etc/passwd/x"], "cannot write to --out /etc/passwd/x"),
        (["report", "--out", "/etc/passwd/x"], "cannot write to --out /etc/passwd/x"),
        (["analyze", "nope.csv", "--arm", "a", "--control", "c", "--metric", "m"], "Data file not found: nope.csv"),
        (["power", "--baseline", "0.1"], "power needs --baseline (or --sd for a numeric metric) and --mde"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_bad_arguments_get_one_clear_message(args: list[str], message: str) -> None:
    res = run_cli(*args)
    assert res.returncode == 2
    assert message in res.stderr
    assert "Traceback" not in res.stderr


def test_a_refused_run_removes_only_the_empty_folders_it_made(tmp_path) -> None:
    """The output folder is made before any work (an unwritable one is refused at once); a run refused
    later removes the folders it made while they are empty, and never a folder that was there (a run
    that succeeds keeps its folder: every test of a written report checks its files)."""
    made = tmp_path / "a" / "b"
    missing = ["--data", str(tmp_path / "nope.csv"), "--control", "c"]
    res = run_cli("report", *missing, "--out", str(made))
    assert res.returncode == 2 and "Data file not found" in res.stderr
    assert not (tmp_path / "a").exists()
    (tmp_path / "mine").mkdir()
    res = run_cli("report", *missing, "--out", str(tmp_path / "mine" / "c"))
    assert res.returncode == 2 and (tmp_path / "mine").is_dir() and not (tmp_path / "mine" / "c").exists()
    # a path through a new folder and back: only the new folder was made (found by a review)
    res = run_cli("report", *missing, "--out", str(tmp_path / "nope" / ".." / "mine"))
    assert res.returncode == 2 and (tmp_path / "mine").is_dir() and not (tmp_path / "nope").exists()
