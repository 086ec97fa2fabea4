"""unittest: a TestCase whose every test gets a fresh root as self.chroot."""

import unittest

from ._root import FakeChroot, Image, original_base, refuse_build_environment


def _own_hook(obj):
    f = getattr(type(obj), "refresh_environment", None)
    return None if f is None or getattr(f, "_cowroot_default", False) else f


def failed(test):
    """Whether the unittest test case `test` has failed so far (its setUp,
    test method or tearDown raised): from its cleanups, which run after,
    by what its result was told (unittest's lists of failures and errors,
    or pytest's record of them when pytest runs the case)."""
    result = getattr(getattr(test, "_outcome", None), "result", None)
    if result is None:
        return False
    for kind in ("failures", "errors", "unexpectedSuccesses"):
        for entry in getattr(result, kind, None) or ():
            if (entry[0] if isinstance(entry, tuple) else entry) is test:
                return True
    return bool(getattr(result, "_excinfo", None))  # pytest's TestCaseFunction


def _give_back(test, chroot):
    # The chroot's own cleanups (the original's addCleanup) first, with the
    # root still there; then a failing test's root is kept under
    # COWROOT_KEEP_FAILED (or pytest's --cowroot-keep-failed), as the root
    # fixture's is.
    error = None
    try:
        chroot._run_cleanups()
    except Exception as e:
        error = e
    try:
        if error is not None or failed(test):
            chroot.keep_failed(test.id())
    finally:
        chroot.close()
    if error is not None:
        raise error


class TestCase(unittest.TestCase):
    """Each test runs with ``self.chroot``, a fresh root (a Chroot) of the
    class's image, given back reset after the test.

    Class attributes:
      image      an Image, or None for Image.default() (COWROOT_BASE,
                 COWROOT_IMAGE, else the default cached image)
      location   the original's: a directory whose base-image/ is the
                 base (when image is None); None: not used
      FakeChroot the class of self.chroot (the original's attribute),
                 called with the Image; its setUp() is called, and its
                 addCleanup functions run after the test

    Override ``refresh_environment(self, chroot)`` to change the image once
    per test run, before any test takes a root of it (to deploy the code
    under test): `chroot` is a root of the image that then becomes the base
    of every test's root (see cowroot._refresh).
    """

    image = None
    location = None
    FakeChroot = FakeChroot

    def refresh_environment(self, chroot):
        """Called once per test run on the root that becomes the base."""

    refresh_environment._cowroot_default = True

    def setUp(self):
        super().setUp()
        refuse_build_environment(type(self))
        if self.image is not None:
            image = self.image
        elif self.location is not None:
            image = original_base(self.location)
        else:
            image = Image.default()
        hook = _own_hook(self)
        if hook is not None:
            from . import _refresh
            image = _refresh.refreshed(image, _refresh.name_of(hook), self.refresh_environment)
        self.chroot = self.FakeChroot(image)
        self.addCleanup(_give_back, self, self.chroot)
        self.chroot.setUp()

    def failUnlessExists(self, path):
        """Fails the test unless `path` exists in self.chroot (symlinks
        followed), with the original's message. Also assertExists."""
        if not self.chroot.exists(path):
            self.fail("Path '%s' does not exist" % path)

    def failIfExists(self, path):
        """Fails the test when `path` exists in self.chroot (symlinks
        followed), with the original's message. Also assertNotExists."""
        if self.chroot.exists(path):
            self.fail("Path '%s' exists" % path)

    assertExists = failUnlessExists
    assertNotExists = failIfExists

    # The original's tests use unittest's old names, gone in Python 3.12.
    failUnlessEqual = unittest.TestCase.assertEqual
    failIfEqual = unittest.TestCase.assertNotEqual
    failUnless = unittest.TestCase.assertTrue
    failIf = unittest.TestCase.assertFalse
    failUnlessRaises = unittest.TestCase.assertRaises
