"""refresh_environment: a base changed once per test run, before any test
takes a root of it (to deploy the code under test into the image).

The C interface has no image layers, so the refreshed base is made here:
a root of the image, the hook run in it (as a program inside would see
it: put(), call(["apt-get", ...])...), kept beside the image, sealed with
`cowroot seal`, then used as the image of the tests (Image.at). A sealed
directory pools its roots beside it (BASE.runs), as a cached image does:
a root is taken with a rename and given back reset, a few ms, not cloned
afresh (~80 ms for a Debian minbase here).

Once per run: per process, and across the processes of one pytest-xdist
run (they share PYTEST_XDIST_TESTRUNUID): the first makes it under a lock,
the others wait for it and use it. Each process holds a shared lock on it
while it lives; the last one to go removes it, and one left by a killed
run is removed by the next that looks.
"""

import atexit
import fcntl
import hashlib
import os
import shutil
import subprocess
import time

from . import _capi
from ._capi import Error

AREA = ".cowroot-refreshed"
_made = {}  # key -> Image, or the exception the hook raised
_held = []  # (area, name, use-lock descriptor, pid of the process that made it)


def run_id():
    """What one test run shares: pytest-xdist's id, else this process's."""
    x = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    return "x" + x[:16] if x else "p%d-%d" % (os.getpid(), int(_START))


_START = time.time()


def _lock(path, how):
    """An flock on path (made when missing), or None when how has LOCK_NB
    and someone else holds it. Checks the file is still the one at path
    (a remover unlinks them)."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, how)
        except BlockingIOError:
            os.close(fd)
            return None
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)


def _rmtree(path):
    """Removes a tree a seal made read-only (directories get their write
    bit back first; no symlink is followed)."""
    def again(func, p, exc):
        parent = os.path.dirname(p)
        os.chmod(parent, 0o700)
        if func is os.rmdir or func is os.unlink:
            func(p)
        else:
            raise exc[1]
    if os.path.lexists(path):
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, onerror=again)
        else:
            os.unlink(path)


def _remove(area, name):
    """Removes the refreshed base `name`, and its lock files, when nobody
    uses or builds it."""
    base = os.path.join(area, name)
    build = _lock(base + ".build.lock", fcntl.LOCK_EX | fcntl.LOCK_NB)
    if build is None:
        return
    try:
        use = _lock(base + ".use.lock", fcntl.LOCK_EX | fcntl.LOCK_NB)
        if use is None:
            return
        try:
            for p in (base + ".ready", base + ".runs", base + ".cowroot", base):
                _rmtree(p)
            os.unlink(base + ".use.lock")
        finally:
            os.close(use)
        os.unlink(base + ".build.lock")
    finally:
        os.close(build)


def _reap_stale(area, keep):
    try:
        names = os.listdir(area)
    except FileNotFoundError:
        return
    stale = {n[:-9] for n in names if n.endswith(".use.lock")} | \
        {n[:-11] for n in names if n.endswith(".build.lock")}
    for n in sorted(stale - {keep}):
        try:
            _remove(area, n)
        except OSError:
            pass


def _at_exit():
    # Registered when this module is imported (with the package), before
    # any root's finalizer: atexit runs it after them, once the roots of
    # the bases are given back. Only the bases this process made: a forked
    # child's exit leaves its parent's alone.
    for area, name, fd, pid in _held:
        if pid != os.getpid():
            continue
        os.close(fd)
        try:
            _remove(area, name)
        except OSError:
            pass
    del _held[:]


atexit.register(_at_exit)


def cowroot_bin():
    prefix = os.environ.get("COWROOT_PREFIX")
    if prefix:
        return os.path.join(prefix, "bin", "cowroot")
    _capi.lib()
    return os.path.join(os.path.dirname(os.path.dirname(_capi.library_path)), "bin", "cowroot")


def name_of(func):
    """A hook's name: its module and qualified name, and its file (two
    conftests are both modules named conftest: two hooks, two bases)."""
    code = getattr(getattr(func, "__func__", func), "__code__", None)
    where = " in %s" % os.path.abspath(code.co_filename) if code is not None else ""
    return "%s.%s%s" % (getattr(func, "__module__", "?"), getattr(func, "__qualname__", repr(func)), where)


def path_of(what, image):
    """Where this run's base refreshed by `what` from `image` is made:
    beside the image (its clones' hard links need the same file system).
    For a cached image (CACHE/images/NAME/root) that is CACHE/images, not
    NAME/, which a rebuild of the image replaces; for a directory, its
    parent, where the fixture makes that directory's clones too."""
    digest = hashlib.sha1(("%s\n%s" % (what, image.path)).encode("utf-8", "surrogateescape")).hexdigest()[:12]
    top = os.path.dirname(image.path)
    if image.name:
        top = os.path.dirname(top)
    return os.path.join(top, AREA, "%s-%s" % (run_id(), digest))


def refreshed(image, what, run, chroot_class=None):
    """The image `image` changed by run(chroot) once per test run; `what`
    names the hook (name_of)."""
    from ._root import Chroot, Image
    key = (what, image.path)
    got = _made.get(key)
    if isinstance(got, BaseException):
        raise got
    if got is not None:
        return got
    base = path_of(what, image)
    area, name = os.path.split(base)
    os.makedirs(area, exist_ok=True)
    _reap_stale(area, name)
    build = _lock(base + ".build.lock", fcntl.LOCK_EX)
    failed = False
    try:
        use = _lock(base + ".use.lock", fcntl.LOCK_SH)
        try:
            if not os.path.exists(base + ".ready"):
                _make(image, base, what, run, chroot_class or Chroot)
        except BaseException as e:
            os.close(use)
            _made[key] = e
            failed = True
            raise
    finally:
        os.close(build)
        if failed:
            # A hook that raised or was interrupted: what it made and the
            # lock files go (unless another process of the run holds them).
            try:
                _remove(area, name)
            except OSError:
                pass
    _held.append((area, name, use, os.getpid()))
    got = _made[key] = Image.at(base)
    return got


def _make(image, base, what, run, chroot_class):
    for p in (base + ".runs", base + ".cowroot", base):
        _rmtree(p)
    root = chroot_class(image, _base=True)
    try:
        try:
            run(root)
        except Exception as e:
            raise Error("cowroot: refresh_environment (%s) failed: %s: %s" % (what, type(e).__name__, e)) from e
        root.keep(base)
    finally:
        root.close()
    r = subprocess.run([cowroot_bin(), "seal", base], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode != 0:
        for p in (base + ".cowroot", base):
            _rmtree(p)
        line = r.stderr.decode("utf-8", "replace").strip().splitlines()
        raise Error("cowroot: sealing the refreshed base %s failed: %s" % (base, line[-1] if line else r.returncode))
    with open(base + ".ready", "w") as f:
        f.write(what + "\n")
