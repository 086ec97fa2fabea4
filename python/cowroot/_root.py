"""Images and roots: the fixture's objects, over the C interface."""

import collections
import contextlib
import ctypes
import sys
import threading
import grp
import io
import operator
import os
import posixpath
import pwd
import weakref

from . import _capi
from . import _refresh  # (now: its exit handler must run after the roots' finalizers)
from ._capi import Error

Result = collections.namedtuple("Result", ("status", "stdout", "stderr", "timed_out"))
Result.__doc__ = """What a program run inside did: exit status (128+N for signal N,
124 when timed out), its output and error output, and whether the timeout
ran out."""

# The original's spwd struct (its field names), with the spwd module's
# names as well; numbers are ints, -1 where the field is empty.
_SPWD_FIELDS = ("sp_nam", "sp_pwd", "sp_lastchg", "sp_min", "sp_max", "sp_warn", "sp_inact", "sp_expire",
                "sp_flag")


class struct_spwd(collections.namedtuple("struct_spwd", _SPWD_FIELDS)):
    """An entry of the root's /etc/shadow, with the original fixture's
    field names (sp_nam, sp_pwd, sp_lastchg, sp_min, sp_max, sp_warn,
    sp_inact, sp_expire, sp_flag) and the spwd module's (sp_namp, sp_pwdp,
    sp_lstchg). Numbers are ints, -1 where the field is empty."""

    __slots__ = ()
    sp_namp = property(lambda self: self.sp_nam)
    sp_pwdp = property(lambda self: self.sp_pwd)
    sp_lstchg = property(lambda self: self.sp_lastchg)


def _interruptibly(call):
    """call() (a C call that returns a handle, NULL on failure) in a thread
    of its own while this one waits, so that a KeyboardInterrupt (or any
    signal handler's exception) is raised here at once: a first image build
    takes minutes. The build goes on in its own process while this one
    lives (it is shared and locked: the next user takes it finished, or
    waits for it); it stops, leaving nothing, when this process ends."""
    got = []

    def work():
        h = call()
        got.append(h if h else _capi.error(_capi.lib().cowroot_last_error().decode("utf-8", "surrogateescape")))

    t = threading.Thread(target=work, name="cowroot image", daemon=True)
    t.start()
    t.join()
    if isinstance(got[0], BaseException):
        raise got[0]
    return got[0]


def _run_interruptibly(lib, root, av, n, o, r):
    """cowroot_run in a thread of its own while this one waits, so that a
    KeyboardInterrupt (or pytest-timeout's SIGALRM, any handler's
    exception) is raised here at once, as subprocess.run's is: the program
    and what it started are killed first (the cancel pipe), then the
    exception goes on."""
    rfd, wfd = os.pipe2(os.O_CLOEXEC)
    failed = []

    def work():
        if lib.cowroot_run_cancellable(root, av, n, ctypes.byref(o), rfd, ctypes.byref(r)) < 0:
            failed.append(_capi.error(lib.cowroot_last_error().decode("utf-8", "surrogateescape")))

    t = threading.Thread(target=work, name="cowroot run", daemon=True)
    done = False
    try:
        t.start()
        try:
            t.join()
        except BaseException:
            os.write(wfd, b"x")
            t.join()  # the launcher kills it all and ends: a moment
            raise
        done = True
    finally:
        # (Interrupted again while the run ends: its descriptors stay open.)
        if done or not t.is_alive():
            os.close(rfd)
            os.close(wfd)
    if failed:
        raise failed[0]


def _int_or(s, empty=-1):
    return int(s) if s else empty


def _passwd(line):
    f = line.split(":")
    return pwd.struct_passwd((f[0], f[1], int(f[2]), int(f[3]), f[4], f[5], f[6]))


def _group(line):
    f = line.split(":")
    return grp.struct_group((f[0], f[1], int(f[2]), f[3].split(",") if f[3] else []))


def _spwd(line):
    f = line.split(":")
    return struct_spwd(f[0], f[1], *[_int_or(x) for x in f[2:8]], _int_or(f[8]))


def _text(b):
    return b.decode("utf-8", "surrogateescape")


def _data(helper, name, value):
    """A str (as UTF-8) or a bytes-like object (bytes, bytearray,
    memoryview) as bytes; anything else is a TypeError, as a file's
    write() raises (bytes() of it would take 5 for five NUL bytes and a
    list of ints for their bytes)."""
    if isinstance(value, str):
        return value.encode()
    try:
        return bytes(memoryview(value))
    except TypeError:
        raise TypeError("%s: %s must be str or bytes (or bytearray, memoryview), not %s"
                        % (helper, name, type(value).__name__)) from None


def _number(helper, name, value, low=0, high=0xFFFFFFFF, kind="an integer"):
    """An integer argument (an int, or what has __index__, as os.chmod
    takes): anything else (a str, a float) is a TypeError naming the helper
    and the argument, as os.chmod's, rather than ctypes' ArgumentError or
    int()'s reading of "755" as decimal; out of the C type's range an
    OverflowError, rather than a number silently cut to its low bits."""
    try:
        n = operator.index(value)
    except TypeError:
        hint = " (an octal mode is 0o%s, or int(%r, 8))" % (value, value) \
            if isinstance(value, str) and name in ("mode", "chmod") and value.isdigit() else ""
        raise TypeError("%s: %s must be %s, not %s%s" % (helper, name, kind, type(value).__name__, hint)) from None
    if not low <= n <= high:
        raise OverflowError("%s: %s %d is out of range (%d to %d)" % (helper, name, n, low, high))
    return n


def _stat_result(st):
    ns = lambda s, n: s * 1000000000 + n  # noqa: E731
    return os.stat_result(
        (st.mode, st.ino, st.dev, st.nlink, st.uid, st.gid, st.size, st.atime_sec, st.mtime_sec, st.ctime_sec),
        {"st_atime": st.atime_sec + st.atime_nsec / 1e9, "st_mtime": st.mtime_sec + st.mtime_nsec / 1e9,
         "st_ctime": st.ctime_sec + st.ctime_nsec / 1e9, "st_atime_ns": ns(st.atime_sec, st.atime_nsec),
         "st_mtime_ns": ns(st.mtime_sec, st.mtime_nsec), "st_ctime_ns": ns(st.ctime_sec, st.ctime_nsec),
         "st_blksize": st.blksize, "st_blocks": st.blocks, "st_rdev": st.rdev})


# What an image's build (minutes, the first time) runs in: the pytest plugin
# makes it a context where pytest's capture is suspended, so that its
# progress reaches the terminal as it goes.
_build_output = contextlib.nullcontext

# Told of every root kept for a failing test (Chroot.keep_failed, whoever
# calls it: the root fixture, a TestCase, a ChrootFixture, a test's own
# code), as on_keep_failed(test_name, where): the pytest plugin lists them
# at the end of the run.
_on_keep_failed = None


class Image:
    """A base for roots: a cached image (built on first use) or any directory."""

    def __init__(self, handle):
        self._h = handle
        lib = _capi.lib()
        self.path = os.fsdecode(lib.cowroot_image_path(handle))  # host path of the base
        self.name = os.fsdecode(lib.cowroot_image_name(handle))  # the cache's name; "" for Image.at
        weakref.finalize(self, lib.cowroot_image_free, handle)

    @classmethod
    def get(cls, name=None, suite=None, variant=None, include=(), mirror=None):
        """The cached image with these options (Debian bookworm minbase by
        default), built once by debootstrap under cowroot and shared with
        `cowroot run`; its identity is all its options. The suite defaults
        to the name, else bookworm (as the C++ ImageOptions::suite): a new
        image with a name of its own, name="app", include=[...], needs
        suite= too."""
        if isinstance(include, (str, bytes, os.PathLike)):
            raise TypeError("cowroot: Image.get: include is a list of package names, not a string (%r): "
                            "include=[%r]" % (include, include))
        lib = _capi.lib()
        inc, n = _capi.strings(include)
        opt = lambda s: _capi.fs(s) if s else None  # noqa: E731
        try:
            with _build_output():
                h = _interruptibly(lambda: lib.cowroot_image_get(opt(name), opt(suite), opt(variant), inc, n,
                                                                 opt(mirror)))
        except Error as e:
            # The name was taken for the suite (its default): say what to
            # give, in this API's words (the line is the command's).
            missing = name and not suite and \
                e.message.startswith("cowroot: no image %s, and debootstrap knows no suite " % os.fsdecode(name))
            if missing:
                # (The C++ layer's words for it, ImageOptions::suite, are
                # replaced by this API's.)
                line = e.message.split("; the suite defaults to the name", 1)[0]
                raise _capi.error("%s; the suite defaults to the name: to build image %s, give suite= (the Debian "
                                  "or Ubuntu release to build it from, e.g. suite=\"bookworm\")"
                                  % (line, os.fsdecode(name))) from None
            raise
        return cls(h)

    @classmethod
    def at(cls, directory):
        """Any directory as the base (its roots are full clones, not pooled)."""
        lib = _capi.lib()
        h = lib.cowroot_image_at(_capi.fs(directory))
        if not h:
            _capi.fail()
        return cls(h)

    @classmethod
    def default(cls):
        """``COWROOT_BASE`` (a directory) or ``COWROOT_IMAGE`` (a cached
        image's name) when set, else the default cached image."""
        base, name = os.environ.get("COWROOT_BASE"), os.environ.get("COWROOT_IMAGE")
        if base:
            return cls.at(base)
        return cls.get(name=name or None)

    def __repr__(self):
        return "<cowroot.Image %s>" % (self.name or self.path)


class _WriteBack(io.BytesIO):
    """A file being written: its bytes go into the root, through the
    pipeline, when it is closed."""

    def __init__(self, root, path, initial, at_end):
        super().__init__(initial)
        if at_end:
            self.seek(0, io.SEEK_END)
        self._root, self._path, self.name = root, path, path

    def close(self):
        if not self.closed:
            data = self.getvalue()
            super().close()
            self._root.put(self._path, data)


def _hooked(cls):
    """The subclass's own refresh_environment, when it has one."""
    f = getattr(cls, "refresh_environment", None)
    return None if f is None or getattr(f, "_cowroot_default", False) else f


def refuse_build_environment(cls):
    """A class that overrides the original's build_environment (which built
    the base image with debootstrap when it was missing): an Error, rather
    than a hook that is silently never called."""
    f = getattr(cls, "build_environment", None)
    if f is not None and not getattr(f, "_cowroot_default", False):
        raise Error("cowroot: %s.build_environment is never called: cowroot builds no base image in the "
                    "project directory (the original's debootstrap); use a cached image (Image.get(suite=, "
                    "include=[...]), a layer) or refresh_environment instead, and remove it" % cls.__name__)


def original_base(src_path, base_path=None):
    """The original fixture's base image: base_path, else SRC/base-image."""
    path = os.fsdecode(_capi.fs(base_path)) if base_path is not None else \
        os.path.join(os.path.realpath(os.fsdecode(_capi.fs(src_path))), "base-image")
    if not os.path.isdir(path):
        raise Error("cowroot: %s: no base image there (the original fixture's FakeChroot(src_path) took "
                    "SRC/base-image, or base_path=, and built it with debootstrap when missing; cowroot does not: "
                    "make it once with `cowroot clone bookworm %s`, or give no path for the cached image)"
                    % (path, path))
    return Image.at(path)


def _give_back(lib, handle, owner):
    """The root given back (reset, or removed), in the process that made it;
    in another (a forked child) nothing is done."""
    if os.getpid() == owner:
        lib.cowroot_root_free(handle)


class Chroot:
    """A fresh copy-on-write root of an image, with the helpers of the
    original fixture (yaybu's fakechroot). Every path is an inside path; a
    relative one is relative to the root's /. Everything that changes the
    root goes through the same pipeline as a program inside (copy-on-write,
    fake owners and modes, journaled for the reset).

    ``Chroot()`` takes a root of ``Image.default()``; close() (or leaving a
    ``with`` block, or the object going away) gives it back to the pool,
    reset. A subclass that defines ``refresh_environment(self)`` gets roots
    of a base made from the image once per test run by that method (see
    cowroot._refresh).
    """

    def __init__(self, image=None, _base=False):
        refuse_build_environment(type(self))
        if image is None:
            image = Image.default()
        elif isinstance(image, (str, bytes, os.PathLike)):
            # The original's FakeChroot(src_path): a directory as the base,
            # else the cached image of that name.
            if not os.fspath(image):
                raise Error("cowroot: a root of an empty name: give an image's name or a directory (or nothing, "
                            "for the default image)")
            image = Image.at(image) if os.path.isdir(image) else Image.get(name=os.fsdecode(image))
        elif not isinstance(image, Image):
            raise TypeError("cowroot: a root is made of an Image, a directory or an image's name, not %r" % (image,))
        if not _base and _hooked(type(self)):
            from . import _refresh
            image = _refresh.refreshed(image, _refresh.name_of(_hooked(type(self))),
                                       lambda c: c.refresh_environment(), chroot_class=type(self))
        self.image = image
        lib = _capi.lib()
        self._h = lib.cowroot_root_new(image._h)
        if not self._h:
            _capi.fail()
        # Given back when closed, when the object goes, or at the latest
        # when the interpreter exits (before the modules are torn down):
        # by this process only, which owns it. A child forked from it (that
        # ends normally, closes it or drops it) lets go of its copy of the
        # handle and leaves the root to its parent.
        self._free = weakref.finalize(self, _give_back, lib, self._h, os.getpid())
        # The original's name for the root's host path.
        self.chroot_path = os.fsdecode(lib.cowroot_root_path(self._h))

    def refresh_environment(self):
        """Override to change the base once per test run (the root this is
        called on becomes the base of every root of this class)."""

    refresh_environment._cowroot_default = True

    def build_environment(self):
        """The original's hook that built its base image (debootstrap) when
        missing: never called here; a subclass that overrides it is an
        Error (a cached image or a layer takes its place)."""

    build_environment._cowroot_default = True

    # ---- lifetime --------------------------------------------------------

    def setUp(self):
        """The original's second step (its constructor only named paths,
        setUp cloned the base): here the root is made by the constructor,
        so this does nothing; kept for code that calls it, or a subclass
        that overrides it (TestCase calls it, as the original's did)."""

    def addCleanup(self, function, *args, **kwargs):
        """As the original's: function(*args, **kwargs) is called by
        cleanUp(), the last added first, before the root is given back."""
        self.__dict__.setdefault("_cleanups", []).append((function, args, kwargs))

    def _run_cleanups(self):
        # Every cleanup runs; the first exception is raised after them all
        # (the original dropped them).
        cleanups, first = self.__dict__.get("_cleanups") or [], None
        while cleanups:
            function, args, kwargs = cleanups.pop()
            try:
                function(*args, **kwargs)
            except Exception as e:
                first = first or e
        if first is not None:
            raise first

    def cleanUp(self):
        """The original's end of a root: the addCleanup functions run, then
        the root is given back (close())."""
        try:
            self._run_cleanups()
        finally:
            self.close()

    def close(self):
        """Gives the root back (reset, what runs in it stopped), unless kept.
        In a child forked from the process that made the root, only this
        copy of the object is closed: the root stays its parent's."""
        self._h = None
        free = getattr(self, "_free", None)
        if free is not None:
            free()

    destroy = close  # the original's name

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _root(self):
        if not self._h:
            raise Error("cowroot: this root was closed")
        return self._h

    def keep(self, directory):
        """Keeps the root at the host directory `directory` instead of
        resetting it (a clone: `cowroot -r DIR` works on it)."""
        _capi.check(_capi.lib().cowroot_keep(self._root(), _capi.fs(directory)))
        self.chroot_path = os.fsdecode(_capi.lib().cowroot_root_path(self._h))

    def keep_failed(self, test_name):
        """Keeps the root under $COWROOT_KEEP_FAILED (when set), named after
        the test; returns where, or None."""
        where = ctypes.c_void_p()
        rc = _capi.check(_capi.lib().cowroot_keep_failed(self._root(), _capi.fs(test_name), ctypes.byref(where)))
        if rc == 1:
            self.chroot_path = os.fsdecode(_capi.lib().cowroot_root_path(self._h))
            where = os.fsdecode(_capi.take(where.value))
            if _on_keep_failed is not None:
                _on_keep_failed(os.fsdecode(test_name), where)
            return where
        return None

    def __repr__(self):
        return "<cowroot.Chroot %s>" % self.chroot_path

    # ---- running programs inside -------------------------------------------

    def run(self, argv, user=None, cwd=None, env=None, input=None, timeout=None, clear_env=False, binds=(),
            text=True):
        """Runs argv inside (argv[0] found on the root's PATH) as fake root,
        or as `user` of the root (a name or number): a Result. Returns when
        the program exits; what it leaves running goes on until the root
        goes. The program gets this process's environment with what a
        login inside sets: root's PATH (/usr/local/sbin:...:/bin), HOME,
        USER and LOGNAME (root's, or the user's), PWD. env: a dict (or
        NAME=VALUE strings) added to that, last (only those with clear_env). timeout: seconds (more than 0; None: no limit), then the
        program and what it started are killed (status 124). text: output
        as str (undecodable bytes kept as surrogates), else bytes."""
        if isinstance(argv, (str, bytes)):
            raise TypeError("argv is a list of arguments, not a string (%r)" % (argv,))
        lib = _capi.lib()
        av, n = _capi.strings(argv)
        o = _capi.RunOptions()
        keep = [av]
        if cwd is not None:
            o.cwd = _capi.fs(cwd)
        if env:
            if isinstance(env, dict):
                # As subprocess takes them: names and values are str (or
                # bytes), never turned into strings ("None", "1").
                for k, v in env.items():
                    for what, x in (("name", k), ("value", v)):
                        if not isinstance(x, (str, bytes)):
                            raise TypeError("run: env %s %r is a %s, not a str" % (what, x, type(x).__name__))
                items = [(os.fsdecode(k) + "=" + os.fsdecode(v)) for k, v in env.items()]
            else:
                items = list(env)
            o.env, o.n_env = _capi.strings(items)
            keep.append(o.env)
        if input is not None:
            data = _data("run", "input", input)
            o.input, o.input_len = data, len(data)
        if binds:
            o.binds, o.n_binds = _capi.strings(binds)
        if user is not None:
            o.user = _capi.fs(str(user))
        if timeout is not None:
            if not timeout > 0:
                raise ValueError("timeout must be more than 0 seconds (None: no timeout), not %r" % (timeout,))
            o.timeout_ms = max(1, int(timeout * 1000))
        o.clear_env = 1 if clear_env else 0
        r = _capi.Result()
        _run_interruptibly(lib, self._root(), av, n, o, r)
        status, timed_out = r.status, bool(r.timed_out)
        try:
            out = ctypes.string_at(r.out, r.out_len) if r.out else b""
            err = ctypes.string_at(r.err, r.err_len) if r.err else b""
        finally:
            lib.cowroot_result_free(ctypes.byref(r))  # (zeroes r)
        if text:
            out, err = _text(out), _text(err)
        return Result(status, out, err, timed_out)

    def call(self, argv, new_save_file=None, **options):
        """Runs argv inside: its exit status. Its output goes to this
        process's sys.stdout and its error output to sys.stderr, as
        subprocess.call's would (a test runner shows them with a failure);
        the original merged both into stdout. new_save_file: the original
        FakeChrootFixture's parameter, which it ignored, as this does."""
        r = self.run(argv, **options)
        for data, stream in ((r.stdout, sys.stdout), (r.stderr, sys.stderr)):
            if data:
                if isinstance(data, bytes):
                    getattr(stream, "buffer", stream).write(data)
                else:
                    stream.write(data)
                stream.flush()
        return r.status

    def check_call(self, argv, **options):
        """Runs argv inside: (status, stdout, stderr), as the original did;
        like it, a non-zero status is returned, not raised."""
        r = self.run(argv, **options)
        return r.status, r.stdout, r.stderr

    def sudo(self, argv, user="root", **options):
        """Runs argv as `user` of the root (fake uid, gid and groups from
        the root's /etc/passwd and /etc/group; HOME, USER and LOGNAME the
        user's): (status, stdout, stderr)."""
        return self.check_call(argv, user=user, **options)

    # ---- files, from outside -----------------------------------------------

    def path(self, inside):
        """The host path an inside path resolves to (symlinks followed inside)."""
        p = ctypes.c_void_p()
        _capi.check(_capi.lib().cowroot_host_path(self._root(), _capi.fs(inside), ctypes.byref(p)))
        return os.fsdecode(_capi.take(p.value))

    def _bool(self, fn, inside):
        try:
            path = _capi.fs(inside)
        except ValueError:
            return False  # a NUL byte: no such path, as os.path.exists says (Python 3.8+)
        return _capi.check(fn(self._root(), path)) == 1

    def exists(self, inside):
        """Whether the path exists inside, symlinks followed (os.path.exists)."""
        return self._bool(_capi.lib().cowroot_exists, inside)

    def lexists(self, inside):
        """Whether the name exists inside, a broken symlink included (os.path.lexists)."""
        return self._bool(_capi.lib().cowroot_lexists, inside)

    def isdir(self, inside):
        """Whether the path is a directory inside, symlinks followed (os.path.isdir)."""
        return self._bool(_capi.lib().cowroot_isdir, inside)

    def isfile(self, inside):
        """Whether the path is a regular file inside, symlinks followed (os.path.isfile)."""
        return self._bool(_capi.lib().cowroot_isfile, inside)

    def islink(self, inside):
        """Whether the name is a symlink inside (os.path.islink)."""
        return self._bool(_capi.lib().cowroot_islink, inside)

    def read(self, inside):
        """The file's bytes."""
        p, n = ctypes.c_void_p(), ctypes.c_size_t()
        _capi.check(_capi.lib().cowroot_read(self._root(), _capi.fs(inside), ctypes.byref(p), ctypes.byref(n)))
        return _capi.take(p.value, n.value)

    def get(self, inside, encoding="utf-8"):
        """The file's contents, as str (encoding=None: bytes)."""
        data = self.read(inside)
        return data.decode(encoding) if encoding else data

    def put(self, inside, contents, chmod=None):
        """Writes contents (str, as UTF-8, or bytes; also a bytearray or
        memoryview) to the file; anything else is a TypeError, as with a
        file's write(). A new file is root's, mode `chmod` (default 0o644);
        an existing one keeps its owner and mode unless `chmod` is given."""
        data = _data("put", "contents", contents)
        mode = -1 if chmod is None else _number("put", "chmod", chmod, 0, 0x7FFFFFFF)
        _capi.check(_capi.lib().cowroot_write(self._root(), _capi.fs(inside), data, len(data), mode))

    write = put

    def open(self, inside, mode="r", encoding=None, errors=None, newline=None):
        """A file object. Reading: the root's file itself. Writing ('w',
        'a', 'x', '+'): in memory, written into the root through the
        pipeline when closed (copy-on-write, owner and mode kept)."""
        kind = set(mode) & set("rwax")
        if len(kind) != 1 or set(mode) - set("rwaxbt+") or "b" in mode and "t" in mode:
            raise ValueError("invalid mode: %r" % (mode,))
        if "+" not in mode and "r" in kind:
            host = self.path(inside)
            try:
                return open(host, mode, encoding=encoding, errors=errors, newline=newline)
            except OSError as e:
                raise _capi.error("cowroot: %s: %s" % (os.fsdecode(inside), e.strerror)) from None
        if "x" in kind and self.lexists(inside):
            raise _capi.error("cowroot: %s: File exists" % inside)
        if "r" in kind:
            initial = self.read(inside)  # r+: the file must be there
        elif "a" in kind and self.exists(inside):
            initial = self.read(inside)
        else:
            initial = b""
            self.put(inside, b"")  # there now (truncated), as open() makes it
        f = _WriteBack(self, inside, initial, "a" in kind)
        if "b" in mode:
            return f
        return io.TextIOWrapper(f, encoding=encoding or "utf-8", errors=errors, newline=newline,
                                write_through=True)

    def mkdir(self, inside, mode=0o755):
        """Makes the directory (its parent must exist; it must not)."""
        mode = _number("mkdir", "mode", mode)
        _capi.check(_capi.lib().cowroot_mkdir(self._root(), _capi.fs(inside), mode, 0))

    def makedirs(self, inside, mode=0o755, exist_ok=True):
        """Makes the directory and its missing parents (an existing
        directory is fine, and left as it is; with exist_ok=False it is a
        FileExistsError, as os.makedirs's default). As os.makedirs, `mode`
        is the new leaf's: missing parents get the default, 0o755."""
        mode = _number("makedirs", "mode", mode)
        p = "/" + os.fsdecode(_capi.fs(inside)).strip("/")
        parent = posixpath.dirname(p)
        lib, root = _capi.lib(), self._root()
        if parent != "/":
            _capi.check(lib.cowroot_mkdir(root, _capi.fs(parent), 0o755, 1))
        if p == "/":
            return
        try:
            _capi.check(lib.cowroot_mkdir(root, _capi.fs(p), mode, 0))
        except FileExistsError:
            if not exist_ok or not self.isdir(p):
                raise

    def unlink(self, inside):
        """Removes a file (never a directory)."""
        _capi.check(_capi.lib().cowroot_unlink(self._root(), _capi.fs(inside)))

    def remove(self, inside):
        """Removes a file, or a directory with what is in it: only the
        root's own (never into the host's /dev, /proc, /sys, never / itself:
        an Error, with nothing removed)."""
        _capi.check(_capi.lib().cowroot_remove(self._root(), _capi.fs(inside)))

    def touch(self, inside):
        """Creates an empty file (root's, 0644) when missing, else sets its times to now."""
        _capi.check(_capi.lib().cowroot_touch(self._root(), _capi.fs(inside)))

    def chmod(self, inside, mode):
        """The mode a program inside sees (the fake one, what stat()
        shows). The file on disk gets a mode the test's own user can work
        with (see docs/python.md), never what stat() inside shows. `mode`
        is an integer (0o755), as os.chmod's: a str is a TypeError."""
        mode = _number("chmod", "mode", mode)
        _capi.check(_capi.lib().cowroot_chmod(self._root(), _capi.fs(inside), mode))

    def chown(self, inside, uid=-1, gid=-1):
        """The fake owner; -1 leaves that id as it is. A name is looked up
        in the root's /etc/passwd (uid) or /etc/group (gid), as chown does."""
        if isinstance(uid, str):
            uid = self.getpwnam(uid).pw_uid
        else:
            uid = _number("chown", "uid", uid, -1, kind="an integer or a user's name")
        if isinstance(gid, str):
            gid = self.getgrnam(gid).gr_gid
        else:
            gid = _number("chown", "gid", gid, -1, kind="an integer or a group's name")
        _capi.check(_capi.lib().cowroot_chown(self._root(), _capi.fs(inside), uid & 0xFFFFFFFF, gid & 0xFFFFFFFF))

    def symlink(self, source, dest):
        """Makes dest a symlink to source, stored as given."""
        _capi.check(_capi.lib().cowroot_symlink(self._root(), _capi.fs(source), _capi.fs(dest)))

    def readlink(self, inside):
        """The symlink's target as stored (an inside path, never a host one)."""
        p = ctypes.c_void_p()
        _capi.check(_capi.lib().cowroot_readlink(self._root(), _capi.fs(inside), ctypes.byref(p)))
        return os.fsdecode(_capi.take(p.value))

    def stat(self, inside):
        """An os.stat_result as a program inside sees it (fake owner, mode
        and device), symlinks followed."""
        st = _capi.StatBuf()
        _capi.check(_capi.lib().cowroot_stat(self._root(), _capi.fs(inside), ctypes.byref(st)))
        return _stat_result(st)

    def lstat(self, inside):
        """stat() of the name itself (a symlink is not followed)."""
        st = _capi.StatBuf()
        _capi.check(_capi.lib().cowroot_lstat(self._root(), _capi.fs(inside), ctypes.byref(st)))
        return _stat_result(st)

    def write_temporary_file(self, contents):
        """A new file under the root's /tmp (mode 0600, root's) holding
        contents (as put takes them): (host path, inside path)."""
        data = _data("write_temporary_file", "contents", contents)
        host, inside = ctypes.c_void_p(), ctypes.c_void_p()
        _capi.check(_capi.lib().cowroot_write_temporary_file(self._root(), data, len(data), ctypes.byref(host),
                                                             ctypes.byref(inside)))
        return os.fsdecode(_capi.take(host.value)), os.fsdecode(_capi.take(inside.value))

    # ---- the root's users and groups -----------------------------------------

    def _one(self, fn, key, parse, by_number=False):
        p = ctypes.c_void_p()
        if by_number:
            if not isinstance(key, int):
                raise TypeError("an id is an int, not %s (%r)" % (type(key).__name__, key))
            if key < 0 or key > 0xFFFFFFFF:
                raise KeyError(key)
            arg = key
        else:
            if not isinstance(key, (str, bytes)):
                raise TypeError("a name is a str, not %s (%r)" % (type(key).__name__, key))
            arg = _capi.fs(key)
        if _capi.check(fn(self._root(), arg, ctypes.byref(p))) == 0:
            raise KeyError(key)
        return parse(_text(_capi.take(p.value)))

    def _all(self, fn, parse):
        p = ctypes.c_void_p()
        _capi.check(fn(self._root(), ctypes.byref(p)))
        return [parse(line) for line in _text(_capi.take(p.value)).splitlines()]

    def getpwnam(self, name):
        """The root's /etc/passwd entry of user `name` (a str), as
        pwd.getpwnam gives: a pwd.struct_passwd; KeyError when absent."""
        return self._one(_capi.lib().cowroot_getpwnam, name, _passwd)

    def getpwuid(self, uid):
        """The root's /etc/passwd entry of uid `uid` (an int), as
        pwd.getpwuid gives; KeyError when absent, TypeError for a str."""
        return self._one(_capi.lib().cowroot_getpwuid, uid, _passwd, by_number=True)

    def getpwall(self):
        """Every entry of the root's /etc/passwd (pwd.struct_passwd), in order."""
        return self._all(_capi.lib().cowroot_getpwall, _passwd)

    def getgrnam(self, name):
        """The root's /etc/group entry of group `name` (a str), as
        grp.getgrnam gives: a grp.struct_group (gr_mem a list); KeyError
        when absent."""
        return self._one(_capi.lib().cowroot_getgrnam, name, _group)

    def getgrgid(self, gid):
        """The root's /etc/group entry of gid `gid` (an int); KeyError when
        absent, TypeError for a str."""
        return self._one(_capi.lib().cowroot_getgrgid, gid, _group, by_number=True)

    def getgrall(self):
        """Every entry of the root's /etc/group (grp.struct_group), in order."""
        return self._all(_capi.lib().cowroot_getgrall, _group)

    def getspnam(self, name):
        """The root's /etc/shadow entry of user `name` (a str): a
        cowroot.struct_spwd; KeyError when absent."""
        return self._one(_capi.lib().cowroot_getspnam, name, _spwd)

    def getspall(self):
        """Every entry of the root's /etc/shadow (cowroot.struct_spwd), in order."""
        return self._all(_capi.lib().cowroot_getspall, _spwd)

    def get_user(self, name):
        """The fields after the name in /etc/passwd, as a list (KeyError when none)."""
        return self._one(_capi.lib().cowroot_get_user, name, lambda s: s.split(":"))

    def get_group(self, name):
        """The fields after the name in /etc/group, as a list (KeyError when none)."""
        return self._one(_capi.lib().cowroot_get_group, name, lambda s: s.split(":"))


class FakeChroot(Chroot):
    """The original fixture's FakeChroot(src_path, base_path): a Chroot
    whose base is base_path, else SRC/base-image (the original's project
    directory layout); with neither, Image.default(). Given an Image (as
    TestCase gives its FakeChroot class), a root of it. The base image
    must exist: the original built it with debootstrap, cowroot does not
    (`cowroot clone bookworm SRC/base-image` makes one)."""

    def __init__(self, src_path=None, base_path=None, _base=False):
        if isinstance(src_path, Image) and base_path is None:
            image = src_path
        elif src_path is None and base_path is None:
            image = None
        else:
            refuse_build_environment(type(self))
            image = original_base(src_path, base_path)
        super().__init__(image, _base=_base)
