"""The pytest plugin, registered by the install (entry point
``[pytest11] cowroot``): pytest loads it on its own, no conftest needed.

    def test_installs(root):                     # a fresh root per test
        root.put("/etc/app.conf", "port=8080\\n")
        assert root.call(["app", "--check"]) == 0

Options: --cowroot-image NAME, --cowroot-include PKGS, --cowroot-base DIR
(default: $COWROOT_BASE, $COWROOT_IMAGE, else the default cached image),
--cowroot-keep-failed DIR. A marker picks another image for a test:
``@pytest.mark.cowroot(name=..., suite=..., include=[...], base=...)``.
A conftest may define ``pytest_cowroot_refresh_environment(chroot)``: run
once per test run on the root that becomes the base of the roots of the
tests under the conftest's directory (as pytest scopes conftest hooks).
Under pytest-xdist every worker takes roots of its own.
"""

import contextlib
import os

import pytest

from . import _capi, _refresh, _root
from ._root import Chroot, Image


class _Hooks:
    @pytest.hookspec
    def pytest_cowroot_refresh_environment(self, chroot):
        """Changes the image once per test run, before any test takes a
        root of it: `chroot` is a root of the image that becomes the base."""


def pytest_addhooks(pluginmanager):
    pluginmanager.add_hookspecs(_Hooks)


def pytest_addoption(parser):
    g = parser.getgroup("cowroot", "cowroot roots (the root fixture)")
    g.addoption("--cowroot-image", metavar="NAME", help="the cached image of the roots (default: bookworm)")
    g.addoption("--cowroot-include", metavar="PKGS", help="extra packages of that image, comma-separated")
    g.addoption("--cowroot-base", metavar="DIR", help="a directory as the base instead of a cached image")
    g.addoption("--cowroot-keep-failed", metavar="DIR", help="keep the root of every failing test under DIR")


def pytest_configure(config):
    config.addinivalue_line("markers", "cowroot(name=None, suite=None, variant=None, include=(), mirror=None, "
                                       "base=None): the image of the test's root")
    # An image's build (the root fixture's, a TestCase's, a test's own
    # Image.get) is seen on the terminal as it goes, not held in the test's
    # captured output.
    capman = config.pluginmanager.getplugin("capturemanager")
    if capman is not None:
        _root._build_output = capman.global_and_fixture_disabled
    keep = config.getoption("--cowroot-keep-failed")
    if keep:
        _capi.check(_capi.lib().cowroot_set_keep_failed(os.fsencode(os.path.abspath(keep))))
    # Every root kept for a failing test is listed at the end of the run:
    # the root fixture's, a TestCase's, a ChrootFixture's (whoever called
    # Chroot.keep_failed).
    _root._on_keep_failed = _note_kept


def pytest_unconfigure(config):
    _root._build_output = contextlib.nullcontext
    if _root._on_keep_failed is _note_kept:
        _root._on_keep_failed = None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    # A failing setup (a fixture that uses the root) counts as the test's
    # failure, as a failing call does.
    if rep.when in ("setup", "call") and rep.failed:
        item._cowroot_failed = True


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    # The roots of a test that passed so far are given back after all of
    # its teardown ran, so that a fixture's failing teardown (which runs
    # before the root's own) keeps its root too.
    outcome = yield
    pending = item.__dict__.pop("_cowroot_pending", [])
    failed = outcome.excinfo is not None and not isinstance(outcome.excinfo[1], pytest.skip.Exception)
    for chroot in reversed(pending):
        try:
            if failed:
                _keep(item, chroot)
        finally:
            chroot.close()


_kept = []  # (test id, where) of this run, said again at its end
_running = []  # the node id of the test being run (its setup, call and teardown)


def _note_kept(test_name, where):
    # Named as pytest names the test that was running (a TestCase's or a
    # ChrootFixture's keep gives unittest's id), else as the keeper did.
    _kept.append((_running[-1] if _running else test_name, where))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    _running.append(item.nodeid)
    try:
        yield
    finally:
        _running.pop()


def _keep(item, chroot):
    chroot.keep_failed(item.nodeid)  # (listed by _note_kept)


# pytest-xdist: a worker's kept roots go to the controller with what the
# worker sends at its end (config.workeroutput), and the controller lists
# them with its own. (Hooks of xdist's only: optional, so that the plugin
# loads without it.)
def pytest_sessionfinish(session):
    output = getattr(session.config, "workeroutput", None)
    if output is not None:
        output["cowroot_kept"] = [[test, where] for test, where in _kept]
        del _kept[:]


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    for test, where in (getattr(node, "workeroutput", None) or {}).get("cowroot_kept", ()):
        _kept.append((test, where))


def pytest_terminal_summary(terminalreporter):
    # (The library's own line goes to the test's captured stderr, which
    # pytest shows only with a failing phase's report: not for a root
    # kept after a failing setup, whose teardown passed.)
    if _kept:
        terminalreporter.section("cowroot: roots of failing tests kept")
        for test, where in _kept:
            terminalreporter.write_line("%s: %s" % (test, where))
        del _kept[:]


def _in_cowroot(path):
    """Whether pytest's collection must not go into `path`: a cowroot root
    or what belongs to one (a kept root of --cowroot-keep-failed, a root
    or a base under the project): a whole Debian tree whose packages ship
    test_*.py files and whose /dev/fd is a symlink into /proc. A clone is a
    directory D beside its sidecar D.cowroot; a directory base's clones
    are .cowroot-fixture-*, a sealed base's or an image's pool of roots
    BASE.runs. One stat for most paths (D.cowroot), one more for a name
    that ends in .cowroot or .runs."""
    name = os.path.basename(path)
    if name.startswith(".cowroot-fixture-") or name == ".cowroot-refreshed":
        return True
    for suffix in (".cowroot", ".runs"):
        if name.endswith(suffix) and len(name) > len(suffix) and os.path.lexists(path[:-len(suffix)]):
            return True
    return os.path.isdir(path + ".cowroot")


# Not collected there, with or without --cowroot-keep-failed in this run
# (the last run's kept roots are still there). pytest 7 named the hook's
# path collection_path (a pathlib.Path); pytest 6 had only path.
if int(pytest.__version__.split(".")[0]) >= 7:
    def pytest_ignore_collect(collection_path):
        return True if _in_cowroot(str(collection_path)) else None
else:
    def pytest_ignore_collect(path):
        return True if _in_cowroot(str(path)) else None


_images = {}


def _image(options):
    key = tuple(sorted((k, tuple(v) if isinstance(v, (list, tuple)) else v) for k, v in options.items()))
    if key not in _images:
        o = dict(options)
        base = o.pop("base", None)
        if base:
            _images[key] = Image.at(base)
        elif not o:
            _images[key] = Image.default()
        else:
            _images[key] = Image.get(**o)
    return _images[key]


@pytest.fixture(scope="session")
def cowroot_image(pytestconfig):
    """The Image of the root fixture (the options say which)."""
    c = pytestconfig
    o = {}
    if c.getoption("--cowroot-base"):
        o["base"] = c.getoption("--cowroot-base")
    else:
        if c.getoption("--cowroot-image"):
            o["name"] = c.getoption("--cowroot-image")
        if c.getoption("--cowroot-include"):
            o["include"] = [p for p in c.getoption("--cowroot-include").split(",") if p]
    return _image(o)


@pytest.fixture
def root(request):
    """A fresh copy-on-write root (a cowroot.Chroot), given back reset after
    the test, or kept under --cowroot-keep-failed when the test failed (in
    its call, or in a fixture's setup or teardown)."""
    # The marker's image, or the run's (cowroot_image, which a conftest
    # may override): only the one the test uses is built.
    mark = request.node.get_closest_marker("cowroot")
    if mark is not None:
        if mark.args:
            raise pytest.UsageError("@pytest.mark.cowroot takes keywords only (name=, suite=, variant=, include=, "
                                    "mirror=, base=), not %r" % (mark.args,))
        image = _image(mark.kwargs)
    else:
        image = request.getfixturevalue("cowroot_image")
    # The hooks of the conftests of the test's own directory and those
    # above it, as pytest scopes every conftest hook (the node's ihook):
    # not those of other directories in the run.
    hook = request.node.ihook.pytest_cowroot_refresh_environment
    impls = hook.get_hookimpls()
    if impls:
        what = "+".join(_refresh.name_of(i.function) for i in impls)
        image = _refresh.refreshed(image, what, lambda c: hook(chroot=c))
    chroot = Chroot(image)
    try:
        yield chroot
    except BaseException:
        chroot.close()
        raise
    if getattr(request.node, "_cowroot_failed", False):
        try:
            _keep(request.node, chroot)
        finally:
            chroot.close()
    else:
        # Given back at the end of the test's teardown, kept when that
        # failed (pytest_runtest_teardown above).
        request.node.__dict__.setdefault("_cowroot_pending", []).append(chroot)
