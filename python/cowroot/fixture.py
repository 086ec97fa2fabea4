"""A fixture for the ``fixtures`` package (Debian's python3-fixtures):

    class Test(fixtures.TestWithFixtures):
        def setUp(self):
            super().setUp()
            self.chroot = self.useFixture(ChrootFixture())

        def test_true(self):
            self.assertEqual(0, self.chroot.call(["true"]))
"""

import sys
import unittest
import weakref

import fixtures

from ._root import Chroot, Image


def _test_in_use():
    """The unittest test case whose useFixture set this fixture up (a
    weak reference), found up the stack; None when there is none."""
    f = sys._getframe(1)
    while f is not None:
        s = f.f_locals.get("self")
        if isinstance(s, unittest.TestCase):
            return weakref.ref(s)
        f = f.f_back
    return None


class ChrootFixture(fixtures.Fixture):
    """A fresh root for the fixture's lifetime, with the Chroot's helpers
    on the fixture itself (useFixture returns it); the Chroot is
    ``.chroot``. Override ``refresh_environment(self, chroot)`` to change
    the image once per test run (as cowroot.testing.TestCase)."""

    def __init__(self, image=None, chroot_class=Chroot):
        super().__init__()
        self._image = image
        self._chroot_class = chroot_class
        self.chroot = None

    def refresh_environment(self, chroot):
        """Called once per test run on the root that becomes the base."""

    refresh_environment._cowroot_default = True

    def _setUp(self):
        image = self._image if self._image is not None else Image.default()
        hook = type(self).refresh_environment
        if not getattr(hook, "_cowroot_default", False):
            from . import _refresh
            image = _refresh.refreshed(image, _refresh.name_of(hook), self.refresh_environment)
        self.chroot = self._chroot_class(image)
        self._test = _test_in_use()
        self._saw_failure = False
        test = self._test() if self._test is not None else None
        if test is not None and hasattr(test, "addOnException"):
            # testtools.TestCase: no unittest _outcome to read; what fails
            # (setUp, the test, tearDown, a cleanup before this fixture's)
            # goes through its onException handlers first.
            me = weakref.ref(self)
            skips = tuple(c for c in (getattr(test, "skipException", None), unittest.SkipTest) if c)

            def note(exc_info):
                f = me()
                if f is not None and not issubclass(exc_info[0], skips) and \
                        exc_info[0].__name__ != "_ExpectedFailure":
                    f._saw_failure = True

            test.addOnException(note)
        self.addCleanup(self._release)

    def _release(self):
        # The root of a failing test is kept under COWROOT_KEEP_FAILED (or
        # pytest's --cowroot-keep-failed), as the root fixture's is.
        from .testing import failed
        test = self._test() if self._test is not None else None
        if test is not None and (self._saw_failure or failed(test)):
            self.chroot.keep_failed(test.id())
        self.chroot.close()
        self.chroot = None

    def __getattr__(self, name):
        # The Chroot's helpers, on the fixture.
        chroot = self.__dict__.get("chroot")
        if name.startswith("_") or not hasattr(Chroot, name) and not hasattr(chroot, name):
            raise AttributeError("%r object has no attribute %r" % (type(self).__name__, name))
        if chroot is None:
            raise AttributeError("%s.%s: the fixture has no root: it is not set up (setUp(), useFixture, with) "
                                 "or was cleaned up" % (type(self).__name__, name))
        return getattr(chroot, name)

    def __dir__(self):
        return sorted(set(super().__dir__()) | {n for n in dir(Chroot) if not n.startswith("_")})


class FakeChrootFixture(ChrootFixture):
    """The original's FakeChrootFixture(src_path, base_path): roots of
    base_path, else of SRC/base-image (the original's project layout);
    with neither, of the default cached image (the original's default
    src_path was the working directory). The base must exist (the original
    built it with debootstrap; `cowroot clone bookworm SRC/base-image`
    makes one). Its write_temporary_file gives the inside path, as the
    original fixture's did."""

    def __init__(self, src_path=None, base_path=None):
        from ._root import FakeChroot, original_base, refuse_build_environment
        refuse_build_environment(type(self))
        if isinstance(src_path, Image) and base_path is None:
            image = src_path
        elif src_path is None and base_path is None:
            image = None
        else:
            image = original_base(src_path, base_path)
        super().__init__(image, chroot_class=FakeChroot)

    def write_temporary_file(self, contents):
        """A new file under the root's /tmp (0600, root's) holding contents:
        its inside path ("/tmp/NAME")."""
        if self.chroot is None:
            raise AttributeError("%s.write_temporary_file: the fixture has no root: it is not set up (setUp(), "
                                 "useFixture, with) or was cleaned up" % type(self).__name__)
        return self.chroot.write_temporary_file(contents)[1]
