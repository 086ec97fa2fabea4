"""cowroot.testing.TestCase (unittest), the fixtures fixture and
refresh_environment, each run as a user's suite would run them."""

import io
import os
import subprocess
import sys
import textwrap
import unittest

import fixtures
import pytest

import cowroot
import cowroot._refresh
import cowroot.fixture
import cowroot.testing
import cowroot.unittest2


def run_tests(*classes):
    """Runs the classes' tests with unittest's own runner: the result."""
    suite = unittest.TestSuite(unittest.defaultTestLoader.loadTestsFromTestCase(c) for c in classes)
    out = io.StringIO()
    result = unittest.TextTestRunner(stream=out, verbosity=2).run(suite)
    result.output = out.getvalue()
    return result


CLAIM = "test ! -e /claimed && touch /claimed"


# ---- TestCase ----------------------------------------------------------------

class TestEachTestGetsAFreshRoot(cowroot.testing.TestCase):
    """Collected by pytest as any unittest.TestCase is: each test claims
    /claimed, which only a fresh root lets it do."""

    def claim(self):
        self.failIfExists("/claimed")
        self.assertEqual(self.chroot.call(["sh", "-c", CLAIM]), 0)
        self.failUnlessExists("/claimed")

    def test_a(self):
        self.claim()

    def test_b(self):
        self.claim()

    def test_c(self):
        self.claim()


def test_testcase_gives_each_test_a_root_and_gives_it_back():
    seen = []

    class T(cowroot.testing.TestCase):
        def test_one(self):
            seen.append(self.chroot)
            self.assertIsInstance(self.chroot, cowroot.Chroot)
            self.assertTrue(os.path.isdir(self.chroot.chroot_path))
            self.assertEqual(self.chroot.call(["sh", "-c", CLAIM]), 0)

        test_two = test_one

    result = run_tests(T)
    assert result.wasSuccessful(), result.output
    assert len(seen) == 2 and seen[0] is not seen[1]
    for c in seen:  # given back after its test
        with pytest.raises(cowroot.Error, match="closed"):
            c.exists("/")


def test_fail_helpers_fail_with_the_originals_messages():
    class T(cowroot.testing.TestCase):
        def test_missing(self):
            self.failUnlessExists("/nope")

        def test_there(self):
            self.failIfExists("/etc")

        def test_fine(self):
            self.failUnlessExists("/etc")
            self.failIfExists("/nope")

    result = run_tests(T)
    assert result.testsRun == 3 and len(result.failures) == 2 and not result.errors
    messages = {f[0].id().rsplit(".", 1)[1]: f[1] for f in result.failures}
    assert "AssertionError: Path '/nope' does not exist" in messages["test_missing"]
    assert "AssertionError: Path '/etc' exists" in messages["test_there"]


def test_the_originals_readme_example_runs():
    class TestInAChroot(cowroot.unittest2.TestCase):
        def test_true(self):
            retval = self.chroot.call(["sh", "-c", "true"])
            self.failUnlessEqual(retval, 0)
            self.failIf(retval)
            self.failUnlessRaises(ZeroDivisionError, lambda: 1 / 0)

        def test_false(self):
            self.failUnlessEqual(self.chroot.call(["sh", "-c", "false"]), 0)

    result = run_tests(TestInAChroot)
    assert result.testsRun == 2 and len(result.failures) == 1 and not result.errors, result.output
    assert "AssertionError: 1 != 0" in result.failures[0][1]


def test_the_originals_module_name_is_the_same_testcase():
    assert cowroot.unittest2.TestCase is cowroot.testing.TestCase
    assert issubclass(cowroot.FakeChroot, cowroot.Chroot)
    assert issubclass(cowroot.fixture.FakeChrootFixture, cowroot.fixture.ChrootFixture)


# ---- refresh_environment ---------------------------------------------------------

def check_deployed(test):
    c = test.chroot
    test.assertEqual(c.get("/opt/app"), "v1\n")
    test.assertEqual(c.check_call(["sh", "-c", "stat -c '%a %u %g' /opt/app; cat /etc/refreshed"])[1],
                     "755 33 34\nran\n")
    test.assertEqual(c.call(["sh", "-c", CLAIM]), 0)  # still a fresh root per test
    # The base's files are sealed; writing one in a root is the root's own.
    test.assertEqual(c.call(["sh", "-c", "echo changed >> /opt/app"]), 0)
    c.put("/etc/refreshed", "mine\n")
    test.assertEqual(c.get("/opt/app"), "v1\nchanged\n")
    test.assertEqual(open(os.path.join(c.image.path, "opt/app")).read(), "v1\n")
    test.assertEqual(open(os.path.join(c.image.path, "etc/refreshed")).read(), "ran\n")


def test_refresh_environment_runs_once_on_the_base_before_any_test():
    calls = []

    class Deployed(cowroot.testing.TestCase):
        def refresh_environment(self, chroot):
            calls.append(chroot.chroot_path)
            chroot.put("/opt/app", "v1\n", chmod=0o755) if chroot.isdir("/opt") else \
                (chroot.mkdir("/opt"), chroot.put("/opt/app", "v1\n", chmod=0o755))
            chroot.chown("/opt/app", 33, 34)
            assert chroot.call(["sh", "-c", "echo ran > /etc/refreshed"]) == 0

        def test_one(self):
            check_deployed(self)

        test_two = test_one

    class More(Deployed):  # the same hook: the same refreshed base
        def test_three(self):
            check_deployed(self)
            seen.append((self.chroot.image.path, self.chroot.chroot_path))

    seen = []
    result = run_tests(Deployed, More)
    assert result.wasSuccessful(), result.output
    assert len(calls) == 1
    base, root = seen[0]
    assert os.path.dirname(base).endswith("/" + cowroot._refresh.AREA)
    assert root.startswith(base + ".runs/run-")  # pooled beside the sealed base, not cloned afresh
    # The image itself is untouched; the refreshed base is sealed.
    assert not os.path.exists(os.path.join(cowroot.Image.default().path, "etc/refreshed"))
    r = subprocess.run([cowroot._refresh.cowroot_bin(), "verify", base], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT)
    assert r.returncode == 0, r.stdout
    assert not os.stat(os.path.join(base, "opt/app")).st_mode & 0o222


def test_a_failing_refresh_environment_fails_every_test_and_runs_once():
    calls = []

    class Broken(cowroot.testing.TestCase):
        def refresh_environment(self, chroot):
            calls.append(1)
            chroot.put("/half-made", "x")
            raise RuntimeError("boom")

        def test_one(self):
            pass

        test_two = test_one

    result = run_tests(Broken)
    assert len(result.errors) == 2 and len(calls) == 1
    what = "test_testcase.test_a_failing_refresh_environment_fails_every_test_and_runs_once.<locals>.Broken" \
           ".refresh_environment in %s" % os.path.abspath(__file__)
    assert "refresh_environment (%s) failed: RuntimeError: boom" % what in result.errors[1][1]
    base = cowroot._refresh.path_of(what, cowroot.Image.default())
    for p in (base, base + ".cowroot", base + ".ready"):  # nothing half-made is left to be used
        assert not os.path.lexists(p)


def test_the_originals_fakechroot_subclass_hook():
    calls = []

    class MyChroot(cowroot.FakeChroot):
        def refresh_environment(self):
            calls.append(1)
            self.put("/etc/from-chroot-hook", "yes")

    class T(cowroot.testing.TestCase):
        FakeChroot = MyChroot

        def test_one(self):
            self.assertIsInstance(self.chroot, MyChroot)
            self.assertEqual(self.chroot.get("/etc/from-chroot-hook"), "yes")

        test_two = test_one

    result = run_tests(T)
    assert result.wasSuccessful(), result.output
    assert calls == [1]


SCRIPT = textwrap.dedent("""
    import os, sys, cowroot, cowroot._refresh
    class C(cowroot.Chroot):
        def refresh_environment(self):
            self.put("/etc/r", "r")
    c = C()
    assert c.get("/etc/r") == "r"
    print(cowroot._refresh.run_id())
    print(os.path.dirname(c.image.path))
    sys.stdout.flush()
    c.close()
    if sys.argv[1] == "crash":
        os._exit(0)  # no atexit: as if killed
""")


def test_the_refreshed_base_goes_with_the_run_and_a_killed_runs_is_reaped(tmp_path):
    script = tmp_path / "s.py"
    script.write_text(SCRIPT)

    def run(how):
        r = subprocess.run([sys.executable, str(script), how], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert r.returncode == 0, r.stderr.decode()
        return r.stdout.decode().split("\n")[:2]

    def mine(area, rid):
        return [n for n in os.listdir(area) if n.startswith(rid + "-")]

    rid, area = run("exit")
    assert mine(area, rid) == []  # removed at exit
    rid, area = run("crash")
    # base, base.cowroot, base.runs (its pool, holding the root given back), .ready and the two locks
    assert sorted(n[len(rid) + 1:].split(".", 1)[-1] for n in mine(area, rid) if "." in n) == \
        ["build.lock", "cowroot", "ready", "runs", "use.lock"]
    assert len(mine(area, rid)) == 6
    run("exit")  # the next run reaps what the killed one left
    assert mine(area, rid) == []


# ---- the fixtures fixture ------------------------------------------------------------

def test_fixtures_fixture_has_the_helpers_and_gives_the_root_back():
    kept = []

    class T(fixtures.TestWithFixtures):
        def setUp(self):
            super().setUp()
            self.chroot = self.useFixture(cowroot.fixture.ChrootFixture())
            kept.append(self.chroot)

        def test_one(self):
            self.assertEqual(0, self.chroot.call(["sh", "-c", CLAIM]))
            self.assertEqual(self.chroot.check_call(["sh", "-c", "exit 4"])[0], 4)
            self.chroot.put("/etc/x", "x")
            self.assertTrue(self.chroot.exists("/etc/x"))
            self.assertIsInstance(self.chroot.chroot, cowroot.Chroot)

        test_two = test_one

    result = run_tests(T)
    assert result.wasSuccessful(), result.output
    assert all(f.chroot is None for f in kept)
    with pytest.raises(AttributeError):
        kept[0].exists


def test_fixtures_fixture_as_a_context_manager_and_its_hook():
    calls = []

    class Deploying(cowroot.fixture.ChrootFixture):
        def refresh_environment(self, chroot):
            calls.append(1)
            chroot.put("/etc/deployed", "1")

    with Deploying() as fx:
        assert fx.get("/etc/deployed") == "1"
        assert fx.call(["sh", "-c", CLAIM]) == 0
    with Deploying() as fx:
        assert fx.call(["sh", "-c", CLAIM]) == 0
    assert calls == [1]


def test_a_failing_tests_root_is_kept_under_COWROOT_KEEP_FAILED(tmp_path, monkeypatch):
    # As the root fixture's: TestCase's and the fixtures fixture's roots of
    # failing tests, and only those, are kept (named after the test's id).
    kept = tmp_path / "kept"
    # (COWROOT_KEEP_FAILED is read once per process: set as pytest's
    # --cowroot-keep-failed sets it.)
    lib = cowroot._capi.lib()
    lib.cowroot_set_keep_failed(os.fsencode(kept))
    request_reset = os.fsencode(os.environ.get("COWROOT_KEEP_FAILED", ""))

    class UT(cowroot.testing.TestCase):
        def test_fails(self):
            self.chroot.put("/etc/state", "ut")
            self.fail("x")

        def test_passes(self):
            self.chroot.put("/etc/state", "fine")

    class FX(fixtures.TestWithFixtures):
        def setUp(self):
            super().setUp()
            self.chroot = self.useFixture(cowroot.fixture.ChrootFixture())

        def test_fails(self):
            self.chroot.put("/etc/state", "fx")
            self.fail("x")

        def test_passes(self):
            self.chroot.put("/etc/state", "fine")

    try:
        result = run_tests(UT, FX)
    finally:
        lib.cowroot_set_keep_failed(request_reset)
        # (This pytest run's plugin was told of them, as of any kept root:
        # taken off its end-of-run list, they are this test's own, removed
        # with tmp_path.)
        import cowroot.pytest_plugin as plugin
        told = [e for e in plugin._kept if e[1].startswith(str(kept) + os.sep)]
        plugin._kept[:] = [e for e in plugin._kept if e not in told]
    assert len(told) == 2, told
    assert len(result.failures) == 2 and not result.errors, result.output
    roots = sorted(n for n in os.listdir(kept) if not n.endswith(".cowroot"))
    assert len(roots) == 2 and all(n.endswith("test_fails") for n in roots), roots
    assert sorted((kept / n / "etc" / "state").read_text() for n in roots) == ["fx", "ut"]
