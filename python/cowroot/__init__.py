"""cowroot for Python: integration tests of system-level code in fresh
copy-on-write Debian roots, as fake root, without root or VMs.

    import cowroot
    with cowroot.Chroot() as root:            # a fresh root of the default image
        root.put("/etc/app.conf", "port=8080\\n")
        assert root.call(["sh", "-c", "grep -q 8080 /etc/app.conf"]) == 0
        assert root.stat("/etc/app.conf").st_uid == 0

The helpers are those of yaybu's fakechroot under the same names, so a
test written for it runs here by changing its imports (the differences:
docs/python.md, "Migrating from the original"):

    cowroot.TestCase, cowroot.testing.TestCase  (unittest; self.chroot)  for fakechroot's TestCase
    cowroot.FakeChrootFixture, cowroot.fixture.ChrootFixture (fixtures)  for fakechroot's FakeChrootFixture
    cowroot.FakeChroot(src_path, base_path)  (a cowroot.Chroot)          for fakechroot.FakeChroot

and pytest gets a ``root`` fixture from the plugin the install registers.
"""

from ._capi import Error
from ._root import Chroot, FakeChroot, Image, Result, struct_spwd

FakeChrootError = Error  # the original's name

__all__ = ["Chroot", "Error", "FakeChroot", "FakeChrootError", "Image", "Result", "struct_spwd"]
__version__ = "0.1"


def __getattr__(name):
    # The original's package exported these too (`from fakechroot import
    # TestCase`); imported when asked for: FakeChrootFixture needs the
    # fixtures package.
    if name == "TestCase":
        from .testing import TestCase
        return TestCase
    if name == "FakeChrootFixture":
        from .fixture import FakeChrootFixture
        return FakeChrootFixture
    raise AttributeError("module 'cowroot' has no attribute %r" % (name,))
