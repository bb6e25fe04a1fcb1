# SPDX-License-Identifier: MIT
"""Shared fixtures for the tool tests in tests/tools.

`tools` runs the built binaries found in $MMARR_TOOLS_DIR (ctest sets it), optionally under
$MMARR_TOOL_WRAPPER (e.g. "valgrind -q --error-exitcode=99 --leak-check=full"). Sanitizer
and valgrind reports get exit codes of their own and are searched for in stderr, so they can
never pass for a tool's expected exit status 1.
"""

import os
import shlex
import subprocess

import pytest

TOOLS_DIR = os.environ.get("MMARR_TOOLS_DIR", "")
WRAPPER = shlex.split(os.environ.get("MMARR_TOOL_WRAPPER", ""))
CHECKER_EXIT = {86: "AddressSanitizer", 87: "LeakSanitizer", 88: "UBSan", 99: "valgrind"}
CHECKER_TEXT = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                "== Invalid ", "definitely lost in")


def checker_env():
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = "exitcode=86:detect_leaks=1:abort_on_error=0"
    env["LSAN_OPTIONS"] = "exitcode=87"
    env["UBSAN_OPTIONS"] = "exitcode=88:halt_on_error=1:print_stacktrace=1"
    env.pop("POSIXLY_CORRECT", None)
    return env


def arg(a):
    """Command-line argument: bytes pass through (file names need not be UTF-8)."""
    return a if isinstance(a, bytes) else str(a)


class Result:
    def __init__(self, proc_rc, out, err):
        self.rc, self.out, self.err = proc_rc, out, err

    def error_lines(self):
        """stderr lines that are not warnings."""
        return [l for l in self.err.splitlines() if l and ": warning: " not in l]


class Tools:
    def __init__(self, directory):
        self.dir = directory

    def path(self, name):
        return os.path.join(self.dir, name)

    def popen(self, name, *args, **kw):
        cmd = WRAPPER + [self.path(name)] + [arg(a) for a in args]
        return subprocess.Popen(cmd, env=checker_env(), **kw)

    def run(self, name, *args, rc=0, cwd=None, timeout=600):
        cmd = WRAPPER + [self.path(name)] + [arg(a) for a in args]
        p = subprocess.run(cmd, cwd=cwd, env=checker_env(), capture_output=True, timeout=timeout)
        r = Result(p.returncode, p.stdout.decode("utf-8", "replace"),
                   p.stderr.decode("utf-8", "replace"))
        assert p.returncode not in CHECKER_EXIT, "%s reported a problem:\n%s" % (
            CHECKER_EXIT[p.returncode], r.err)
        for marker in CHECKER_TEXT:
            assert marker not in r.err, "memory checker report:\n" + r.err
        if rc is not None:
            assert p.returncode == rc, "%s exited %d, expected %d\nstdout: %s\nstderr: %s" % (
                " ".join(map(repr, cmd)), p.returncode, rc, r.out, r.err)
        return r


@pytest.fixture(scope="session")
def tools():
    if not TOOLS_DIR:
        pytest.fail("set MMARR_TOOLS_DIR to the directory of the built tools (ctest does)")
    for name in ("mmarr-pack", "mmarr-unpack"):
        if not os.access(os.path.join(TOOLS_DIR, name), os.X_OK):
            pytest.fail("%s not found in MMARR_TOOLS_DIR=%s" % (name, TOOLS_DIR))
    return Tools(TOOLS_DIR)
