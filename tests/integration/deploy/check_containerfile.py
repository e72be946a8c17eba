#!/usr/bin/env python3
"""check_containerfile.py - lints deploy/container/Containerfile without a
container engine: stages, base images, the packages scripts/bootstrap.sh
installs, files copied from the context, a non-root USER and, in the final
stage, a HEALTHCHECK that asks GET /healthz at the port http.listen
(PGMLD_HTTP_LISTEN, else the image's pgmld.conf) serves and EXPOSEs through an executable bash script the image copies.
Usage: check_containerfile.py SOURCE_DIR

It first checks itself: copies of the Containerfile with the USER, the
HEALTHCHECK, its path or port, http.listen, EXPOSE or the slim stage taken
away or changed must fail."""
import configparser
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


def env_of(body):
    """The run stage's ENV as a dict (KEY=VALUE form, several per line)."""
    env = {}
    for _, kw, args in body:
        if kw == "ENV":
            for w in shlex.split(args):
                k, eq, v = w.partition("=")
                if eq:
                    env[k] = v
    return env


def http_setting(src, body, key):
    """http.<key> as pgmld in the image sees it: PGMLD_HTTP_<KEY>, else the
    [http] <key> of the file COPY puts at /etc/pgmld/pgmld.conf."""
    env = env_of(body).get("PGMLD_HTTP_" + key.upper())
    if env is not None:
        return env
    for _, kw, args in body:
        words = shlex.split(args) if kw == "COPY" else []
        if len(words) == 2 and words[1] == "/etc/pgmld/pgmld.conf":
            cp = configparser.ConfigParser(interpolation=None)
            cp.read(os.path.join(src, words[0]), encoding="utf-8")
            return cp.get("http", key, fallback="")
    return ""


def http_listen(src, body):
    listen = http_setting(src, body, "listen")
    host = listen.rsplit(":", 1)[0]
    if listen and host not in ("127.0.0.1", "[::1]", "localhost") and \
            http_setting(src, body, "allow_public").lower() not in ("true", "yes", "on", "1"):
        fail("http.listen %s is not loopback and http.allow_public is not true: "
             "pgmld would refuse to start" % listen)
    return listen


def check_healthcheck(src, body, hc):
    """The HEALTHCHECK asks GET /healthz, through a script the image has, at
    the port pgmld's http.listen (PGMLD_HTTP_LISTEN) serves."""
    opts, _, cmd = hc.partition("CMD")
    if not cmd:
        fail("HEALTHCHECK has no CMD: %s" % hc)
        return
    try:
        argv = json.loads(cmd)
    except ValueError:
        fail("HEALTHCHECK CMD is not in exec (JSON) form: %s" % cmd.strip())
        return
    if "/healthz" not in argv:
        fail("HEALTHCHECK does not ask /healthz: %s" % cmd.strip())
    listen = http_listen(src, body)
    if not listen:
        fail("neither PGMLD_HTTP_LISTEN nor the image's /etc/pgmld/pgmld.conf sets "
             "http.listen: /healthz would not be served")
    else:
        port = listen.rsplit(":", 1)[-1]
        if not any(a.endswith(":" + port) for a in argv):
            fail("HEALTHCHECK %s does not ask port %s of PGMLD_HTTP_LISTEN=%s"
                 % (cmd.strip(), port, listen))
        exposed = [a for _, kw, a in body if kw == "EXPOSE"]
        if not any(port in e.split() for e in exposed):
            fail("the run stage does not EXPOSE %s (http.listen)" % port)
    # The program must be in the image: copied from the repository.
    prog = argv[0] if argv else ""
    copied = {}
    for _, kw, args in body:
        if kw == "COPY" and "--from=" not in args:
            words = shlex.split(args)
            copied[words[-1]] = words[:-1]
    srcs = copied.get(prog) or copied.get("/usr/bin/" + prog) or []
    if not srcs:
        fail("HEALTHCHECK runs %s, which no COPY puts in the image" % prog)
    for f in srcs:
        path = os.path.join(src, f)
        if not os.access(path, os.X_OK):
            fail("%s (the health check) is not executable" % f)
        elif not open(path, encoding="utf-8").readline().startswith("#!/bin/bash"):
            fail("%s does not start with #!/bin/bash (it needs bash's /dev/tcp)" % f)


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
    else:
        check_healthcheck(src, run[2], hc[-1])
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
        users[-1][1] if users else "?", hc[-1].partition("CMD")[2].strip() if hc else "no")


def main():
    src = sys.argv[1]
    text = open(os.path.join(src, "deploy/container/Containerfile"), encoding="utf-8").read()
    broken = {
        "no USER": re.sub(r"(?m)^USER .*$", "", text),
        "USER root": re.sub(r"(?m)^USER .*$", "USER root", text),
        "no HEALTHCHECK": re.sub(r"(?m)^HEALTHCHECK .*\\\n.*$", "", text),
        "HEALTHCHECK on /readyz": re.sub(r'(?m)^(  CMD .*)"/healthz"', r'\1"/readyz"', text),
        "HEALTHCHECK on another port": re.sub(r'(?m)^(  CMD .*):9187"', r'\1:9188"', text),
        "no http.listen": text.replace("COPY deploy/container/pgmld.conf /etc/pgmld/",
                                       "COPY deploy/pgmld.conf /etc/pgmld/"),
        "http.listen elsewhere": text.replace("USER pgmld:pgmld",
                                              "USER pgmld:pgmld\nENV PGMLD_HTTP_LISTEN=:9100"),
        "no EXPOSE": re.sub(r"(?m)^EXPOSE .*$", "", text),
        "public http.listen refused": text.replace(
            "USER pgmld:pgmld", "USER pgmld:pgmld\nENV PGMLD_HTTP_ALLOW_PUBLIC=false"),
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
