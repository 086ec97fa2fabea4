"""What the Python suite shares. Run by tests/run.sh (installed package on
PYTHONPATH, as the unprivileged uid):

  - the base of every root: the default cached image (Debian bookworm
    minbase, the one image of the run, shared with the C++ suites through
    XDG_CACHE_HOME), or under COWROOT_TEST_DEBOOTSTRAP=0 a small root of
    the host's programs (tests/mkroot.sh), set as COWROOT_BASE so that
    everything taking the default image (TestCase, the fixtures fixture,
    nested pytest runs) takes it;
  - `needs_image`: a test of the Debian image's own contents, skipped
    without it.

The root fixture itself is the installed plugin's (loaded by its entry
point): this file only says which image it uses.
"""

import os
import shutil
import subprocess
import sys
import tempfile

import pytest

import cowroot

HERE = os.path.dirname(os.path.abspath(__file__))
QUICK = os.environ.get("COWROOT_TEST_DEBOOTSTRAP") == "0"

needs_image = pytest.mark.skipif(QUICK, reason="needs the Debian image (COWROOT_TEST_DEBOOTSTRAP=0)")


_made = []


def pytest_configure(config):
    if QUICK and not os.environ.get("COWROOT_BASE"):
        script = os.environ.get("COWROOT_TEST_MKROOT") or os.path.join(HERE, "..", "mkroot.sh")
        top = tempfile.mkdtemp(prefix="cowroot-python-base.")
        _made.append(top)
        base = os.path.join(top, "root")
        r = subprocess.run(["sh", script, base], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if r.returncode != 0:
            raise pytest.UsageError("tests/mkroot.sh failed: %s" % r.stdout.decode(errors="replace"))
        os.environ["COWROOT_BASE"] = base


def pytest_unconfigure(config):
    for d in _made:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def cowroot_image():
    """The plugin's root fixture takes roots of this (see above)."""
    return cowroot.Image.default()


def run_pytest(directory, *args, env=None, timeout=600):
    """A nested `python3 -m pytest` in `directory` (no conftest there):
    (status, output)."""
    e = dict(os.environ)
    e.pop("PYTEST_XDIST_WORKER", None)
    e.pop("PYTEST_XDIST_TESTRUNUID", None)
    e.update(env or {})
    r = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args], cwd=str(directory),
                       env=e, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
    return r.returncode, r.stdout.decode("utf-8", "replace")
