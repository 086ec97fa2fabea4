"""Where `make install` puts the package, and how it finds its library."""

import os
import shutil
import subprocess
import sys

import pytest

import cowroot
import cowroot._capi

PREFIX = os.environ.get("COWROOT_TEST_PREFIX")
needs_prefix = pytest.mark.skipif(not PREFIX, reason="COWROOT_TEST_PREFIX names the install (tests/run.sh sets it)")
VER = "python%d.%d" % sys.version_info[:2]


@needs_prefix
def test_the_package_is_where_the_host_python_looks_for_a_prefixs_packages():
    pkg = os.path.dirname(os.path.realpath(cowroot.__file__))
    rel = os.path.relpath(pkg, os.path.realpath(PREFIX))
    assert rel == os.path.join("lib", VER, "dist-packages", "cowroot")
    # The same under PREFIX=/usr/local is on the host python3's own path,
    # with nothing set (-I: no PYTHONPATH, no user site).
    r = subprocess.run([sys.executable, "-I", "-c", "import sys; print('\\n'.join(sys.path))"],
                       stdout=subprocess.PIPE, check=True)
    assert os.path.join("/usr/local", "lib", VER, "dist-packages") in r.stdout.decode().splitlines()


@needs_prefix
def test_the_library_is_the_installs_own():
    cowroot._capi.lib()
    assert os.path.realpath(cowroot._capi.library_path) == \
        os.path.realpath(os.path.join(PREFIX, "lib", "libcowroot-fixture.so"))


PROBE = ("import cowroot, cowroot._capi as c, cowroot._refresh as r, importlib.metadata as m; c.lib(); "
         "print(c.library_path); print(r.cowroot_bin()); "
         "print([e.value for e in m.entry_points(group='pytest11') if e.name == 'cowroot'])")


def probe(pythonpath, **env):
    e = {k: v for k, v in os.environ.items() if k not in ("COWROOT_PREFIX", "COWROOT_FIXTURE_LIBRARY")}
    e.update(PYTHONPATH=pythonpath, **env)
    return subprocess.run([sys.executable, "-c", PROBE], env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@needs_prefix
def test_a_moved_install_finds_its_own_library(tmp_path):
    moved = tmp_path / "moved"
    shutil.copytree(PREFIX, str(moved), symlinks=True)
    r = probe(str(moved / "lib" / VER / "dist-packages"))
    assert r.returncode == 0, r.stderr.decode()
    lines = r.stdout.decode().splitlines()
    assert lines == [str(moved / "lib" / "libcowroot-fixture.so"), str(moved / "bin" / "cowroot"),
                     "['cowroot.pytest_plugin']"]


@needs_prefix
def test_a_missing_library_is_one_line():
    r = probe(os.path.dirname(os.path.dirname(os.path.realpath(cowroot.__file__))),
              COWROOT_FIXTURE_LIBRARY="/nonexistent/libcowroot-fixture.so")
    assert r.returncode != 0
    last = r.stderr.decode().strip().splitlines()[-1]
    assert last == "cowroot.Error: cowroot: /nonexistent/libcowroot-fixture.so is missing " \
                   "(the install this package belongs to, or COWROOT_FIXTURE_LIBRARY)"
