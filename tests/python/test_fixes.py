"""Defects an acceptance run found in the Python fixture, each as its
reproduction: what a user of the original fixture, or any Python user,
expects."""

import os
import subprocess
import sys
import textwrap

import pytest

import cowroot
from conftest import run_pytest
from test_plugin import counts, write


# ---- a NUL byte is refused, as os.* and subprocess refuse it -------------------

def test_a_nul_byte_in_a_path_is_a_value_error_and_nothing_is_done(root):
    root.makedirs("/usr/share/doc")
    with pytest.raises(ValueError, match="embedded null byte"):
        root.remove("/usr/share/\0doc")
    assert root.isdir("/usr/share/doc")
    # The predicates say False, as os.path's do (a name with a NUL is none).
    for pred in (root.exists, root.lexists, root.isdir, root.isfile, root.islink):
        assert pred("/etc/\0nothing") is False and pred("/usr/share/\0") is False
    for call in (lambda: root.put("/etc/\0x", "x"), lambda: root.mkdir("/tmp/\0d"), lambda: root.makedirs("/\0a/b"),
                 lambda: root.unlink("/etc/passwd\0"), lambda: root.symlink("/etc\0x", "/tmp/l"),
                 lambda: root.symlink("/etc", "/tmp/\0l"), lambda: root.chmod("/etc\0", 0o700),
                 lambda: root.chown("/etc\0", 0, 0), lambda: root.stat("/etc\0"), lambda: root.get("/etc/passwd\0"),
                 lambda: root.getpwnam("ro\0ot"), lambda: root.path("/\0etc"), lambda: root.touch("/tmp/\0t")):
        with pytest.raises(ValueError, match="embedded null byte"):
            call()
    assert not root.lexists("/tmp/l")


def test_a_nul_byte_in_a_program_s_arguments_or_environment_is_a_value_error(root, tmp_path):
    marker = "/tmp/ran"
    for kw in ({"argv": ["sh", "-c", "touch %s" % marker, "a\0b"]}, {"argv": ["sh\0", "-c", "touch %s" % marker]},
               {"argv": ["sh", "-c", "touch %s" % marker], "env": {"A": "x\0y"}},
               {"argv": ["sh", "-c", "touch %s" % marker], "env": {"A\0": "x"}},
               {"argv": ["sh", "-c", "touch %s" % marker], "cwd": "/tmp\0"},
               {"argv": ["sh", "-c", "touch %s" % marker], "user": "ro\0ot"},
               {"argv": ["sh", "-c", "touch %s" % marker], "binds": [str(tmp_path) + "\0:/mnt"]}):
        argv = kw.pop("argv")
        with pytest.raises(ValueError, match="embedded null byte"):
            root.run(argv, **kw)
        with pytest.raises(ValueError, match="embedded null byte"):
            root.call(argv, **kw)
    assert not root.exists(marker)
    with pytest.raises(ValueError, match="embedded null byte"):
        cowroot.Image.at(str(tmp_path) + "\0x")


# ---- a forked child never gives back its parent's root -------------------------

FORKING = textwrap.dedent("""
    import os, sys
    import cowroot

    class Refreshed(cowroot.Chroot):
        def refresh_environment(self):
            self.put("/etc/refreshed", "yes")

    c = cowroot.Chroot()
    c.put("/etc/marker", "1")
    r = Refreshed()
    for how in ("exit", "close", "with", "free"):
        pid = os.fork()
        if pid == 0:  # the child ends normally: sys.exit, atexit, finalizers
            if how == "close":
                c.close()
            elif how == "with":
                with c:
                    pass
            elif how == "free":
                del c
            sys.exit(0)
        os.waitpid(pid, 0)
        res = c.run(["cat", "/etc/marker"])
        print(how, res.status, res.stdout, res.stderr.strip())
    pid = os.fork()
    if pid == 0:
        r.close()
        sys.exit(0)  # (its atexit: the refreshed base is the parent's)
    os.waitpid(pid, 0)
    with Refreshed() as r2:
        print("refreshed", r2.get("/etc/refreshed"), r.get("/etc/refreshed"))
    c.close()
""")


def test_a_forked_child_that_exits_leaves_the_parent_s_root_alone(tmp_path):
    script = tmp_path / "forking.py"
    script.write_text(FORKING)
    r = subprocess.run([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    out = r.stdout.decode()
    assert r.returncode == 0, out
    assert out.splitlines() == ["exit 0 1 ", "close 0 1 ", "with 0 1 ", "free 0 1 ",
                                 "refreshed yes yes"], out


# ---- include= is a list: a string is a TypeError at once -----------------------

def test_include_as_a_string_is_a_type_error_naming_it(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # (nothing may be built)
    for bad in ("less", b"less"):
        with pytest.raises(TypeError, match="include"):
            cowroot.Image.get(include=bad)
    write(tmp_path, "test_inc.py", """
        import pytest

        @pytest.mark.cowroot(include="less")
        def test_it(root):
            pass
    """)
    status, out = run_pytest(tmp_path, "test_inc.py", env={"XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert status != 0 and "TypeError" in out and "include" in out and "find these debs" not in out, out
    assert not (tmp_path / "cache" / "cowroot" / "images").exists() or \
        not os.listdir(tmp_path / "cache" / "cowroot" / "images"), out


# ---- a conftest's refresh hook is its directory's, as pytest's hooks are --------

def test_a_conftest_refresh_hook_applies_to_its_own_directory_only(tmp_path):
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        write(tmp_path / d, "conftest.py", """
            def pytest_cowroot_refresh_environment(chroot):
                chroot.put("/etc/from-%s", "%s")
        """ % (d, d))
        other = "b" if d == "a" else "a"
        write(tmp_path / d, "test_%s.py" % d, """
            def test_%s(root):
                assert root.exists("/etc/from-%s")
                assert not root.exists("/etc/from-%s")
        """ % (d, d, other))
    (tmp_path / "c").mkdir()
    write(tmp_path / "c", "test_c.py", """
        def test_c(root):
            assert not root.exists("/etc/from-a") and not root.exists("/etc/from-b")
    """)
    status, out = run_pytest(tmp_path, "--import-mode=importlib")
    assert status == 0 and counts(out) == {"passed": 3}, out
    status, out = run_pytest(tmp_path)  # (both conftests are modules named conftest)
    assert status == 0 and counts(out) == {"passed": 3}, out
    status, out = run_pytest(tmp_path, "-p", "xdist", "-n", "2")
    assert status == 0 and counts(out) == {"passed": 3}, out


# ---- --cowroot-keep-failed keeps the roots of tests failing in setup or teardown --

def test_keep_failed_keeps_a_root_whose_test_failed_in_a_fixture_s_setup_or_teardown(tmp_path):
    write(tmp_path, "test_fixtures.py", """
        import pytest

        @pytest.fixture
        def installed(root):
            root.put("/etc/state", "setup")
            assert root.call(["sh", "-c", "exit 1"]) == 0, "the install failed"
            return root

        @pytest.fixture
        def checked(root):
            yield root
            root.put("/etc/state", "teardown")
            assert False, "the check after the test failed"

        @pytest.fixture
        def fine(root):
            yield root
            root.put("/etc/state", "fine")

        def test_setup_fails(installed):
            pass

        def test_teardown_fails(checked):
            checked.put("/etc/state", "call")

        def test_passes(fine):
            pass
    """)
    kept = tmp_path / "kept"
    status, out = run_pytest(tmp_path, "--cowroot-keep-failed", str(kept), "test_fixtures.py")
    assert status == 1 and counts(out) == {"passed": 2, "error": 2}, out
    names = sorted(os.listdir(kept))
    assert names == ["test_fixtures.py__test_setup_fails", "test_fixtures.py__test_setup_fails.cowroot",
                     "test_fixtures.py__test_teardown_fails", "test_fixtures.py__test_teardown_fails.cowroot"], names
    assert (kept / names[0] / "etc" / "state").read_text() == "setup"
    assert (kept / names[2] / "etc" / "state").read_text() == "teardown"
    assert "roots of failing tests kept" in out, out
    for name in names[0], names[2]:
        assert "::%s: %s\n" % (name.split("__")[1], kept / name) in out, out


# ---- a ChrootFixture under testtools keeps a failing test's root ----------------

TESTTOOLS = textwrap.dedent("""
    import testtools
    from cowroot.fixture import ChrootFixture

    class T(testtools.TestCase):
        def test_fails(self):
            c = self.useFixture(ChrootFixture())
            c.put("/etc/evidence", "fails\\n")
            self.assertEqual(1, 2)

        def test_errors_in_cleanup(self):
            c = self.useFixture(ChrootFixture())
            c.put("/etc/evidence", "cleanup\\n")
            self.addCleanup(lambda: 1 / 0)  # (runs before the fixture's)

        def test_passes(self):
            self.useFixture(ChrootFixture()).put("/etc/evidence", "passes\\n")

        def test_skips(self):
            self.useFixture(ChrootFixture())
            self.skipTest("not here")
""")


@pytest.mark.parametrize("runner", [["-m", "unittest"], ["-m", "testtools.run"], ["-m", "pytest", "-q", "-p",
                                                                                  "no:cacheprovider"]])
def test_a_chroot_fixture_under_testtools_keeps_a_failing_test_s_root(tmp_path, runner):
    pytest.importorskip("testtools")
    (tmp_path / "test_tt.py").write_text(TESTTOOLS)
    kept = tmp_path / "kept"
    env = dict(os.environ, COWROOT_KEEP_FAILED=str(kept))
    r = subprocess.run([sys.executable, *runner, "test_tt"] if "pytest" not in runner else
                       [sys.executable, *runner, "test_tt.py"], cwd=str(tmp_path), env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
    out = r.stdout.decode()
    assert r.returncode != 0, out
    names = sorted(n for n in os.listdir(kept) if not n.endswith(".cowroot"))
    assert names == ["test_tt.T.test_errors_in_cleanup", "test_tt.T.test_fails"], out
    assert (kept / names[1] / "etc" / "evidence").read_text() == "fails\n"


# ---- what a killed run left beside a directory base goes with the next use -------

def test_a_killed_run_s_clones_beside_a_directory_base_go_with_its_next_use(tmp_path):
    base = tmp_path / "base"
    (base / "etc").mkdir(parents=True)
    p = subprocess.Popen(["true"])
    p.wait()
    dead = p.pid
    stale = [".cowroot-fixture-%d-1-0123abcd" % dead, ".cowroot-fixture-%d-1-0123abcd.cowroot" % dead,
             ".cowroot-fixture-%d-3-89abcdef.cowroot-new-%d-1" % (dead, dead)]
    live = [".cowroot-fixture-%d-7-0123abcd" % os.getpid(),  # this process's: alive
            ".cowroot-fixture-1-1-0123abcd",                 # another user's process's: alive
            ".cowroot-fixture-%d" % dead, ".cowroot-fixture-%d-x-zz" % dead,  # not the pattern
            ".cowroot-fixture-%d-1-0123abcd.other" % dead, "cowroot-fixture-%d-1-0123abcd" % dead]
    for n in stale + live:
        (tmp_path / n / "usr").mkdir(parents=True)
        (tmp_path / n / "usr" / "file").write_text("x")
    target = tmp_path / "target"
    (target / "sub").mkdir(parents=True)
    (target / "sub" / "file").write_text("keep")
    link = ".cowroot-fixture-%d-2-0123abcd" % dead  # a symlink: never followed nor removed
    os.symlink(str(target), str(tmp_path / link))
    with cowroot.Chroot(str(base)) as c:
        assert c.isdir("/etc")
    left = set(os.listdir(tmp_path))
    assert not left & set(stale), left
    assert set(live) | {link, "base", "target"} <= left, left
    assert (target / "sub" / "file").read_text() == "keep"


# ---- a refresh hook that fails or is interrupted leaves no lock files -----------

@pytest.mark.parametrize("exc", [RuntimeError("deploy failed"), KeyboardInterrupt()])
def test_a_failing_or_interrupted_refresh_hook_leaves_nothing_in_the_cache(exc):
    import cowroot._refresh as refresh
    image = cowroot.Image.default()
    what = "test_fixes.failing-hook-%s-%d" % (type(exc).__name__, os.getpid())

    def hook(chroot):
        chroot.put("/etc/half", "x")
        raise exc

    with pytest.raises(cowroot.Error if isinstance(exc, Exception) else KeyboardInterrupt):
        refresh.refreshed(image, what, hook)
    base = refresh.path_of(what, image)
    area, name = os.path.split(base)
    assert [n for n in os.listdir(area) if n.startswith(name)] == []
    refresh._made.pop((what, image.path), None)


# ---- the test process's host paths do not reach programs inside ----------------

HOST_PATHS = ("TMPDIR", "TMP", "TEMP", "TEMPDIR", "OLDPWD", "XDG_RUNTIME_DIR", "XDG_CACHE_HOME", "XDG_CONFIG_HOME",
              "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CONFIG_DIRS", "XDG_DATA_DIRS", "VIRTUAL_ENV", "PYTHONPATH",
              "PYTHONHOME", "PYTHONUSERBASE", "PYTHONSTARTUP", "PYTHONPYCACHEPREFIX", "DBUS_SESSION_BUS_ADDRESS",
              "SSH_AUTH_SOCK", "MAIL")


def test_host_path_variables_do_not_reach_programs_inside(root, tmp_path, monkeypatch):
    # tox sets TMPDIR to a host directory: mktemp inside would fail on it.
    for name in HOST_PATHS:
        monkeypatch.setenv(name, str(tmp_path))
    monkeypatch.setenv("COWROOT_TEST_PLAIN", "passes")
    script = "; ".join('echo %s=${%s-unset}' % (n, n) for n in HOST_PATHS + ("COWROOT_TEST_PLAIN",))
    want = "".join("%s=unset\n" % n for n in HOST_PATHS) + "COWROOT_TEST_PLAIN=passes\n"
    assert root.run(["sh", "-c", script]).stdout == want
    assert root.run(["sh", "-c", script], user="0").stdout == want
    # env= still sets them.
    assert root.run(["sh", "-c", "echo $TMPDIR"], env={"TMPDIR": "/var/tmp"}).stdout == "/var/tmp\n"
    assert root.run(["sh", "-c", "echo $TMPDIR"], env={"TMPDIR": "/var/tmp"}, clear_env=True).stdout == "/var/tmp\n"


# ---- small things: messages, docstrings, timeout, makedirs ---------------------

def test_a_chroot_fixture_not_set_up_says_so():
    from cowroot.fixture import ChrootFixture
    f = ChrootFixture()
    with pytest.raises(AttributeError, match="not set up"):
        f.call(["true"])
    assert "call" in dir(f) and "put" in dir(f)
    with pytest.raises(AttributeError, match="no_such_helper"):
        f.no_such_helper
    with f:
        assert f.call(["sh", "-c", "true"]) == 0
    with pytest.raises(AttributeError, match="cleaned up"):
        f.call(["true"])


def test_a_missing_working_directory_is_named_as_the_working_directory(root):
    with pytest.raises(FileNotFoundError, match="^cowroot: run: working directory /srv/app: No such file or directory$"):
        root.run(["true"], cwd="/srv/app")
    with pytest.raises(NotADirectoryError, match="^cowroot: run: working directory /etc/passwd: Not a directory$"):
        root.run(["true"], cwd="/etc/passwd")


def test_users_and_groups_by_the_wrong_type_are_a_type_error(root):
    for call in (lambda: root.getpwuid("0"), lambda: root.getgrgid("0"), lambda: root.getpwnam(0),
                 lambda: root.getgrnam(0), lambda: root.getspnam(0), lambda: root.getpwuid(0.5)):
        with pytest.raises(TypeError):
            call()
    assert root.getpwuid(0).pw_name == "root"


def test_every_helper_has_a_docstring():
    names = ("exists", "lexists", "isdir", "isfile", "islink", "getpwnam", "getpwuid", "getpwall", "getgrnam",
             "getgrgid", "getgrall", "getspnam", "getspall")
    for n in names:
        assert getattr(cowroot.Chroot, n).__doc__, n
    from cowroot.testing import TestCase
    for n in ("failUnlessExists", "failIfExists", "assertExists", "assertNotExists"):
        assert getattr(TestCase, n).__doc__, n
    assert "sp_nam" in cowroot.struct_spwd.__doc__


def test_a_timeout_of_zero_or_less_is_a_value_error(root):
    for t in (0, -1, 0.0):
        with pytest.raises(ValueError, match="timeout"):
            root.run(["true"], timeout=t)
    assert root.run(["sh", "-c", "true"], timeout=None).status == 0


def test_makedirs_gives_the_mode_to_the_leaf_only(root):
    root.makedirs("/srv/a/b/c", mode=0o750)
    assert [root.stat(p).st_mode & 0o7777 for p in ("/srv/a", "/srv/a/b", "/srv/a/b/c")] == [0o755, 0o755, 0o750]
    root.makedirs("/srv/a/b/c", mode=0o700)  # there already: fine, left as it is
    assert root.stat("/srv/a/b/c").st_mode & 0o7777 == 0o750
    root.makedirs("srv/rel/x/")
    assert root.isdir("/srv/rel/x")
    root.put("/srv/file", "x")
    with pytest.raises(FileExistsError):
        root.makedirs("/srv/file")


# ---- the original's API: what a test written for it uses ------------------------

def _base_image(top, marker):
    (top / "base-image" / "etc").mkdir(parents=True)
    (top / "base-image" / "etc" / "marker").write_text(marker)
    return top


def test_the_originals_fakechroot_takes_src_path_base_image_or_base_path(tmp_path):
    src = _base_image(tmp_path / "project", "src")
    other = _base_image(tmp_path / "elsewhere", "other") / "base-image"
    with cowroot.FakeChroot(str(src)) as c:  # SRC/base-image, as the original took it
        assert c.get("/etc/marker") == "src"
    with cowroot.FakeChroot(base_path=str(other)) as c:
        assert c.get("/etc/marker") == "other"
    with cowroot.FakeChroot(str(src), str(other)) as c:
        assert c.get("/etc/marker") == "other"
    with pytest.raises(cowroot.Error, match="base-image"):
        cowroot.FakeChroot(str(tmp_path))  # no base-image there: said, not the directory itself taken
    with cowroot.FakeChroot() as c:  # no path: the default image
        assert c.image.path == cowroot.Image.default().path
    assert issubclass(cowroot.FakeChroot, cowroot.Chroot)


def test_the_originals_fakechrootfixture_takes_its_arguments_and_gives_inside_temporary_paths(tmp_path):
    # FakeChrootFixture(src_path=cwd, base_path=None), as the original's:
    # the project's SRC/base-image, or base_path; write_temporary_file gave
    # the inside path ("/tmp/NAME"), where its FakeChroot gave both.
    from cowroot import FakeChrootFixture
    src = _base_image(tmp_path / "project", "src")
    (src / "base-image" / "tmp").mkdir()
    other = _base_image(tmp_path / "elsewhere", "other") / "base-image"
    with FakeChrootFixture(str(src)) as f:
        assert f.get("/etc/marker") == "src"
        assert f.chroot_path != str(src) and not f.exists("/base-image")
        p = f.write_temporary_file("hello")
        assert isinstance(p, str) and p.startswith("/tmp/") and f.get(p) == "hello"
    with FakeChrootFixture(str(src), str(other)) as f:
        assert f.get("/etc/marker") == "other"
    with FakeChrootFixture(base_path=str(other)) as f:
        assert f.get("/etc/marker") == "other"
    with pytest.raises(cowroot.Error, match="base-image"):
        FakeChrootFixture(str(tmp_path))
    with pytest.raises(AttributeError, match="not set up"):
        FakeChrootFixture(str(src)).write_temporary_file("x")


def test_the_originals_setup_cleanup_and_call_options():
    c = cowroot.FakeChroot()
    done = []
    c.setUp()  # (the root is there already)
    c.addCleanup(done.append, 1)
    c.addCleanup(lambda: done.append(c.exists("/")))  # the root is still there for them
    assert c.call(["sh", "-c", "true"], new_save_file=True) == 0  # (the original ignored it too)
    c.cleanUp()
    assert done == [True, 1]
    with pytest.raises(cowroot.Error, match="closed"):
        c.exists("/")


def test_the_originals_names_import_from_the_package():
    from cowroot import FakeChrootError, FakeChrootFixture, TestCase
    import cowroot.fixture
    import cowroot.testing
    assert TestCase is cowroot.testing.TestCase
    assert issubclass(FakeChrootFixture, cowroot.fixture.ChrootFixture)
    assert FakeChrootError is cowroot.Error


def test_a_testcase_s_location_is_the_originals_src_path(tmp_path):
    from cowroot.testing import TestCase
    src = _base_image(tmp_path, "located")
    seen = []

    class T(TestCase):
        location = str(src)

        def test_it(self):
            seen.append(self.chroot.get("/etc/marker"))

    from test_testcase import run_tests
    result = run_tests(T)
    assert result.wasSuccessful(), result.output
    assert seen == ["located"]


def test_build_environment_is_refused_not_ignored():
    from cowroot.testing import TestCase
    from test_testcase import run_tests

    class T(TestCase):
        def build_environment(self):
            pass

        def test_it(self):
            pass

    result = run_tests(T)
    assert len(result.errors) == 1 and "build_environment" in result.errors[0][1], result.output

    class C(cowroot.FakeChroot):
        def build_environment(self):
            pass

    with pytest.raises(cowroot.Error, match="build_environment"):
        C()


# ---- every root kept for a failing test is listed at the end of the run ----------

KEEPERS = """
    import fixtures
    import cowroot.testing
    from cowroot.fixture import ChrootFixture

    def test_fixture_fails(root):
        root.put("/etc/state", "root")
        assert False

    class TestUT(cowroot.testing.TestCase):
        def test_ut_fails(self):
            self.chroot.put("/etc/state", "ut")
            self.fail("x")

    class TestFX(fixtures.TestWithFixtures):
        def test_fx_fails(self):
            self.useFixture(ChrootFixture()).put("/etc/state", "fx")
            self.fail("x")

    def test_passes(root):
        pass
"""


def kept_list(out):
    """The lines of the end-of-run list of kept roots: {test: where}."""
    if "roots of failing tests kept" not in out:
        return {}
    section = out.split("roots of failing tests kept", 1)[1].splitlines()[1:]
    lines = {}
    for line in section:
        if line.startswith("=") or ": " not in line:
            break
        test, where = line.rsplit(": ", 1)
        lines[test] = where
    return lines


def test_the_roots_kept_for_a_testcase_and_a_chroot_fixture_are_listed_too(tmp_path):
    write(tmp_path, "test_keepers.py", KEEPERS)
    kept = tmp_path / "kept"
    status, out = run_pytest(tmp_path, "--cowroot-keep-failed", str(kept), "test_keepers.py")
    assert status == 1 and counts(out) == {"failed": 3, "passed": 1}, out
    roots = sorted(n for n in os.listdir(kept) if not n.endswith(".cowroot"))
    assert len(roots) == 3, roots
    listed = kept_list(out)
    assert listed == {"test_keepers.py::test_fixture_fails": str(kept / "test_keepers.py__test_fixture_fails"),
                      "test_keepers.py::TestUT::test_ut_fails": str(kept / "test_keepers.TestUT.test_ut_fails"),
                      "test_keepers.py::TestFX::test_fx_fails": str(kept / "test_keepers.TestFX.test_fx_fails")}, out
    assert sorted((kept / n / "etc" / "state").read_text() for n in roots) == ["fx", "root", "ut"]


def test_the_roots_kept_by_xdist_workers_are_listed_by_the_controller(tmp_path):
    write(tmp_path, "test_keepers.py", KEEPERS)
    kept = tmp_path / "kept"
    status, out = run_pytest(tmp_path, "-p", "xdist", "-n", "2", "--cowroot-keep-failed", str(kept), "test_keepers.py")
    assert status == 1 and counts(out) == {"failed": 3, "passed": 1}, out
    assert sorted(kept_list(out)) == ["test_keepers.py::TestFX::test_fx_fails",
                                      "test_keepers.py::TestUT::test_ut_fails",
                                      "test_keepers.py::test_fixture_fails"], out
    assert sorted(kept_list(out).values()) == sorted(str(kept / n) for n in os.listdir(kept)
                                                     if not n.endswith(".cowroot")), out


# ---- pytest never collects inside a cowroot root under the project ---------------

def test_pytest_does_not_collect_inside_kept_roots_or_other_cowroot_trees(tmp_path):
    # A root kept inside the project (--cowroot-keep-failed=kept) holds what
    # Debian packages ship (test_*.py files) and a /dev/fd into /proc: the
    # next run, with the option or without it, collects none of it.
    write(tmp_path, "test_plant.py", """
        import os

        def test_plants(root):
            root.makedirs("/usr/lib/python3/dist-packages/shipped")
            root.put("/usr/lib/python3/dist-packages/shipped/test_shipped.py", "def test_shipped():\\n    assert 0\\n")
            root.makedirs("/srv")
            root.symlink("/proc/self/fd", "/srv/fd")
            assert not os.environ.get("PLANT_FAILS")
    """)
    status, out = run_pytest(tmp_path, "--cowroot-keep-failed=kept", env={"PLANT_FAILS": "1"})
    assert status == 1 and counts(out) == {"failed": 1}, out
    assert (tmp_path / "kept" / "test_plant.py__test_plants" / "usr" / "lib" / "python3" / "dist-packages" /
            "shipped" / "test_shipped.py").exists()
    # Other cowroot trees: a pool of roots (BASE.runs beside BASE), a
    # directory base's clone (collected when norecursedirs lets pytest go
    # into dot directories); a directory that only ends in .runs is not one.
    for d in ("pool.runs/1", "pool", ".cowroot-fixture-1-1-abcdefgh", "notes.runs"):
        (tmp_path / d).mkdir(parents=True)
    for d in ("pool.runs/1", ".cowroot-fixture-1-1-abcdefgh"):
        write(tmp_path / d, "test_inside.py", "def test_inside():\n    assert 0\n")
    write(tmp_path / "notes.runs", "test_notes.py", "def test_notes():\n    pass\n")
    write(tmp_path, "pytest.ini", "[pytest]\nnorecursedirs = nothing-to-skip\n")
    for args in ((), ("--cowroot-keep-failed=kept",)):
        status, out = run_pytest(tmp_path, *args)
        assert status == 0 and counts(out) == {"passed": 2}, out
    # (Without the plugin, pytest would go into them all.)
    status, out = run_pytest(tmp_path, "-p", "no:cowroot", "--co")
    assert status != 0 and "kept/test_plant.py__test_plants" in out, out


# ---- a new image with a name of its own needs a suite: the error says so ---------

def test_a_named_image_without_a_suite_says_to_give_suite(tmp_path, monkeypatch):
    # The suite defaults to the name (as in C++): "accpy" is no suite
    # debootstrap knows, and the error says what to pass; nothing is built.
    cache = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    with pytest.raises(cowroot.Error, match=r"^cowroot: no image accpy, and debootstrap knows no suite accpy .*"
                                            r"the suite defaults to the name: .*give suite= "):
        cowroot.Image.get(name="accpy", include=["less"])
    with pytest.raises(cowroot.Error) as e:  # (in this API's words only, not C++'s)
        cowroot.Image.get(name="accpy")
    assert "ImageOptions" not in str(e.value) and "give suite=" in str(e.value)
    write(tmp_path, "test_named.py", """
        import pytest

        @pytest.mark.cowroot(name="accpy", include=["less"])
        def test_it(root):
            pass
    """)
    status, out = run_pytest(tmp_path, "test_named.py", env={"XDG_CACHE_HOME": str(cache)})
    assert status != 0 and "no image accpy" in out and "give suite=" in out, out
    assert not (cache / "cowroot" / "images").exists() or not os.listdir(cache / "cowroot" / "images"), out


# ---- contents are str or bytes: anything else is a TypeError ---------------------

def test_contents_that_are_not_str_or_bytes_are_a_type_error_and_nothing_is_written(root):
    # bytes(5) is five NUL bytes and bytes([104, 105]) is b"hi": a file's
    # write() refuses both, and so do put (write), write_temporary_file and
    # run's input.
    for bad in (5, [104, 105], None, 1.5, {"a": 1}):
        with pytest.raises(TypeError, match=r"^put: contents must be str or bytes.*not %s$" % type(bad).__name__):
            root.put("/etc/x", bad)
        with pytest.raises(TypeError, match="put: contents"):
            root.write("/etc/x", bad)
        with pytest.raises(TypeError, match="write_temporary_file: contents"):
            root.write_temporary_file(bad)
        if bad is not None:
            with pytest.raises(TypeError, match="run: input"):
                root.run(["cat"], input=bad)
    assert not root.lexists("/etc/x")
    # str, bytes and the other bytes-like objects are taken.
    for good, want in (("hi\n", b"hi\n"), (b"h\0i", b"h\0i"), (bytearray(b"ba"), b"ba"),
                       (memoryview(b"mv"), b"mv")):
        root.put("/etc/x", good)
        assert root.read("/etc/x") == want
        assert root.run(["cat"], input=good, text=False).stdout == want


# ---- the helpers' integer arguments: anything else is a TypeError naming them ----

def test_modes_and_ids_that_are_not_integers_are_a_type_error_naming_the_helper(root):
    root.put("/etc/x", "x", chmod=0o600)
    calls = {"chmod: mode": lambda v: root.chmod("/etc/x", v),
             "put: chmod": lambda v: root.put("/etc/x", "changed", chmod=v),
             "mkdir: mode": lambda v: root.mkdir("/tmp/d", v),
             "makedirs: mode": lambda v: root.makedirs("/tmp/e/f", mode=v),
             "chown: uid": lambda v: root.chown("/etc/x", v, 0),
             "chown: gid": lambda v: root.chown("/etc/x", 0, v)}
    for what, call in calls.items():
        for bad in ("755", 1.5, b"0") if not what.startswith("chown") else (1.5, b"0", [0]):
            with pytest.raises(TypeError, match=r"^%s must be an integer.*, not %s" % (what, type(bad).__name__)):
                call(bad)
        if what != "put: chmod":  # (None: the file's mode kept)
            with pytest.raises(TypeError, match=r"^%s must be an integer.*, not NoneType" % what):
                call(None)
        # Out of the C type's range: an OverflowError, not the low bits.
        for bad in (-2, 2 ** 32 + 0o755):
            with pytest.raises(OverflowError, match="^%s " % what):
                call(bad)
    with pytest.raises(TypeError, match=r"int\('755', 8\)"):
        root.chmod("/etc/x", "755")
    # Nothing was changed, made or written.
    st = root.stat("/etc/x")
    assert (st.st_mode & 0o7777, st.st_uid, root.get("/etc/x")) == (0o600, 0, "x")
    assert not root.lexists("/tmp/d") and not root.lexists("/tmp/e")
    # Integers, and what has __index__ (as os.chmod takes), still work.
    class Mode:
        def __index__(self):
            return 0o640

    root.chmod("/etc/x", Mode())
    root.chown("/etc/x", 1, -1)
    st = root.stat("/etc/x")
    assert (st.st_mode & 0o7777, st.st_uid, st.st_gid) == (0o640, 1, 0)


def test_a_root_of_an_empty_name_is_an_error_not_the_default_image():
    for empty in ("", b""):
        with pytest.raises(cowroot.Error, match="empty name"):
            cowroot.Chroot(empty)
