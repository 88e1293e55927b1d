"""The run directory lock: one process at a time, the refused one told who holds it; the OS
releases it when the holder dies, even by SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from al_loop.core.errors import RunDirError
from al_loop.core.lock import LOCK_FILE, DirectoryLock, lock_holder_pid
from al_loop.core.paths import REPO_ROOT

HOLDER = textwrap.dedent(
    """
    import sys
    from al_loop.core.lock import DirectoryLock
    lock = DirectoryLock(sys.argv[1]).acquire()
    print("held", flush=True)
    sys.stdin.read()  # hold until the test closes our stdin (or kills us)
    """
)


def start_holder(directory):
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(directory)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_a_second_process_is_refused_naming_the_directory_and_the_holders_pid(tmp_path):
    holder = start_holder(tmp_path / "run")
    try:
        assert lock_holder_pid(tmp_path / "run") == holder.pid
        with pytest.raises(RunDirError) as refused:
            DirectoryLock(tmp_path / "run").acquire()
        message = str(refused.value)
        assert message.startswith(f"{tmp_path / 'run'}: this run directory is in use by")
        assert f"(pid {holder.pid})" in message and "\n" not in message
    finally:
        holder.kill()
        holder.wait()
    with DirectoryLock(tmp_path / "run"):  # SIGKILL released it
        assert lock_holder_pid(tmp_path / "run") == os.getpid()


def test_the_lock_is_released_on_exit_and_can_be_taken_again(tmp_path):
    with DirectoryLock(tmp_path), pytest.raises(RunDirError, match="in use"):
        DirectoryLock(tmp_path).probe()  # another open file: refused, even in-process
    DirectoryLock(tmp_path).probe()
    with DirectoryLock(tmp_path, "project"):
        pass
    assert (tmp_path / LOCK_FILE).is_file()


def test_a_holder_that_wrote_no_pid_yet_is_still_refused_in_one_line(tmp_path):
    holder = start_holder(tmp_path)
    try:
        (tmp_path / LOCK_FILE).write_text("")  # the instant between flock and the PID write
        with pytest.raises(RunDirError, match=r"in use by another process; wait"):
            DirectoryLock(tmp_path).acquire()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_a_read_only_directory_is_one_line(tmp_path):
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(RunDirError, match=r"cannot lock this run directory.*writable"):
            DirectoryLock(tmp_path).acquire()
    finally:
        tmp_path.chmod(0o700)


def test_a_file_where_the_directory_should_be_is_one_line(tmp_path):
    (tmp_path / "run").write_text("")
    with pytest.raises(RunDirError, match=r"run: not a directory; choose a folder"):
        DirectoryLock(tmp_path / "run").acquire()
