#!/usr/bin/env python3
"""Generates the front doors of libcowroot.so from preload/ops.tbl.

  gen-ops.py TABLE DOORS.cc OPTABLE.cc   write the generated sources
  gen-ops.py --check-exports TABLE LIB   exit 1 unless LIB exports exactly
                                         the table's libc names
  gen-ops.py --list TABLE                one line a door: kind name op how

The table's format is described at its top. DOORS.cc holds the generated
libc wrappers and cr::wrap::syscall_door (the system call dispatch);
OPTABLE.cc holds the table as data for the core (cr::kOps, cr::kSysDoors).
"""
import re
import subprocess
import sys

TRAITS = {"path": "kOpPath", "fd": "kOpFd", "writes": "kOpWrites", "identity": "kOpIdentity",
          "follow=last": "kOpFollowLast", "follow=flag": "kOpFollowFlag", "follow=never": 0}


class TableError(Exception):
    pass


def split_params(s):
    """Splits a parameter list at its top-level commas."""
    out, depth, cur = [], 0, ""
    for ch in s:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur.strip())
    return out


def param_name(p):
    m = re.search(r"\(\s*\*\s*(\w+)\s*\)", p)  # a function pointer: int (*name)(...)
    if m:
        return m.group(1)
    m = re.search(r"(\w+)\s*(\[\s*\d*\s*\])?$", p)
    if not m:
        raise TableError(f"no parameter name in '{p}'")
    return m.group(1)


def param_type(p):
    name = param_name(p)
    if re.search(r"\(\s*\*\s*" + name + r"\s*\)", p):
        return re.sub(r"\(\s*\*\s*" + name + r"\s*\)", "(*)", p)
    return re.sub(r"\b" + name + r"\s*$", "", p).strip()


def parse_proto(text):
    m = re.match(r"^(.*?)\b(\w+)\s*\((.*)\)$", text.strip())
    if not m:
        raise TableError(f"not a prototype: '{text}'")
    ret, name, params = m.group(1).strip(), m.group(2), m.group(3).strip()
    plist = [] if params in ("", "void") else split_params(params)
    return ret, name, plist


def parse(path):
    includes, ops = [], []
    for n, raw in enumerate(open(path), 1):
        line = raw.split("#", 1)[0].rstrip() if not raw.lstrip().startswith("include") else raw.rstrip()
        if not line.strip():
            continue
        where = f"{path}:{n}"
        try:
            words = line.split()
            if words[0] == "include":
                includes.append(words[1])
            elif words[0] == "op":
                op = {"name": words[1], "core": None, "traits": [], "in": None, "doors": [], "where": where}
                for w in words[2:]:
                    if w.startswith("core="):
                        op["core"] = w[5:]
                    elif w.startswith("in="):
                        op["in"] = w[3:]
                    elif w in TRAITS:
                        op["traits"].append(w)
                    else:
                        raise TableError(f"unknown trait '{w}'")
                if not op["core"]:
                    raise TableError("an op needs core=")
                ops.append(op)
            elif words[0] in ("libc", "sys"):
                if not ops:
                    raise TableError("a door before any op")
                ops[-1]["doors"].append(parse_door(words[0], line.strip()[len(words[0]):].strip(), ops[-1], where))
            else:
                raise TableError(f"unknown line kind '{words[0]}'")
        except TableError as e:
            raise TableError(f"{where}: {e}")
    return includes, ops


def parse_door(kind, rest, op, where):
    d = {"kind": kind, "where": where, "how": None, "expr": None, "raw": False}
    if rest.endswith(" hand"):
        d["how"] = "hand"
        proto = rest[:-5]
        if not op["in"]:
            raise TableError("a hand-written door needs its op's in=FILE")
    elif re.search(r"\spass\((.*)\)$", rest):
        m = re.search(r"\spass\((.*)\)$", rest)
        d["how"] = "pass"
        proto = rest[:m.start()]
        a = split_params(m.group(1))
        if len(a) != 2:
            raise TableError("pass(PARAM, FOLLOW)")
        d["pass_param"], d["pass_follow"] = a
    elif "=>" in rest:
        proto, expr = rest.split("=>", 1)
        proto = proto.strip()
        if proto.endswith(" raw"):
            d["raw"] = True
            proto = proto[:-4]
        expr = expr.strip()
        d["how"] = "call"
        d["expr"] = f"{op['core']}{expr}" if expr.startswith("(") else expr
    else:
        raise TableError("a door needs '=> ...', 'pass(...)' or 'hand'")
    if kind == "sys":
        m = re.match(r"^(\w+)\s*\((.*)\)$", proto.strip())
        if not m:
            raise TableError(f"not a system call: '{proto}'")
        d["name"], d["params"] = m.group(1), split_params(m.group(2))
        if d["how"] == "pass":
            raise TableError("a system call cannot pass")
    else:
        d["ret"], d["name"], d["params"] = parse_proto(proto)
    return d


def error_value(ret):
    return "nullptr" if ret.endswith("*") or ret in ("DIR*", "FILE*") else "-1"


def emit_libc(d):
    ret, name, params = d["ret"], d["name"], d["params"]
    sig = f'EXPORT {ret} {name}({", ".join(params)})'
    variadic = params and params[-1] == "..."
    if d["how"] == "call":
        if variadic:
            last = param_name(params[-2])
            return (f"{sig} {{\n  ensure();\n  va_list ap;\n  va_start(ap, {last});\n"
                    f"  {ret} r_ = {d['expr']};\n  va_end(ap);\n  return r_;\n}}")
        return f"{sig} {{\n  ensure();\n  return {d['expr']};\n}}"
    # pass: the path resolved inside the root, then libc's own function
    types = ", ".join(param_type(p) for p in params)
    args = ", ".join(param_name(p) for p in params)
    p = d["pass_param"]
    return (f"{sig} {{\n  ensure();\n  using fn_t = {ret} (*)({types});\n"
            f"  static auto fn = real<fn_t>(\"{name}\");\n"
            f"  Resolved r_;\n"
            f"  if (int e_ = resolve(AT_FDCWD, {p}, {d['pass_follow']}, &r_)) {{\n"
            f"    errno = -e_;\n    return {error_value(ret)};\n  }}\n"
            f"  {p} = r_.path;\n  return fn({args});\n}}")


def emit_sys(d):
    decls = "".join(f" {param_type(p)} {param_name(p)} = ({param_type(p)})args_[{i}];"
                    for i, p in enumerate(d["params"]))
    body = f"return {d['expr']};" if d["raw"] else f"return kernel_result((long)({d['expr']}));"
    return f"#ifdef SYS_{d['name']}\n    case SYS_{d['name']}: {{{decls} {body} }}\n#endif"


def generate(table, doors_out, optable_out):
    includes, ops = parse(table)
    seen = {}
    for op in ops:
        for d in op["doors"]:
            key = (d["kind"], d["name"])
            if key in seen:
                raise TableError(f"{d['where']}: {d['kind']} {d['name']} is listed already at {seen[key]}")
            seen[key] = d["where"]
    out = ["// Generated by mk/gen-ops.py from preload/ops.tbl: edit the table, not this file.",
           *[f"#include {i}" for i in includes], "", '#include "doors.h"', "",
           ""]
    for op in ops:
        libc = [d for d in op["doors"] if d["kind"] == "libc" and d["how"] != "hand"]
        if libc:
            out.append(f"// ---- {op['name']}: {op['core']}")
            out += [emit_libc(d) for d in libc]
            out.append("")
    out += ["namespace cr::wrap {", "",
            "long syscall_door(long nr, const long* args_, bool* served) {",
            "  *served = true;", "  switch (nr) {"]
    for op in ops:
        out += [emit_sys(d) for d in op["doors"] if d["kind"] == "sys"]
    out += ["  }", "  *served = false;", "  return 0;", "}", "", "}  // namespace cr::wrap", ""]
    open(doors_out, "w").write("\n".join(out))

    t = ["// Generated by mk/gen-ops.py from preload/ops.tbl: edit the table, not this file.",
         "#include <sys/syscall.h>", "", '#include "optable.h"', "", "namespace cr {", "",
         "const OpInfo kOps[] = {"]
    for op in ops:
        traits = " | ".join(TRAITS[x] for x in op["traits"] if TRAITS[x]) or "0"
        nlibc = sum(1 for d in op["doors"] if d["kind"] == "libc")
        t.append(f'    {{"{op["name"]}", "{op["core"]}", {traits}, {nlibc}}},')
    t += ["};", "const size_t kNumOps = sizeof kOps / sizeof kOps[0];", "", "const SysDoor kSysDoors[] = {"]
    for i, op in enumerate(ops):
        for d in op["doors"]:
            if d["kind"] == "sys":
                t += [f"#ifdef SYS_{d['name']}", f'    {{SYS_{d["name"]}, "{d["name"]}", {i}}},', "#endif"]
    t += ["};", "const size_t kNumSysDoors = sizeof kSysDoors / sizeof kSysDoors[0];", "", "}  // namespace cr", ""]
    open(optable_out, "w").write("\n".join(t))


def libc_names(table):
    _, ops = parse(table)
    return {d["name"] for op in ops for d in op["doors"] if d["kind"] == "libc"}


def check_exports(table, lib):
    out = subprocess.run(["nm", "-D", "--defined-only", lib], capture_output=True, text=True, check=True).stdout
    exported = {p[2].split("@")[0] for p in (l.split() for l in out.splitlines()) if len(p) >= 3}
    listed = libc_names(table)
    bad = False
    for n in sorted(exported - listed):
        print(f"{lib}: exports {n}, which {table} does not list", file=sys.stderr)
        bad = True
    for n in sorted(listed - exported):
        print(f"{table}: lists {n}, which {lib} does not export", file=sys.stderr)
        bad = True
    return 1 if bad else 0


def main(argv):
    try:
        if len(argv) == 4 and argv[1] == "--check-exports":
            return check_exports(argv[2], argv[3])
        if len(argv) == 3 and argv[1] == "--list":
            _, ops = parse(argv[2])
            for op in ops:
                for d in op["doors"]:
                    print(d["kind"], d["name"], op["name"], d["how"] if d["how"] != "call" else d["expr"])
            return 0
        if len(argv) == 4:
            generate(argv[1], argv[2], argv[3])
            return 0
    except TableError as e:
        print(f"gen-ops: {e}", file=sys.stderr)
        return 1
    print(__doc__, file=sys.stderr)
    return 2


sys.exit(main(sys.argv))
