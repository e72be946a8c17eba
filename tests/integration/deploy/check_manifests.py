#!/usr/bin/env python3
"""check_manifests.py - checks deploy/compose.yaml, deploy/kubernetes/*.yaml
and deploy/pgmld.conf without a container engine or a cluster: YAML that
parses, the fields each kind needs, references that resolve (selectors,
ConfigMap, Secret, volumes), and configuration keys and defaults that match
the settings pgmld itself knows (`pgmld --help`).

Usage: check_manifests.py SOURCE_DIR PGMLD_BINARY
Exits 77 (skipped) when PyYAML is not installed."""
import configparser
import os
import re
import subprocess
import sys

try:
    import yaml
except ImportError:
    print("check_manifests: PyYAML is not installed (scripts/requirements-dev.txt)",
          file=sys.stderr)
    sys.exit(77)

errors = []


def fail(where, msg):
    errors.append("%s: %s" % (where, msg))


def pgmld_settings(binary):
    """{(section, key): default} from `pgmld --help`."""
    out = subprocess.run([binary, "--help"], check=True, capture_output=True,
                         text=True).stdout
    settings, section = {}, None
    for line in out.splitlines():
        m = re.match(r"^\[(\w+)\]$", line)
        if m:
            section = m.group(1)
            continue
        m = re.match(r"^\s{6}(\w+) = (.*?)   \(env PGMLD_\w+\)$", line)
        if m and section:
            default = m.group(2)
            settings[(section, m.group(1))] = "" if default == '""' else default
    if len(settings) < 10:
        raise SystemExit("check_manifests: could not read the settings from %s --help"
                         % binary)
    return settings


def check_conf(src, settings):
    """deploy/pgmld.conf shows every setting, commented out, with its default."""
    where = "deploy/pgmld.conf"
    seen, section = {}, None
    for n, line in enumerate(open(os.path.join(src, where), encoding="utf-8"), 1):
        line = line.rstrip("\n")
        m = re.match(r"^\[(\w+)\]$", line)
        if m:
            section = m.group(1)
            continue
        m = re.match(r"^#(\w+) =\s?(.*)$", line)
        if m:
            seen[(section, m.group(1))] = (n, m.group(2))
        elif line and not line.startswith("#"):
            fail(where, "line %d is not commented out: %s" % (n, line))
    for key, default in settings.items():
        if key not in seen:
            fail(where, "setting %s.%s is missing" % key)
        elif seen[key][1] != default:
            fail(where, "line %d: %s.%s shows %r, pgmld's default is %r"
                 % (seen[key][0], key[0], key[1], seen[key][1], default))
    for key in seen:
        if key not in settings:
            fail(where, "%s.%s is not a pgmld setting" % key)


def check_ini_keys(where, text, settings):
    """An INI text whose every key is a pgmld setting."""
    cp = configparser.ConfigParser(interpolation=None, comment_prefixes=("#", ";"))
    try:
        cp.read_string(text)
    except configparser.Error as e:
        fail(where, "not a valid INI file: %s" % e)
        return
    for section in cp.sections():
        for key in cp[section]:
            if (section, key) not in settings:
                fail(where, "%s.%s is not a pgmld setting" % (section, key))


def check_compose(src):
    where = "deploy/compose.yaml"
    doc = yaml.safe_load(open(os.path.join(src, where), encoding="utf-8"))
    services = doc.get("services") or {}
    for name in ("postgres", "pgmld", "client"):
        if name not in services:
            fail(where, "no service %s" % name)
    if errors:
        return
    if not str(services["postgres"].get("image", "")).startswith("pgvector/pgvector:"):
        fail(where, "postgres does not use a pgvector/pgvector image")
    pg = services["pgmld"]
    build = pg.get("build") or {}
    cf = os.path.normpath(os.path.join(src, "deploy", build.get("context", "."),
                                       build.get("dockerfile", "Dockerfile")))
    if not os.path.exists(cf):
        fail(where, "pgmld's build file %s does not exist" % cf)
    if "pgmlctl" not in " ".join(pg.get("healthcheck", {}).get("test", [])):
        fail(where, "pgmld's healthcheck does not run pgmlctl")
    if "PGMLD_DATABASE_URL" not in (pg.get("environment") or {}):
        fail(where, "pgmld is not given PGMLD_DATABASE_URL")
    cl = services["client"]
    if cl.get("restart") != "no":
        fail(where, "the client should be one-shot (restart: \"no\")")
    if (cl.get("depends_on") or {}).get("pgmld", {}).get("condition") != "service_healthy":
        fail(where, "the client does not wait for pgmld to be healthy")
    if "pgmlctl" not in str(cl.get("command")):
        fail(where, "the client does not run pgmlctl")
    # Volumes: named ones are declared, bind mounts exist.
    declared = set((doc.get("volumes") or {}).keys())
    for sname, svc in services.items():
        for v in svc.get("volumes", []):
            source = v.split(":")[0]
            if source.startswith("."):
                if not os.path.exists(os.path.join(src, "deploy", source)):
                    fail(where, "%s mounts %s, which does not exist" % (sname, source))
            elif source not in declared:
                fail(where, "%s uses volume %s, which is not declared" % (sname, source))
        for dep in (svc.get("depends_on") or {}):
            if dep not in services:
                fail(where, "%s depends on unknown service %s" % (sname, dep))
    return len(services)


def check_kubernetes(src, settings):
    kdir = os.path.join(src, "deploy/kubernetes")
    objs = {}
    for f in sorted(os.listdir(kdir)):
        if not f.endswith(".yaml") or f == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(open(os.path.join(kdir, f), encoding="utf-8")):
            if doc is None:
                continue
            where = "deploy/kubernetes/" + f
            for k in ("apiVersion", "kind", "metadata"):
                if k not in doc:
                    fail(where, "no %s" % k)
            name = (doc.get("metadata") or {}).get("name")
            if not name:
                fail(where, "no metadata.name")
            objs[(doc.get("kind"), name)] = (where, doc)
    kust = yaml.safe_load(open(os.path.join(kdir, "kustomization.yaml"), encoding="utf-8"))
    for r in kust.get("resources", []):
        if not os.path.exists(os.path.join(kdir, r)):
            fail("deploy/kubernetes/kustomization.yaml", "resource %s does not exist" % r)

    deps = [v for k, v in objs.items() if k[0] == "Deployment"]
    if len(deps) != 1:
        fail("deploy/kubernetes", "expected one Deployment, found %d" % len(deps))
        return len(objs)
    where, dep = deps[0]
    spec = dep["spec"]
    labels = spec["template"]["metadata"]["labels"]
    sel = spec["selector"]["matchLabels"]
    if any(labels.get(k) != v for k, v in sel.items()):
        fail(where, "selector %s does not match the pod labels %s" % (sel, labels))
    pod = spec["template"]["spec"]
    if not pod.get("securityContext", {}).get("runAsNonRoot"):
        fail(where, "pod does not set runAsNonRoot")
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    containers = pod.get("containers", [])
    pgmld = [c for c in containers if c["name"] == "pgmld"]
    if not pgmld:
        fail(where, "no container pgmld")
        return len(objs)
    c = pgmld[0]
    for probe in ("livenessProbe", "readinessProbe"):
        p = c.get(probe)
        if not p:
            fail(where, "pgmld has no %s" % probe)
        elif "pgmlctl" not in str(p.get("exec", {}).get("command")) and "httpGet" not in p:
            fail(where, "%s neither runs pgmlctl nor asks HTTP" % probe)
    sc = c.get("securityContext", {})
    if sc.get("allowPrivilegeEscalation") is not False:
        fail(where, "pgmld allows privilege escalation")
    for m in c.get("volumeMounts", []):
        if m["name"] not in volumes:
            fail(where, "mount %s names no volume" % m["name"])
    for v in volumes.values():
        cm = (v.get("configMap") or {}).get("name")
        if cm and ("ConfigMap", cm) not in objs:
            fail(where, "volume %s uses ConfigMap %s, which is not defined" % (v["name"], cm))
    for e in c.get("env", []):
        ref = (e.get("valueFrom") or {}).get("secretKeyRef")
        if ref:
            s = objs.get(("Secret", ref["name"]))
            if not s:
                fail(where, "env %s uses Secret %s, which is not defined" % (e["name"], ref["name"]))
            elif ref["key"] not in (s[1].get("stringData") or s[1].get("data") or {}):
                fail(where, "env %s uses key %s, which Secret %s lacks"
                     % (e["name"], ref["key"], ref["name"]))
    for (kind, name), (w, o) in objs.items():
        if kind == "Service":
            ssel = o["spec"].get("selector", {})
            if any(labels.get(k) != v for k, v in ssel.items()):
                fail(w, "Service %s selects no pod of the Deployment" % name)
        if kind == "ConfigMap":
            text = (o.get("data") or {}).get("pgmld.conf")
            if text is None:
                fail(w, "ConfigMap %s has no pgmld.conf" % name)
            else:
                check_ini_keys(w, text, settings)
    return len(objs)


def main():
    src, binary = sys.argv[1], sys.argv[2]
    settings = pgmld_settings(binary)
    check_conf(src, settings)
    n_services = check_compose(src)
    n_objs = check_kubernetes(src, settings)
    for e in errors:
        print(e, file=sys.stderr)
    if errors:
        return 1
    print("pgmld.conf: %d settings match pgmld --help; compose: %s services; "
          "kubernetes: %d objects" % (len(settings), n_services, n_objs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
