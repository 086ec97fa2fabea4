"""A fixture for the ``fixtures`` package (Debian's python3-fixtures):

    class Test(fixtures.TestWithFixtures):
        def setUp(self):
            super().setUp()
            self.chroot = self.useFixture(ChrootFixture())

        def test_true(self):
            self.assertEqual(0, self.chroot.call(["true"]))
"""

import fixtures

from ._root import Chroot, Image


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
        self.addCleanup(self._release)

    def _release(self):
        self.chroot.close()
        self.chroot = None

    def __getattr__(self, name):
        chroot = self.__dict__.get("chroot")
        if chroot is None or name.startswith("_"):
            raise AttributeError(name)
        return getattr(chroot, name)


FakeChrootFixture = ChrootFixture  # the original's name
