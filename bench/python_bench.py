"""The Python fixture's figures (run by bench/python.sh with the installed
package on PYTHONPATH, as an ordinary user):

  1. the binding: a helper through ctypes (the C interface) against the
     same done by running the installed `cowroot` command, per call;
  2. test cases per second: 100 cases, each running `sh -c` that checks a
     file is absent and creates it, in a fresh root of the default image:
     pytest with the plugin's root fixture (1 process, and -n 2 when
     pytest-xdist is there), unittest with cowroot.testing.TestCase, and a
     bare loop of Chroot()/call/close.
"""

import os
import re
import subprocess
import sys
import tempfile
import time

import cowroot
import cowroot._refresh

N_CASES = int(os.environ.get("BENCH_PY_CASES", "100"))
ROUNDS = int(os.environ.get("BENCH_PY_ROUNDS", "30"))
CASE = "test ! -e /marker && touch /marker"


def per_call(f, n):
    f()  # warm
    t = time.perf_counter()
    for _ in range(n):
        f()
    return (time.perf_counter() - t) / n


def binding():
    cmd = cowroot._refresh.cowroot_bin()
    with cowroot.Chroot() as root:
        base = [cmd, "-r", root.chroot_path, "--"]

        def sub(*argv, data=None):
            subprocess.run(base + list(argv), input=data, stdout=subprocess.DEVNULL, check=True)

        rows = [
            ("stat /etc/passwd", lambda: root.stat("/etc/passwd"),
             lambda: sub("stat", "-c", "%f %i %d %h %u %g %s %X %Y %Z", "/etc/passwd")),
            ("exists /etc/passwd", lambda: root.exists("/etc/passwd"), lambda: sub("test", "-e", "/etc/passwd")),
            ("put 100 bytes", lambda: root.put("/tmp/f", "x" * 100),
             lambda: sub("sh", "-c", "cat > /tmp/f", data=b"x" * 100)),
            ("get /etc/passwd", lambda: root.get("/etc/passwd"), lambda: sub("cat", "/etc/passwd")),
            ("getpwnam root", lambda: root.getpwnam("root"), lambda: sub("getent", "passwd", "root")),
        ]
        print("# the binding: ctypes (C interface) vs the installed command (cowroot -r ROOT -- PROGRAM), "
              "microseconds per call")
        print("%-22s %12s %14s %8s" % ("helper", "ctypes us", "command us", "ratio"))
        for name, via_c, via_cmd in rows:
            c, s = per_call(via_c, ROUNDS * 100) * 1e6, per_call(via_cmd, ROUNDS) * 1e6
            print("%-22s %12.1f %14.0f %8.0f" % (name, c, s, s / c))
        run_c = per_call(lambda: root.call(["sh", "-c", "true"]), ROUNDS) * 1e6
        run_s = per_call(lambda: sub("sh", "-c", "true"), ROUNDS) * 1e6
        print("%-22s %12.0f %14.0f %8.1f" % ("call sh -c true", run_c, run_s, run_s / run_c))


def timed(argv, cwd):
    t = time.perf_counter()
    r = subprocess.run(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    wall = time.perf_counter() - t
    out = r.stdout.decode(errors="replace")
    if r.returncode != 0:
        sys.exit("bench: %s failed:\n%s" % (" ".join(argv), out[-3000:]))
    m = re.search(r"in ([0-9.]+)s", out.strip().splitlines()[-1]) or re.search(r"Ran \d+ tests? in ([0-9.]+)s", out)
    return wall, float(m.group(1)) if m else wall


def cases(workdir):
    with open(os.path.join(workdir, "test_cases.py"), "w") as f:
        f.write("import pytest\n\n@pytest.mark.parametrize('n', range(%d))\ndef test_case(root, n):\n"
                "    assert root.call(['sh', '-c', %r]) == 0\n" % (N_CASES, CASE))
    with open(os.path.join(workdir, "unit_cases.py"), "w") as f:
        f.write("import cowroot.testing\n\nclass Cases(cowroot.testing.TestCase):\n")
        for i in range(N_CASES):
            f.write("    def test_%d(self):\n        self.assertEqual(self.chroot.call(['sh', '-c', %r]), 0)\n"
                    % (i, CASE))
    py = sys.executable
    rows = [("pytest, root fixture", [py, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_cases.py"])]
    try:
        import xdist  # noqa: F401
        rows.append(("pytest -n 2", [py, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2", "test_cases.py"]))
    except ImportError:
        pass
    rows.append(("unittest, TestCase", [py, "-m", "unittest", "-q", "unit_cases"]))
    print()
    print("# %d test cases, each: sh -c '%s' in a fresh root of the default image" % (N_CASES, CASE))
    print("%-24s %10s %14s %12s %16s" % ("runner", "wall s", "cases/s wall", "runner's s", "cases/s runner"))
    subprocess.run(rows[0][1], cwd=workdir, stdout=subprocess.DEVNULL)  # warm: the image checked, the pool filled
    for name, argv in rows:
        best = min((timed(argv, workdir) for _ in range(3)), key=lambda x: x[1])
        print("%-24s %10.2f %14.0f %12.2f %16.0f" % (name, best[0], N_CASES / best[0], best[1], N_CASES / best[1]))
    image = cowroot.Image.default()

    def loop():
        t = time.perf_counter()
        for _ in range(N_CASES):
            with cowroot.Chroot(image) as c:
                assert c.call(["sh", "-c", CASE]) == 0
        return time.perf_counter() - t
    s = min(loop() for _ in range(3))
    print("%-24s %10.2f %14.0f %12s %16s" % ("loop: Chroot, call, close", s, N_CASES / s, "-", "-"))


def main():
    print("# %s  python %s  as uid %d" % (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                                         sys.version.split()[0], os.getuid()))
    binding()
    with tempfile.TemporaryDirectory(prefix="cowroot-pybench.") as d:
        cases(d)


if __name__ == "__main__":
    main()
