"""Every helper of the Chroot, through the plugin's root fixture: each
checked against what a program inside the root sees."""

import contextlib
import os
import stat
import subprocess
import sys
import time

import pytest

import cowroot
from conftest import needs_image


def inside(root, script):
    """sh -c script inside: its output (it must succeed)."""
    status, out, err = root.check_call(["sh", "-c", script])
    assert status == 0, err
    return out


# ---- running programs --------------------------------------------------------

def test_call_returns_the_exit_status(root):
    assert root.call(["sh", "-c", "true"]) == 0
    assert root.call(["sh", "-c", "false"]) == 1
    assert root.call(["sh", "-c", "exit 7"]) == 7


def test_check_call_returns_status_and_output_without_raising(root):
    status, out, err = root.check_call(["sh", "-c", "id -u; pwd; echo oops >&2; exit 3"])
    assert (status, out, err) == (3, "0\n/\n", "oops\n")


def test_run_options(root):
    r = root.run(["sh", "-c", "cat; echo $GREETING; pwd"], cwd="/tmp", env={"GREETING": "hi"}, input="in\n")
    assert r == cowroot.Result(0, "in\nhi\n/tmp\n", "", False)
    assert root.run(["sh", "-c", "printf '\\377'"], text=False).stdout == b"\xff"
    # clear_env: only env, with the user's HOME, USER and LOGNAME (root's
    # when no user is given, as with user="root").
    # env's names and values are strings, as subprocess takes them.
    for bad in ({"A": None}, {"A": 1}, {1: "x"}):
        with pytest.raises(TypeError, match="^run: env "):
            root.run(["true"], env=bad)
    assert root.run(["sh", "-c", "echo $A"], env={"A": b"bytes"}).stdout == "bytes\n"
    r = root.run(["sh", "-c", "echo ${HOME:-unset} ${USER:-unset} ${LOGNAME:-unset} ${GREETING:-unset}"], clear_env=True)
    assert r.stdout == "/root root root unset\n"


def test_programs_get_the_environment_a_login_inside_would(root, monkeypatch):
    # The test process's PATH (no sbin here) and HOME are host paths: inside,
    # root's PATH and HOME, as the original fixture and a login would give.
    monkeypatch.setenv("PATH", "/nowhere:" + os.environ.get("PATH", "/usr/bin:/bin"))
    monkeypatch.setenv("HOME", "/nohome")
    r = root.run(["sh", "-c", "echo $PATH $HOME $USER $LOGNAME $PWD"])
    assert r.stdout == "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin /root root root /\n"
    assert root.run(["sh", "-c", "echo $PATH"], env={"PATH": "/bin"}).stdout == "/bin\n"


def test_call_passes_the_output_on_as_subprocess_call_does(root, capfd):
    assert root.call(["sh", "-c", "echo out; echo boom >&2; exit 3"]) == 3
    captured = capfd.readouterr()
    assert (captured.out, captured.err) == ("out\n", "boom\n")


def test_timeout_kills_the_program(root):
    start = time.monotonic()
    r = root.run(["sleep", "30"], timeout=0.3)
    assert r.timed_out and r.status == 124
    assert time.monotonic() - start < 10


@contextlib.contextmanager
def _alarm_raises(seconds):
    """SIGALRM after `seconds`, whose handler raises (pytest-timeout's
    way): the body must be interrupted by it."""
    import signal

    class Expired(Exception):
        pass

    def expire(signum, frame):
        raise Expired()

    old = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        with pytest.raises(Expired):
            yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


# A program that ignores SIGINT and SIGTERM, with a child: their pids in /tmp/pids.
_STUBBORN = "trap '' INT TERM; sleep 60 & echo $$ $! > /tmp/pids.new; mv /tmp/pids.new /tmp/pids; wait; wait"


def _gone(pid):
    """No such process, or only its exit status left (a zombie of no reaper's)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def _pids_gone(pids, within=10):
    end = time.monotonic() + within
    while not all(_gone(p) for p in pids) and time.monotonic() < end:
        time.sleep(0.05)
    return all(_gone(p) for p in pids)


def test_an_exception_from_a_signal_handler_stops_the_run_at_once(root):
    # pytest-timeout's way (SIGALRM, its handler raises), or any handler's:
    # raised while the program runs, as subprocess.run's wait would, and
    # the program and what it started are killed first.
    start = time.monotonic()
    with _alarm_raises(1.0):
        root.run(["sh", "-c", _STUBBORN])
    assert time.monotonic() - start < 10
    pids = [int(p) for p in root.read("/tmp/pids").split()]
    assert len(pids) == 2 and _pids_gone(pids)
    # The root is usable afterwards.
    assert root.call(["sh", "-c", "true"]) == 0


_CHILD = """
import sys, cowroot
c = cowroot.Chroot(cowroot.Image.default())
print(c.path("/tmp"), flush=True)
try:
    c.run(["sh", "-c", sys.argv[1]])
    print("returned", flush=True)
except KeyboardInterrupt:
    print("KeyboardInterrupt", flush=True)
finally:
    c.close()
"""


@pytest.mark.parametrize("sig", ["SIGINT", "SIGKILL"])
def test_the_test_process_interrupted_or_killed_stops_the_program(sig, tmp_path):
    # Ctrl-C aimed at the test process alone (kill -INT PID), a program
    # that ignores it: KeyboardInterrupt at once, the program killed. The
    # test process killed outright: its programs go with it.
    import signal
    script = tmp_path / "child.py"
    script.write_text(_CHILD)
    p = subprocess.Popen([sys.executable, str(script), _STUBBORN], stdout=subprocess.PIPE, text=True,
                         restore_signals=True)
    try:
        tmp = p.stdout.readline().strip()
        assert tmp.startswith("/")
        end = time.monotonic() + 30
        while not os.path.exists(os.path.join(tmp, "pids")) and time.monotonic() < end:
            time.sleep(0.05)
        with open(os.path.join(tmp, "pids")) as f:
            pids = [int(x) for x in f.read().split()]
        start = time.monotonic()
        p.send_signal(getattr(signal, sig))
        rest, _ = p.communicate(timeout=30)
        assert time.monotonic() - start < 10
        if sig == "SIGINT":
            assert rest == "KeyboardInterrupt\n"
        assert len(pids) == 2 and _pids_gone(pids)
    finally:
        p.kill()
        p.wait()


def test_a_missing_program_is_status_127(root):
    status, _, err = root.check_call(["no-such-program"])
    assert status == 127 and "no-such-program" in err


def test_argv_must_be_a_list(root):
    with pytest.raises(TypeError):
        root.call("sh -c true")


def test_sudo_runs_as_another_user_of_the_root(root):
    root.put("/etc/passwd", root.get("/etc/passwd") + "alice:x:4321:4322::/home/alice:/bin/sh\n")
    root.put("/etc/group", root.get("/etc/group") + "alice:x:4322:\nstaffy:x:4400:alice\n")
    status, out, err = root.sudo(["sh", "-c", "id -u; id -g; id -G; echo $HOME $USER; touch /tmp/made"],
                                 user="alice")
    assert status == 0, err
    assert out.split("\n")[:4] == ["4321", "4322", "4322 4400", "/home/alice alice"]
    st = root.stat("/tmp/made")
    assert (st.st_uid, st.st_gid) == (4321, 4322)
    assert root.sudo(["id", "-u"], user="4321")[1] == "4321\n"
    with pytest.raises(cowroot.Error, match="no user nosuchuser"):
        root.sudo(["sh"], user="nosuchuser")


# ---- files -------------------------------------------------------------------

def test_put_and_get(root):
    root.put("/etc/app.conf", "port=8080\n")
    assert root.get("/etc/app.conf") == "port=8080\n"
    assert inside(root, "cat /etc/app.conf") == "port=8080\n"
    assert inside(root, "stat -c '%a %u %g' /etc/app.conf") == "644 0 0\n"
    root.put("/etc/app.bin", b"\x00\xff", chmod=0o600)
    assert root.get("/etc/app.bin", encoding=None) == b"\x00\xff"
    assert root.read("/etc/app.bin") == b"\x00\xff"
    assert inside(root, "stat -c %a /etc/app.bin") == "600\n"


def test_put_over_a_file_keeps_its_owner_and_mode(root):
    root.put("/etc/secret", "a\n", chmod=0o640)
    root.chown("/etc/secret", 0, 42)
    root.put("/etc/secret", "b\n")
    assert inside(root, "stat -c '%a %u %g' /etc/secret; cat /etc/secret") == "640 0 42\nb\n"
    root.put("/etc/secret", "c\n", chmod=0o600)
    assert inside(root, "stat -c %a /etc/secret") == "600\n"


def test_chown_takes_the_root_s_user_and_group_names(root):
    root.put("/etc/named", "x\n")
    inside(root, "echo svc:x:501:502::/:/bin/sh >> /etc/passwd; echo svcg:x:503: >> /etc/group")
    root.chown("/etc/named", "svc", "svcg")
    assert inside(root, "stat -c '%u %g' /etc/named") == "501 503\n"
    with pytest.raises(KeyError):
        root.chown("/etc/named", "no-such-user")


def test_writes_are_copy_on_write(root):
    image = root.image.path
    before = open(os.path.join(image, "etc/passwd")).read()
    root.put("/etc/passwd", before + "extra:x:999:999::/:/bin/sh\n")
    with root.open("/etc/passwd", "a") as f:
        f.write("more:x:998:998::/:/bin/sh\n")
    assert open(os.path.join(image, "etc/passwd")).read() == before
    assert root.get("/etc/passwd").endswith("extra:x:999:999::/:/bin/sh\nmore:x:998:998::/:/bin/sh\n")
    assert root.getpwnam("more").pw_uid == 998


def test_relative_paths_are_inside_never_the_host(root, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    root.put("relwrite", "x")
    assert not os.path.exists(tmp_path / "relwrite")
    assert root.exists("/relwrite") and root.get("relwrite") == "x"
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "only-on-host").write_text("host")
    assert not root.exists("etc/only-on-host")
    root.makedirs("a/b")
    assert root.isdir("/a/b") and not os.path.exists(tmp_path / "a")
    assert root.path("etc/passwd") == os.path.join(root.chroot_path, "etc/passwd")


def test_open_reads_the_roots_file(root):
    root.put("/etc/r", "one\ntwo\n")
    with root.open("/etc/r") as f:
        assert f.readlines() == ["one\n", "two\n"]
    with root.open("/etc/r", "rb") as f:
        assert f.read() == b"one\ntwo\n"
    with pytest.raises(FileNotFoundError):
        root.open("/etc/missing")


def test_open_for_writing_goes_through_the_pipeline_on_close(root):
    root.put("/etc/w", "old\n", chmod=0o640)
    root.chown("/etc/w", 7, 8)
    f = root.open("/etc/w", "w")
    assert root.get("/etc/w") == ""  # truncated on open, as open() does
    f.write("new\n")
    f.close()
    assert inside(root, "cat /etc/w; stat -c '%a %u %g' /etc/w") == "new\n640 7 8\n"
    with root.open("/etc/w", "a") as f:
        f.write("appended\n")
    with root.open("/etc/w", "r+") as f:
        assert f.read(3) == "new"
        f.seek(0)
        f.write("NEW")
    assert root.get("/etc/w") == "NEW\nappended\n"
    with root.open("/etc/fresh", "wb") as f:
        f.write(b"\x01")
    assert root.read("/etc/fresh") == b"\x01"
    assert inside(root, "stat -c '%a %u' /etc/fresh") == "644 0\n"
    with pytest.raises(FileExistsError):
        root.open("/etc/fresh", "x")
    with pytest.raises(FileNotFoundError):
        root.open("/etc/nothere", "r+")
    with pytest.raises(ValueError):
        root.open("/etc/fresh", "rw")


def test_exists_and_friends(root):
    root.mkdir("/d")
    root.put("/d/f", "")
    root.symlink("/d/f", "/d/link")
    root.symlink("/nowhere", "/d/dangling")
    assert root.exists("/d") and root.isdir("/d") and not root.isfile("/d")
    assert root.isfile("/d/f") and not root.islink("/d/f")
    assert root.islink("/d/link") and root.isfile("/d/link") and root.exists("/d/link")
    assert root.islink("/d/dangling") and root.lexists("/d/dangling") and not root.exists("/d/dangling")
    assert not root.exists("/nope") and not root.lexists("/nope") and not root.isdir("/nope")


def test_mkdir_makedirs_unlink_remove(root):
    root.mkdir("/m", 0o700)
    assert inside(root, "stat -c '%a %F' /m") == "700 directory\n"
    with pytest.raises(FileExistsError):
        root.mkdir("/m")
    with pytest.raises(FileNotFoundError):
        root.mkdir("/x/y")
    root.makedirs("/x/y/z")
    root.makedirs("/x/y/z")  # there already: fine
    root.makedirs("/x/y/z", exist_ok=True)
    with pytest.raises(FileExistsError):
        root.makedirs("/x/y/z", exist_ok=False)  # (os.makedirs's keyword, and its default's error)
    assert inside(root, "test -d /x/y/z && echo yes") == "yes\n"
    root.put("/x/y/z/f", "f")
    with pytest.raises(cowroot.Error):
        root.unlink("/x/y")
    root.unlink("/x/y/z/f")
    assert not root.lexists("/x/y/z/f")
    root.remove("/x")
    assert inside(root, "test -e /x || echo gone") == "gone\n"
    # Never the root itself, nor the host's files behind a bind.
    with pytest.raises(cowroot.Error, match="^cowroot: remove /: the root itself, not removed$"):
        root.remove("/")
    with pytest.raises(cowroot.Error, match="the host's /dev"):
        root.remove("/dev")
    assert inside(root, "test -x /bin/sh && echo whole") == "whole\n"


def test_touch_creates_or_updates(root):
    root.touch("/t")
    assert inside(root, "stat -c '%s %a %u' /t") == "0 644 0\n"
    inside(root, "touch -d @1000000000 /t")
    assert root.stat("/t").st_mtime == 1000000000
    root.touch("/t")
    assert root.stat("/t").st_mtime > time.time() - 60


def test_chmod_is_what_stat_shows_inside(root):
    root.put("/s", "#!/bin/sh\necho ran\n")
    root.chmod("/s", 0o750)
    assert inside(root, "stat -c %a /s; /s") == "750\nran\n"
    assert stat.S_IMODE(root.stat("/s").st_mode) == 0o750
    root.chmod("/s", 0o4755)
    assert inside(root, "stat -c %a /s") == "4755\n"
    assert not os.stat(root.path("/s")).st_mode & stat.S_ISUID  # never on disk


def test_symlink_is_stored_as_given_and_readlink_is_inside(root):
    root.symlink("passwd", "/etc/rel")
    root.symlink("/etc/passwd", "/abs")
    assert root.readlink("/etc/rel") == "passwd"
    assert root.readlink("/abs") == "/etc/passwd"
    assert inside(root, "readlink /abs; readlink /etc/rel") == "/etc/passwd\npasswd\n"
    assert os.readlink(os.path.join(root.chroot_path, "abs")) == "/etc/passwd"
    assert root.get("/abs") == root.get("/etc/passwd")
    assert root.path("/abs") == os.path.join(root.chroot_path, "etc/passwd")


def test_stat_and_lstat_are_what_a_program_inside_sees(root):
    root.put("/f", "12345")
    root.chown("/f", 4242, 4343)
    root.chmod("/f", 0o600)
    root.symlink("/f", "/l")
    st = root.stat("/l")
    assert isinstance(st, os.stat_result)
    fields = inside(root, "stat -L -c '%f %i %d %h %u %g %s %X %Y %Z' /l").split()
    assert (st.st_mode, st.st_ino, st.st_dev, st.st_nlink, st.st_uid, st.st_gid, st.st_size,
            int(st.st_atime), int(st.st_mtime), int(st.st_ctime)) == \
        (int(fields[0], 16), *[int(x) for x in fields[1:]])
    assert st[0] == st.st_mode and st.st_mtime_ns // 10**9 == int(st.st_mtime)
    lst = root.lstat("/l")
    assert stat.S_ISLNK(lst.st_mode) and lst.st_size == 2
    assert lst.st_ino == int(inside(root, "stat -c %i /l"))
    with pytest.raises(FileNotFoundError):
        root.stat("/missing")


def test_write_temporary_file(root):
    host, path = root.write_temporary_file("data\n")
    assert path.startswith("/tmp/") and host == os.path.join(root.chroot_path, path[1:])
    assert open(host).read() == "data\n"
    assert inside(root, "cat %s; stat -c '%%a %%u' %s" % (path, path)) == "data\n600 0\n"
    assert root.write_temporary_file(b"x")[1] != path


def test_path_is_the_host_path(root):
    assert root.path("/") in (root.chroot_path, root.chroot_path + "/")
    root.put("/etc/p", "p")
    assert open(root.path("/etc/p")).read() == "p"


def test_errors_are_one_line_naming_the_path(root):
    with pytest.raises(cowroot.Error) as e:
        root.get("/no/such/file")
    assert "/no/such/file" in str(e.value) and "\n" not in str(e.value)
    assert e.value.errno == 2 and isinstance(e.value, OSError)


def test_a_closed_root_says_so(root):
    c = cowroot.Chroot(root.image)
    c.close()
    with pytest.raises(cowroot.Error, match="closed"):
        c.exists("/")
    c.close()  # twice is fine


# ---- users and groups ------------------------------------------------------------

def test_users_and_groups_from_the_roots_files(root):
    root.put("/etc/passwd", root.get("/etc/passwd") + "bob:x:5000:5001:Bob B:/home/bob:/bin/sh\n")
    root.put("/etc/group", root.get("/etc/group") + "bob:x:5001:\nteam:x:5002:bob,carol\n")
    pw = root.getpwnam("bob")
    assert tuple(pw) == ("bob", "x", 5000, 5001, "Bob B", "/home/bob", "/bin/sh")
    assert pw.pw_uid == 5000 and pw.pw_dir == "/home/bob"
    assert root.getpwuid(5000).pw_name == "bob"
    assert root.getpwuid(0).pw_name == "root"
    assert "bob" in [p.pw_name for p in root.getpwall()]
    assert root.getgrnam("team").gr_mem == ["bob", "carol"]
    assert root.getgrnam("bob").gr_mem == []
    assert root.getgrgid(5002).gr_name == "team"
    assert [g.gr_name for g in root.getgrall()][-2:] == ["bob", "team"]
    assert root.get_user("bob") == ["x", "5000", "5001", "Bob B", "/home/bob", "/bin/sh"]
    assert root.get_group("team") == ["x", "5002", "bob,carol"]
    for f, key in ((root.getpwnam, "nobody-here"), (root.getpwuid, 77777), (root.getgrnam, "nogroup-here"),
                   (root.getgrgid, 77777), (root.get_user, "nobody-here"), (root.get_group, "nogroup-here"),
                   (root.getspnam, "nobody-here")):
        with pytest.raises(KeyError):
            f(key)


def test_shadow_entries(root):
    root.put("/etc/shadow", "root:*:19000:0:99999:7:::\nbob:!:19001::::::\n", chmod=0o640)
    sp = root.getspnam("bob")
    assert sp.sp_nam == sp.sp_namp == "bob" and sp.sp_pwd == "!"
    assert (sp.sp_lastchg, sp.sp_min, sp.sp_max, sp.sp_expire) == (19001, -1, -1, -1)
    root_sp = root.getspnam("root")
    assert (root_sp.sp_lstchg, root_sp.sp_min, root_sp.sp_max, root_sp.sp_warn) == (19000, 0, 99999, 7)
    assert [s.sp_nam for s in root.getspall()] == ["root", "bob"]


@needs_image
def test_the_debian_images_own_owners_and_users(root):
    shadow = root.getgrnam("shadow")
    st = root.stat("/etc/shadow")
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o640, 0, shadow.gr_gid)
    assert os.stat(root.path("/etc/shadow")).st_uid != 0  # the owner on disk is the tester
    assert root.getpwnam("www-data").pw_uid == 33
    assert root.getspnam("root").sp_nam == "root"
    assert root.get_user("daemon")[:2] == ["x", "1"]
    status, out, err = root.sudo(["sh", "-c", "id -un; touch /tmp/w"], user="www-data")
    assert (status, out) == (0, "www-data\n"), err
    assert root.stat("/tmp/w").st_uid == 33
    root.put("/etc/shadow", root.get("/etc/shadow"))  # issue 14 #8: the mode stays
    assert inside(root, "stat -c '%a %G' /etc/shadow") == "640 shadow\n"


def test_a_root_left_open_is_given_back_when_the_process_exits(tmp_path):
    script = tmp_path / "s.py"
    # In a cycle held by a module torn down late: no __del__ would run in time.
    script.write_text("import cowroot, sys\nleft = cowroot.Chroot()\nleft.me = left\nsys.modules['os'].left = left\n"
                      "left.put('/etc/x', 'x')\nprint(left.chroot_path)\n")
    r = subprocess.run([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert r.returncode == 0 and r.stderr == b"", r.stderr.decode()
    path = r.stdout.decode().strip()
    # Reset into the pool (its slot is gone) or, a clone of a directory, removed.
    assert not os.path.exists(os.path.join(path, "etc/x"))


def test_a_root_of_a_directory_or_an_images_name_as_the_originals_fakechroot_took(tmp_path):
    base = os.environ.get("COWROOT_BASE")
    image = cowroot.Image.default()
    with cowroot.Chroot(image.path) as c:  # a directory: the base
        assert c.exists("/bin/sh")
    if image.name:
        with cowroot.Chroot(image.name) as c:  # a cached image's name
            assert c.exists("/bin/sh")
    with pytest.raises(TypeError, match="a root is made of an Image"):
        cowroot.Chroot(42)


def test_open_of_a_missing_file_names_the_inside_path(root):
    with pytest.raises(cowroot.Error) as e:
        root.open("/nope/file")
    assert isinstance(e.value, FileNotFoundError)
    assert str(e.value) == "cowroot: /nope/file: No such file or directory"


def test_an_image_build_is_interrupted_at_once(tmp_path, monkeypatch):
    # A first build takes minutes: a signal handler's exception (Ctrl-C at
    # the test process alone, pytest-timeout's alarm) comes at once, as for
    # a run. A mirror that answers nothing keeps the build waiting.
    import socket
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    port = srv.getsockname()[1]
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    start = time.monotonic()
    try:
        with _alarm_raises(2.0):
            cowroot.Image.get(name="waits", suite="bookworm", mirror="http://127.0.0.1:%d/debian" % port)
    finally:
        srv.close()  # the build then fails on its own, in the background
    assert time.monotonic() - start < 10
