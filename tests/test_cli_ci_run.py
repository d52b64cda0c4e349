"""``.ci/run`` leaves nothing behind: the venv and wheel directory it creates are removed
however it ends (here: a failure right after the venv was created)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

CI_RUN = Path(__file__).resolve().parent.parent / ".ci" / "run"

FAKE_PYTHON = """#!/bin/sh
# Stands in for python3: creates the venv directory it is asked for, then fails.
mkdir -p "$3/bin"
exit 3
"""


def run_ci(tmp_path: Path, **env: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    bin_dir, scratch = tmp_path / "bin", tmp_path / "tmp"
    bin_dir.mkdir()
    scratch.mkdir()
    fake = bin_dir / "python3"
    fake.write_text(FAKE_PYTHON)
    fake.chmod(0o755)
    done = subprocess.run(
        ["bash", str(CI_RUN)],
        env={
            **os.environ,
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "TMPDIR": str(scratch),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done, scratch


def test_ci_run_removes_what_it_created_even_when_it_fails(tmp_path: Path) -> None:
    done, scratch = run_ci(tmp_path)
    assert done.returncode == 3, done.stderr
    assert list(scratch.iterdir()) == []


def test_ci_run_keeps_a_venv_it_was_given(tmp_path: Path) -> None:
    given = tmp_path / "kept-venv"
    done, scratch = run_ci(tmp_path, CI_VENV=str(given))
    assert done.returncode == 3, done.stderr
    assert (given / "bin").is_dir()
    assert list(scratch.iterdir()) == []
