"""The pytest plugin, as a user gets it: nested pytest runs in a directory
with no conftest, the plugin found through the install's metadata."""

import importlib.metadata
import os
import re
import textwrap

import cowroot
from conftest import run_pytest

CLAIMING = textwrap.dedent("""
    import os

    def claim(root):
        assert root.call(["sh", "-c", "test ! -e /claimed && touch /claimed"]) == 0
        assert root.exists("/claimed")
        with open(os.environ["LOG"], "a") as f:
            f.write("%s %s\\n" % (os.environ.get("PYTEST_XDIST_WORKER", "-"), root.chroot_path))
""")


def write(directory, name, text):
    p = directory / name
    p.write_text(textwrap.dedent(text))
    return p


def counts(out):
    line = out.strip().splitlines()[-1]
    return {k: int(n) for n, k in re.findall(r"(\d+) (passed|failed|error|skipped)", line)}


def test_the_install_registers_the_plugin():
    eps = [e for e in importlib.metadata.entry_points(group="pytest11") if e.name == "cowroot"]
    assert [e.value for e in eps] == ["cowroot.pytest_plugin"]
    assert importlib.metadata.version("cowroot") == cowroot.__version__


def test_pytest_loads_the_plugin_on_its_own(tmp_path):
    write(tmp_path, "test_user.py", CLAIMING + textwrap.dedent("""
        def test_one(root):
            claim(root)
            root.put("/etc/app.conf", "port=1\\n")
            assert root.check_call(["cat", "/etc/app.conf"]) == (0, "port=1\\n", "")

        def test_two(root):
            claim(root)
    """))
    assert not list(tmp_path.glob("conftest.py"))
    env = {"LOG": str(tmp_path / "log")}
    status, out = run_pytest(tmp_path, env=env)
    assert status == 0 and counts(out) == {"passed": 2}, out
    # Without it, there is no root fixture: it came from the entry point.
    status, out = run_pytest(tmp_path, "-p", "no:cowroot", env=env)
    assert status != 0 and "fixture 'root' not found" in out, out


def test_options_and_marker_choose_the_image(tmp_path):
    for name in ("one", "two"):
        (tmp_path / name / "etc").mkdir(parents=True)
        (tmp_path / name / "etc" / "which").write_text(name)
    write(tmp_path, "test_images.py", """
        import pytest

        def test_option(root):
            assert root.get("/etc/which") == "one"

        @pytest.mark.cowroot(base=%r)
        def test_marker(root):
            assert root.get("/etc/which") == "two"
    """ % str(tmp_path / "two"))
    status, out = run_pytest(tmp_path, "--cowroot-base", str(tmp_path / "one"), "test_images.py")
    assert status == 0 and counts(out) == {"passed": 2}, out
    status, out = run_pytest(tmp_path, "--help")
    assert "--cowroot-image=NAME" in out and "--cowroot-keep-failed=DIR" in out


def test_keep_failed_keeps_the_root_of_a_failing_test(tmp_path):
    write(tmp_path, "test_fails.py", """
        import cowroot.testing

        def test_passes(root):
            root.put("/etc/state", "fine")

        def test_fails(root):
            root.put("/etc/state", "broken")
            assert root.get("/etc/state") == "fine"

        class UT(cowroot.testing.TestCase):  # a TestCase's root too
            def test_ut_fails(self):
                self.chroot.put("/etc/state", "ut")
                self.fail("x")

            def test_ut_passes(self):
                self.chroot.put("/etc/state", "fine")
    """)
    kept = tmp_path / "kept"
    status, out = run_pytest(tmp_path, "--cowroot-keep-failed", str(kept), "test_fails.py")
    assert status == 1 and counts(out) == {"failed": 2, "passed": 2}, out
    names = sorted(os.listdir(kept))  # the roots, and their sidecars: still clones (cowroot -r works on them)
    assert names == ["test_fails.UT.test_ut_fails", "test_fails.UT.test_ut_fails.cowroot", "test_fails.py__test_fails",
                     "test_fails.py__test_fails.cowroot"], names
    assert (kept / names[0] / "etc" / "state").read_text() == "ut"
    assert (kept / names[2] / "etc" / "state").read_text() == "broken"


def test_a_conftest_hook_refreshes_the_image_once(tmp_path):
    write(tmp_path, "conftest.py", """
        import os

        def pytest_cowroot_refresh_environment(chroot):
            with open(os.environ["HOOKLOG"], "a") as f:
                f.write("ran\\n")
            chroot.put("/etc/deployed", "v2")
    """)
    write(tmp_path, "test_deployed.py", """
        import pytest

        @pytest.mark.parametrize("n", range(3))
        def test_deployed(root, n):
            assert root.get("/etc/deployed") == "v2"
            assert root.call(["sh", "-c", "test ! -e /claimed && touch /claimed"]) == 0
    """)
    status, out = run_pytest(tmp_path, env={"HOOKLOG": str(tmp_path / "hooklog")})
    assert status == 0 and counts(out) == {"passed": 3}, out
    assert (tmp_path / "hooklog").read_text() == "ran\n"


def test_xdist_workers_each_get_fresh_roots_of_one_refreshed_base(tmp_path):
    methods = "".join("    def test_%d(self):\n"
                      "        self.assertEqual(self.chroot.get('/etc/deployed'), 'yes')\n"
                      "        claim(self.chroot)\n" % i for i in range(7))
    write(tmp_path, "test_parallel.py", CLAIMING + textwrap.dedent("""
        import cowroot.testing

        def test_function(root):
            claim(root)

        class TestCase(cowroot.testing.TestCase):
            def refresh_environment(self, chroot):
                with open(os.environ["HOOKLOG"], "a") as f:
                    f.write("%s\\n" % os.environ.get("PYTEST_XDIST_WORKER"))
                chroot.put("/etc/deployed", "yes")

    """) + methods)
    log, hooklog = tmp_path / "log", tmp_path / "hooklog"
    status, out = run_pytest(tmp_path, "-n", "2", "-p", "xdist", env={"LOG": str(log), "HOOKLOG": str(hooklog)})
    assert status == 0 and counts(out) == {"passed": 8}, out
    lines = [l.split() for l in log.read_text().splitlines()]
    assert len(lines) == 8
    assert {w for w, _ in lines} == {"gw0", "gw1"}  # both workers took roots
    assert len(hooklog.read_text().splitlines()) == 1  # once for the run, not once per worker


def test_an_image_build_shows_its_progress_through_pytest_capture(tmp_path):
    # The first test's image build takes minutes: its lines (the banner,
    # debootstrap's) reach the terminal as they come, not the test's
    # captured output (shown, if at all, after it failed). A mirror that
    # refuses makes the build fail at once, after its banner.
    write(tmp_path, "test_build.py", """
        import pytest
        import cowroot

        @pytest.mark.cowroot(name="unbuildable", suite="bookworm", mirror="http://127.0.0.1:9/debian")
        def test_it(root):
            pass

        def test_own():  # (a test's own Image.get too: a TestCase's image)
            cowroot.Image.get(name="unbuildable2", suite="bookworm", mirror="http://127.0.0.1:9/debian")
    """)
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "COWROOT_BASE": "", "COWROOT_IMAGE": ""}
    status, out = run_pytest(tmp_path, "test_build.py", env=env)
    assert status != 0 and counts(out) == {"error": 1, "failed": 1}, out
    assert "cowroot: building image unbuildable (debootstrap" in out, out
    assert "cowroot: building image unbuildable2 (debootstrap" in out, out
    assert "Captured stderr" not in out, out
    # What failed is the error's one line.
    assert "cannot build image unbuildable" in out, out
    # The marker's image only: the run's default one was not built for it.
    assert not os.path.exists(tmp_path / "cache" / "cowroot" / "images" / "bookworm"), out


def test_a_marker_with_positional_arguments_is_an_error(tmp_path):
    write(tmp_path, "test_mark.py", """
        import pytest

        @pytest.mark.cowroot("trixie")
        def test_it(root):
            pass
    """)
    status, out = run_pytest(tmp_path, "test_mark.py")
    assert status != 0 and "takes keywords only" in out, out
