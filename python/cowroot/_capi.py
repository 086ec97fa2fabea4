"""The fixture's C interface (cowroot/fixture_c.h) through ctypes.

libcowroot-fixture.so is found beside the install this package belongs to
(``_install.LIBDIR``, written by ``make install`` relative to this file),
or where ``COWROOT_FIXTURE_LIBRARY`` names it. Each wrapper turns the C
convention (-1 and cowroot_last_error()) into a raised ``Error``.
"""

import ctypes
import errno as _errno
import os

API_VERSION = 1

_c_str = ctypes.c_char_p
_size = ctypes.c_size_t
_ptr = ctypes.c_void_p


class RunOptions(ctypes.Structure):
    _fields_ = [
        ("cwd", _c_str),
        ("env", ctypes.POINTER(_c_str)),
        ("n_env", _size),
        ("input", _c_str),
        ("input_len", _size),
        ("binds", ctypes.POINTER(_c_str)),
        ("n_binds", _size),
        ("user", _c_str),
        ("timeout_ms", ctypes.c_long),
        ("clear_env", ctypes.c_int),
    ]


class Result(ctypes.Structure):
    _fields_ = [
        ("status", ctypes.c_int),
        ("timed_out", ctypes.c_int),
        ("out", _ptr),
        ("out_len", _size),
        ("err", _ptr),
        ("err_len", _size),
    ]


class StatBuf(ctypes.Structure):
    _fields_ = [(n, ctypes.c_ulonglong) for n in ("dev", "ino", "nlink", "rdev")] + \
               [(n, ctypes.c_uint) for n in ("mode", "uid", "gid")] + \
               [(n, ctypes.c_longlong) for n in ("size", "blksize", "blocks", "atime_sec", "atime_nsec",
                                                  "mtime_sec", "mtime_nsec", "ctime_sec", "ctime_nsec")]


class Error(OSError):
    """A cowroot failure: one line naming the path or program.

    An ``OSError``; where the line ends in a system error's text
    ("...: No such file or directory") ``errno`` is set, and the exception
    is also the matching ``OSError`` subclass (``FileNotFoundError``, ...).
    """

    __module__ = "cowroot"

    def __init__(self, message, errno=None):
        if errno is None:
            super().__init__(message)
        else:
            super().__init__(errno, message)
        self.message = message

    def __str__(self):
        return self.message


_by_text = {}
_kinds = {}


def _errno_of(message):
    if not _by_text:
        for e in _errno.errorcode:
            _by_text.setdefault(os.strerror(e), e)
    tail = message.rsplit(": ", 1)
    return _by_text.get(tail[-1]) if len(tail) == 2 else None


def error(message):
    """The Error for a one-line message, of the OSError subclass its errno maps to."""
    e = _errno_of(message)
    kind = Error
    if e is not None:
        base = type(OSError(e, ""))
        if base is not OSError:
            kind = _kinds.get(base)
            if kind is None:
                kind = _kinds[base] = type(base.__name__, (Error, base), {"__module__": "cowroot"})
    return kind(message, e)


def _library_path():
    env = os.environ.get("COWROOT_FIXTURE_LIBRARY")
    if env:
        return env
    try:
        from . import _install
    except ImportError:
        raise Error("cowroot: this cowroot package was not installed by `make install` "
                    "(set COWROOT_FIXTURE_LIBRARY to libcowroot-fixture.so)") from None
    here = os.path.dirname(os.path.realpath(__file__))
    return os.path.normpath(os.path.join(here, _install.LIBDIR, "libcowroot-fixture.so"))


def _load():
    path = _library_path()
    if not os.path.exists(path):
        raise Error("cowroot: %s is missing (the install this package belongs to, or COWROOT_FIXTURE_LIBRARY)" % path)
    try:
        lib = ctypes.CDLL(path)
    except OSError as e:
        raise Error("cowroot: cannot load %s: %s" % (path, e)) from None
    i, p, v = ctypes.c_int, ctypes.POINTER, ctypes.c_uint
    out = p(_ptr)
    R, S, O = p(Result), p(StatBuf), p(RunOptions)
    sigs = {
        "cowroot_api_version": (i, []),
        "cowroot_last_error": (_c_str, []),
        "cowroot_free": (None, [_ptr]),
        "cowroot_set_prefix": (i, [_c_str]),
        "cowroot_set_keep_failed": (i, [_c_str]),
        "cowroot_image_get": (_ptr, [_c_str, _c_str, _c_str, p(_c_str), _size, _c_str]),
        "cowroot_image_at": (_ptr, [_c_str]),
        "cowroot_image_path": (_c_str, [_ptr]),
        "cowroot_image_name": (_c_str, [_ptr]),
        "cowroot_image_free": (None, [_ptr]),
        "cowroot_root_new": (_ptr, [_ptr]),
        "cowroot_root_free": (None, [_ptr]),
        "cowroot_root_path": (_c_str, [_ptr]),
        "cowroot_host_path": (i, [_ptr, _c_str, out]),
        "cowroot_keep": (i, [_ptr, _c_str]),
        "cowroot_keep_failed": (i, [_ptr, _c_str, out]),
        "cowroot_run": (i, [_ptr, p(_c_str), _size, O, R]),
        "cowroot_run_cancellable": (i, [_ptr, p(_c_str), _size, O, i, R]),
        "cowroot_result_free": (None, [R]),
        "cowroot_read": (i, [_ptr, _c_str, out, p(_size)]),
        "cowroot_write": (i, [_ptr, _c_str, _c_str, _size, i]),
        "cowroot_mkdir": (i, [_ptr, _c_str, v, i]),
        "cowroot_symlink": (i, [_ptr, _c_str, _c_str]),
        "cowroot_chmod": (i, [_ptr, _c_str, v]),
        "cowroot_chown": (i, [_ptr, _c_str, v, v]),
        "cowroot_stat": (i, [_ptr, _c_str, S]),
        "cowroot_lstat": (i, [_ptr, _c_str, S]),
        "cowroot_readlink": (i, [_ptr, _c_str, out]),
        "cowroot_write_temporary_file": (i, [_ptr, _c_str, _size, out, out]),
        "cowroot_getpwuid": (i, [_ptr, v, out]),
        "cowroot_getgrgid": (i, [_ptr, v, out]),
    }
    for name in ("remove", "unlink", "touch", "exists", "lexists", "isdir", "isfile", "islink"):
        sigs["cowroot_" + name] = (i, [_ptr, _c_str])
    for name in ("getpwnam", "getgrnam", "getspnam", "get_user", "get_group"):
        sigs["cowroot_" + name] = (i, [_ptr, _c_str, out])
    for name in ("getpwall", "getgrall", "getspall"):
        sigs["cowroot_" + name] = (i, [_ptr, out])
    for name, (res, args) in sigs.items():
        try:
            f = getattr(lib, name)
        except AttributeError:
            raise Error("cowroot: %s has no %s (an older library than this package)" % (path, name)) from None
        f.restype, f.argtypes = res, args
    if lib.cowroot_api_version() != API_VERSION:
        raise Error("cowroot: %s speaks C API version %d, this package version %d" %
                    (path, lib.cowroot_api_version(), API_VERSION))
    return lib, path


_lib = None
library_path = None


def lib():
    """The loaded library (loaded on first use)."""
    global _lib, library_path
    if _lib is None:
        _lib, library_path = _load()
    return _lib


def fail():
    """Raises the Error for the library's last error (of this thread)."""
    raise error(_lib.cowroot_last_error().decode("utf-8", "surrogateescape"))


def check(rc):
    """rc of a call returning 0/1 or -1."""
    if rc < 0:
        fail()
    return rc


def take(ptr, length=None):
    """The bytes at a malloc'd pointer the library handed out, freed."""
    if not ptr:
        return b""
    try:
        return ctypes.string_at(ptr, length) if length is not None else ctypes.string_at(ptr)
    finally:
        _lib.cowroot_free(ptr)


def fs(s):
    """A str, bytes or path-like argument as bytes. A NUL byte in it is a
    ValueError, as os.* and subprocess raise: a C string would end there
    (remove("/usr/share/\\0doc") would remove /usr/share)."""
    b = os.fsencode(s)
    if b"\0" in b:
        raise ValueError("embedded null byte")
    return b


def strings(seq):
    """A list of strings as a C array (and its length)."""
    seq = [fs(x) for x in seq]
    return (_c_str * max(len(seq), 1))(*seq), len(seq)
