"""cowroot for Python: integration tests of system-level code in fresh
copy-on-write Debian roots, as fake root, without root or VMs.

    import cowroot
    with cowroot.Chroot() as root:            # a fresh root of the default image
        root.put("/etc/app.conf", "port=8080\\n")
        assert root.call(["sh", "-c", "grep -q 8080 /etc/app.conf"]) == 0
        assert root.stat("/etc/app.conf").st_uid == 0

The helpers are those of yaybu's fakechroot under the same names, so a
test written for it runs here by changing its imports:

    cowroot.testing.TestCase   (unittest; self.chroot)   for fakechroot.unittest2.TestCase
    cowroot.fixture.ChrootFixture  (the fixtures package)  for fakechroot's FakeChrootFixture
    cowroot.Chroot / cowroot.FakeChroot                     for fakechroot.FakeChroot

and pytest gets a ``root`` fixture from the plugin the install registers.
"""

from ._capi import Error
from ._root import Chroot, FakeChroot, Image, Result, struct_spwd

__all__ = ["Chroot", "Error", "FakeChroot", "Image", "Result", "struct_spwd"]
__version__ = "0.1"
