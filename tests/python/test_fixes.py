"""Defects an acceptance run found in the Python fixture, each as its
reproduction: what a user of the original fixture, or any Python user,
expects."""

import os
import subprocess
import sys
import textwrap

import pytest

import cowroot
from conftest import run_pytest
from test_plugin import counts, write


# ---- a NUL byte is refused, as os.* and subprocess refuse it -------------------

def test_a_nul_byte_in_a_path_is_a_value_error_and_nothing_is_done(root):
    root.makedirs("/usr/share/doc")
    with pytest.raises(ValueError, match="embedded null byte"):
        root.remove("/usr/share/\0doc")
    assert root.isdir("/usr/share/doc")
    with pytest.raises(ValueError, match="embedded null byte"):
        root.exists("/etc/\0nothing")
    for call in (lambda: root.put("/etc/\0x", "x"), lambda: root.mkdir("/tmp/\0d"), lambda: root.makedirs("/\0a/b"),
                 lambda: root.unlink("/etc/passwd\0"), lambda: root.symlink("/etc\0x", "/tmp/l"),
                 lambda: root.symlink("/etc", "/tmp/\0l"), lambda: root.chmod("/etc\0", 0o700),
                 lambda: root.chown("/etc\0", 0, 0), lambda: root.stat("/etc\0"), lambda: root.get("/etc/passwd\0"),
                 lambda: root.getpwnam("ro\0ot"), lambda: root.path("/\0etc"), lambda: root.touch("/tmp/\0t")):
        with pytest.raises(ValueError, match="embedded null byte"):
            call()
    assert not root.lexists("/tmp/l")


def test_a_nul_byte_in_a_program_s_arguments_or_environment_is_a_value_error(root, tmp_path):
    marker = "/tmp/ran"
    for kw in ({"argv": ["sh", "-c", "touch %s" % marker, "a\0b"]}, {"argv": ["sh\0", "-c", "touch %s" % marker]},
               {"argv": ["sh", "-c", "touch %s" % marker], "env": {"A": "x\0y"}},
               {"argv": ["sh", "-c", "touch %s" % marker], "env": {"A\0": "x"}},
               {"argv": ["sh", "-c", "touch %s" % marker], "cwd": "/tmp\0"},
               {"argv": ["sh", "-c", "touch %s" % marker], "user": "ro\0ot"},
               {"argv": ["sh", "-c", "touch %s" % marker], "binds": [str(tmp_path) + "\0:/mnt"]}):
        argv = kw.pop("argv")
        with pytest.raises(ValueError, match="embedded null byte"):
            root.run(argv, **kw)
        with pytest.raises(ValueError, match="embedded null byte"):
            root.call(argv, **kw)
    assert not root.exists(marker)
    with pytest.raises(ValueError, match="embedded null byte"):
        cowroot.Image.at(str(tmp_path) + "\0x")
