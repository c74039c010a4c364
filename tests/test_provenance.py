"""Provenance names the code that computed a file: the git commit (and whether rfdiff's files differ from it)
when rfdiff runs from a checkout — the version number alone (0.1.0 at every commit) does not say which."""
import shutil
import subprocess

import pytest

import rfdiff.outputs as outputs


@pytest.fixture(autouse=True)
def fresh_revision():
    """``source_revision`` is looked up once per process (cached): forget it around each test."""
    outputs.source_revision.cache_clear()
    yield
    outputs.source_revision.cache_clear()


def _source():
    outputs.source_revision.cache_clear()
    return outputs.provenance(["rfdiff"])["source"]


def _git(root, *args):
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=True).stdout.strip()


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_commit_and_dirty_flag_of_the_checkout_are_recorded(tmp_path, monkeypatch):
    package = tmp_path / "rfdiff"
    package.mkdir()
    (package / "outputs.py").write_text("# stand-in\n")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "add", ".")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    monkeypatch.setattr(outputs, "__file__", str(package / "outputs.py"))   # rfdiff "runs from" this checkout
    head = _git(tmp_path, "rev-parse", "HEAD")
    assert _source() == {"commit": head, "dirty": False}
    (package / "outputs.py").write_text("# edited\n")
    assert _source() == {"commit": head, "dirty": True}
    (tmp_path / "notes.txt").write_text("outside the package: not a difference of rfdiff's code\n")
    (package / "outputs.py").write_text("# stand-in\n")
    assert _source() == {"commit": head, "dirty": False}


def test_no_checkout_records_none(tmp_path, monkeypatch):
    (tmp_path / "rfdiff").mkdir()
    monkeypatch.setattr(outputs, "__file__", str(tmp_path / "rfdiff" / "outputs.py"))
    assert _source() is None


def test_writing_to_a_pipe_or_device_does_not_replace_it(tmp_path):
    """``--json /dev/stdout`` (or /dev/null) must write into the device: the atomic temporary-file-and-rename
    used to replace it with a regular file (as root, /dev/null itself). A FIFO stands in for the device."""
    import os
    import stat
    import threading
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text()))
    reader.start()
    outputs.write_json(fifo, {"a": 1})
    reader.join(timeout=30)
    assert received == ['{\n "a": 1\n}\n'] and stat.S_ISFIFO(os.stat(fifo).st_mode)
