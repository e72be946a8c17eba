#!/usr/bin/env python3
"""check_containerfile.py - lints deploy/container/Containerfile without a
container engine: stages, base images, the packages scripts/bootstrap.sh
installs, files copied from the context, a non-root USER and a HEALTHCHECK
in the final stage.  Usage: check_containerfile.py SOURCE_DIR

It first checks itself: copies of the Containerfile with the USER, the
HEALTHCHECK or the slim stage taken away must fail."""
import json
import os
import re
import shlex
import sys

errors = []


def fail(msg):
    errors.append(msg)


def instructions(text):
    """(lineno, KEYWORD, args) with continuation lines joined, comments dropped."""
    out, buf, start = [], "", 0
    for n, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if not buf and (not s or s.startswith("#")):
            continue
        if buf and s.startswith("#"):
            continue
        if not buf:
            start = n
        if s.endswith("\\"):
            buf += s[:-1] + " "
            continue
        buf += s
        kw, _, rest = buf.partition(" ")
        out.append((start, kw.upper(), rest.strip()))
        buf = ""
    if buf:
        fail("line %d: instruction continues past the end of the file" % start)
    return out


def check(src, text):
    ins = instructions(text)
    known = {"FROM", "RUN", "COPY", "ADD", "WORKDIR", "ENV", "ARG", "USER", "EXPOSE",
             "VOLUME", "HEALTHCHECK", "ENTRYPOINT", "CMD", "LABEL", "STOPSIGNAL", "SHELL"}
    stages = []          # [name, base, [instructions]]
    for n, kw, args in ins:
        if kw not in known:
            fail("line %d: unknown instruction %s" % (n, kw))
        if kw == "FROM":
            m = re.match(r"(\S+)(?:\s+AS\s+(\S+))?$", args, re.I)
            if not m:
                fail("line %d: cannot parse FROM %s" % (n, args))
                continue
            stages.append([m.group(2), m.group(1), []])
        elif not stages:
            if kw != "ARG":
                fail("line %d: %s before the first FROM" % (n, kw))
        else:
            stages[-1][2].append((n, kw, args))

    if len(stages) < 2:
        fail("expected a build stage and a run stage, found %d FROM" % len(stages))
        return
    build, run = stages[0], stages[-1]
    if build[1] != "debian:bookworm":
        fail("build stage is FROM %s, expected debian:bookworm" % build[1])
    if run[1] != "debian:bookworm-slim":
        fail("run stage is FROM %s, expected debian:bookworm-slim" % run[1])
    names = {s[0] for s in stages if s[0]}

    # The build stage installs what scripts/bootstrap.sh installs (minus
    # test tools), so that the image builds like the project does.
    boot = open(os.path.join(src, "scripts/bootstrap.sh"), encoding="utf-8").read()
    m = re.search(r"apt_packages=\((.*?)\)", boot, re.S)
    boot_pkgs = set(m.group(1).split()) if m else set()
    if not boot_pkgs:
        fail("cannot find apt_packages in scripts/bootstrap.sh")
    extra_ok = {"ca-certificates", "python3"}
    needed = {"build-essential", "cmake", "ninja-build", "pkg-config", "libuv1-dev",
              "libpq-dev", "protobuf-compiler", "protobuf-c-compiler", "libprotobuf-c-dev",
              "nanopb", "libnanopb-dev", "libjansson-dev", "libinih-dev", "libxxhash-dev"}
    build_pkgs = set()
    for n, kw, args in build[2]:
        if kw == "RUN" and "apt-get install" in args:
            words = [w for w in shlex.split(args.split("apt-get install", 1)[1].split("&&")[0])
                     if not w.startswith("-")]
            build_pkgs |= set(words)
    for p in sorted(build_pkgs - boot_pkgs - extra_ok):
        fail("build stage installs %s, which scripts/bootstrap.sh does not" % p)
    for p in sorted(needed - build_pkgs):
        fail("build stage does not install %s (needed to build pgmld)" % p)

    # Every stage: COPY --from names a stage; COPY sources exist in the context.
    for name, base, body in stages:
        for n, kw, args in body:
            if kw not in ("COPY", "ADD"):
                continue
            words = shlex.split(args)
            flags = [w for w in words if w.startswith("--")]
            paths = [w for w in words if not w.startswith("--")]
            frm = [f.split("=", 1)[1] for f in flags if f.startswith("--from=")]
            if frm:
                if frm[0] not in names:
                    fail("line %d: COPY --from=%s names no stage" % (n, frm[0]))
                continue
            for p in paths[:-1]:
                if p != "." and not os.path.exists(os.path.join(src, p)):
                    fail("line %d: COPY source %s is not in the repository" % (n, p))

    # The run stage: non-root USER last, a HEALTHCHECK that runs pgmlctl,
    # an ENTRYPOINT that starts pgmld.
    users = [(n, a) for n, kw, a in run[2] if kw == "USER"]
    if not users:
        fail("run stage has no USER: it would run as root")
    else:
        user = users[-1][1].split(":")[0]
        if user in ("root", "0"):
            fail("line %d: run stage runs as %s" % (users[-1][0], user))
        if not any(kw == "RUN" and ("useradd" in a or "adduser" in a) for _, kw, a in run[2]):
            fail("run stage creates no user for USER %s" % user)
    hc = [a for _, kw, a in run[2] if kw == "HEALTHCHECK"]
    if not hc:
        fail("run stage has no HEALTHCHECK")
    elif "CMD" not in hc[-1] or "pgmlctl" not in hc[-1] and "/healthz" not in hc[-1]:
        fail("HEALTHCHECK does not run pgmlctl nor ask /healthz: %s" % hc[-1])
    eps = [a for _, kw, a in run[2] if kw == "ENTRYPOINT"]
    if not eps:
        fail("run stage has no ENTRYPOINT")
    else:
        try:
            ep = json.loads(eps[-1])
        except ValueError:
            fail("ENTRYPOINT is not in exec (JSON) form: %s" % eps[-1])
        else:
            if not ep or os.path.basename(ep[0]) != "pgmld":
                fail("ENTRYPOINT does not start pgmld: %s" % eps[-1])

    return "%d stages (%s), run stage FROM %s as %s, HEALTHCHECK %s" % (
        len(stages), ", ".join(s[0] or "-" for s in stages), run[1],
        users[-1][1] if users else "?", "yes" if hc else "no")


def main():
    src = sys.argv[1]
    text = open(os.path.join(src, "deploy/container/Containerfile"), encoding="utf-8").read()
    broken = {
        "no USER": re.sub(r"(?m)^USER .*$", "", text),
        "USER root": re.sub(r"(?m)^USER .*$", "USER root", text),
        "no HEALTHCHECK": re.sub(r"(?m)^HEALTHCHECK .*\\\n.*$", "", text),
        "one stage": re.sub(r"(?m)^FROM debian:bookworm-slim$", "", text),
        "unknown package": text.replace("libuv1-dev", "libuv1-dev left-pad"),
    }
    for what, bad in broken.items():
        del errors[:]
        check(src, bad)
        if not errors:
            print("Containerfile check: self-test failed: %s was not caught" % what,
                  file=sys.stderr)
            return 1
    del errors[:]
    summary = check(src, text)
    for e in errors:
        print("Containerfile: " + e, file=sys.stderr)
    if errors:
        return 1
    print("Containerfile: " + summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
