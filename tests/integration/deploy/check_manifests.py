#!/usr/bin/env python3
"""check_manifests.py - checks deploy/compose.yaml, deploy/kubernetes/*.yaml
and deploy/pgmld.conf without a container engine or a cluster: YAML that
parses, the fields each kind needs, references that resolve (selectors,
ConfigMap, Secret, volumes), configuration keys and defaults that match
the settings pgmld itself knows (`pgmld --help`), and probes, health checks,
ports and WebSocket tokens that agree with the pgmld.conf each deployment
uses.  It first proves itself on broken copies of deploy/ (MUTATIONS).

Usage: check_manifests.py SOURCE_DIR PGMLD_BINARY
Exits 77 (skipped) when PyYAML is not installed."""
import configparser
import hashlib
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


def ini(text):
    cp = configparser.ConfigParser(interpolation=None, comment_prefixes=("#", ";"))
    try:
        cp.read_string(text)
    except configparser.Error:
        return None
    return cp


def port_of(listen):
    """The port of a host:port setting, or None."""
    m = re.match(r"^(?:\[[0-9a-fA-F:.]*\]|[^:\[\]]*):(\d+)$", listen or "")
    return int(m.group(1)) if m else None


def is_loopback(listen):
    host = (listen or "").rsplit(":", 1)[0]
    return host in ("127.0.0.1", "[::1]", "localhost") or host.startswith("127.")


def check_tokens(where, text):
    """A tokens file pgmld accepts: # comments, blank lines, sha256:<hex>.
    Returns the hashes."""
    hashes = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if not re.match(r"^sha256:[0-9a-f]{64}$", line):
            fail(where, "tokens line %d is not sha256:<64 hex digits>" % n)
        else:
            hashes.append(line[7:])
    if not hashes:
        fail(where, "the tokens file holds no token: every WebSocket client would be refused")
    return hashes


def truthy(v):
    return str(v).lower() in ("true", "yes", "on", "1")


def check_ws_auth(where, ws_listen, tokens_file, tls_cert, insecure):
    """pgmld's own rules for a non-loopback WebSocket listener, and ours:
    a shipped deployment never serves one without tokens."""
    if not ws_listen or is_loopback(ws_listen):
        return
    if not tokens_file:
        fail(where, "websocket.listen %s is not loopback and no auth.tokens_file is set: "
             "anyone who reaches it could call pgmld" % ws_listen)
    elif not tls_cert and not truthy(insecure):
        fail(where, "websocket.listen %s is not loopback, without TLS and without "
             "websocket.allow_insecure_public: pgmld would refuse to start" % ws_listen)


def check_http_public(where, http, allow_public):
    if http and not is_loopback(http) and not truthy(allow_public):
        fail(where, "http.listen %s is not loopback and http.allow_public is not true: "
             "pgmld would refuse to start" % http)


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
    env = {k: str(v) for k, v in (pg.get("environment") or {}).items()}
    if "PGMLD_DATABASE_URL" not in env:
        fail(where, "pgmld is not given PGMLD_DATABASE_URL")
    # http.listen as pgmld in the container sees it: the environment, else
    # the image's pgmld.conf.
    image_conf = ini(open(os.path.join(src, "deploy/container/pgmld.conf"),
                          encoding="utf-8").read())
    http = env.get("PGMLD_HTTP_LISTEN", image_conf.get("http", "listen", fallback=""))
    hport = port_of(http)
    test = [str(w) for w in pg.get("healthcheck", {}).get("test", [])]
    if not hport:
        fail(where, "pgmld has no http.listen (image pgmld.conf or PGMLD_HTTP_LISTEN)")
    elif not any(p in test for p in ("/healthz", "/readyz")):
        fail(where, "pgmld's healthcheck asks neither /healthz nor /readyz: %s" % test)
    elif not any(w.endswith(":%d" % hport) for w in test):
        fail(where, "pgmld's healthcheck %s does not ask port %d of http.listen %s"
             % (test, hport, http))
    if test[:2] != ["CMD", "pgmld-healthcheck"]:
        fail(where, "pgmld's healthcheck does not run pgmld-healthcheck (the image's): %s"
             % test)
    # WebSocket: a tokens file from a declared secret, holding the hash of
    # the token the client uses.
    ws = env.get("PGMLD_WEBSOCKET_LISTEN", image_conf.get("websocket", "listen", fallback=""))
    tfile = env.get("PGMLD_AUTH_TOKENS_FILE", "")
    check_ws_auth(where, ws, tfile,
                  env.get("PGMLD_TLS_CERT_FILE", image_conf.get("tls", "cert_file", fallback="")),
                  env.get("PGMLD_WEBSOCKET_ALLOW_INSECURE_PUBLIC",
                          image_conf.get("websocket", "allow_insecure_public", fallback="false")))
    check_http_public(where, http, env.get("PGMLD_HTTP_ALLOW_PUBLIC",
                                           image_conf.get("http", "allow_public",
                                                          fallback="false")))
    hashes = []
    if tfile:
        sname = tfile.rsplit("/", 1)[-1]
        top = (doc.get("secrets") or {}).get(sname)
        if not tfile.startswith("/run/secrets/") or sname not in (pg.get("secrets") or []):
            fail(where, "auth.tokens_file %s is not a secret given to pgmld" % tfile)
        elif not top or not os.path.exists(os.path.join(src, "deploy", top.get("file", ""))):
            fail(where, "secret %s is not declared with an existing file" % sname)
        else:
            hashes = check_tokens(where + " (secret %s)" % sname,
                                  open(os.path.join(src, "deploy", top["file"]),
                                       encoding="utf-8").read())
    published = set()
    for p in pg.get("ports", []):
        parts = str(p).split(":")
        published.add(int(parts[-1].split("/")[0]))
        if len(parts) < 3 or parts[0] not in ("127.0.0.1", "[::1]"):
            fail(where, "port %s is published on every host address, not loopback" % p)
    for what, port in (("http.listen", hport), ("websocket.listen", port_of(ws))):
        if port and port not in published:
            fail(where, "%s port %d is not published" % (what, port))
    cl = services["client"]
    if cl.get("restart") != "no":
        fail(where, "the client should be one-shot (restart: \"no\")")
    if (cl.get("depends_on") or {}).get("pgmld", {}).get("condition") != "service_healthy":
        fail(where, "the client does not wait for pgmld to be healthy")
    if "pgmlctl" not in str(cl.get("command")):
        fail(where, "the client does not run pgmlctl")
    for tok in re.findall(r"PGML_TOKEN=(\S+)", str(cl.get("command"))):
        if hashlib.sha256(tok.encode()).hexdigest() not in hashes:
            fail(where, "the client's PGML_TOKEN %s is not in pgmld's tokens file" % tok)
    for addr in re.findall(r"ws://[^\s/]+:(\d+)", str(cl.get("command"))):
        if int(addr) != port_of(ws):
            fail(where, "the client connects to port %s, websocket.listen is %s" % (addr, ws))
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
    cports = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}

    def resolve(port):
        return cports.get(port) if isinstance(port, str) else port

    conf = None
    for (kind, name), (w, o) in objs.items():
        if kind == "ConfigMap" and (o.get("data") or {}).get("pgmld.conf") is not None:
            conf = ini(o["data"]["pgmld.conf"])
    if conf is None:
        fail(where, "no ConfigMap with a valid pgmld.conf")
        return len(objs)
    env_names = {e["name"] for e in c.get("env", [])}
    for k in ("PGMLD_HTTP_LISTEN", "PGMLD_WEBSOCKET_LISTEN", "PGMLD_AUTH_TOKENS_FILE",
              "PGMLD_HTTP_ALLOW_PUBLIC", "PGMLD_WEBSOCKET_ALLOW_INSECURE_PUBLIC"):
        if k in env_names:
            fail(where, "env %s overrides the ConfigMap's pgmld.conf" % k)
    http = conf.get("http", "listen", fallback="")
    hport = port_of(http)
    if not hport:
        fail(where, "the ConfigMap's pgmld.conf has no [http] listen: the probes need it")
    elif is_loopback(http):
        fail(where, "http.listen %s is loopback: the kubelet probes the pod's IP" % http)
    if hport and hport not in cports.values():
        fail(where, "no containerPort %d for http.listen" % hport)
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        p = c.get(probe)
        get = (p or {}).get("httpGet")
        if not p:
            fail(where, "pgmld has no %s" % probe)
        elif not get:
            fail(where, "%s is not an httpGet" % probe)
        elif get.get("path") != path:
            fail(where, "%s asks %s, not %s" % (probe, get.get("path"), path))
        elif resolve(get.get("port")) != hport:
            fail(where, "%s asks port %s (%s), http.listen is %s"
                 % (probe, get.get("port"), resolve(get.get("port")), http))
    ann = spec["template"]["metadata"].get("annotations") or {}
    if "prometheus.io/port" in ann and int(ann["prometheus.io/port"]) != hport:
        fail(where, "prometheus.io/port %s is not http.listen's port %s"
             % (ann["prometheus.io/port"], hport))
    # WebSocket: the listener's port is a containerPort the Service targets,
    # and its tokens file is the Secret's key, mounted where tokens_file says.
    ws = conf.get("websocket", "listen", fallback="")
    wport = port_of(ws)
    tfile = conf.get("auth", "tokens_file", fallback="")
    check_ws_auth(where, ws, tfile, conf.get("tls", "cert_file", fallback=""),
                  conf.get("websocket", "allow_insecure_public", fallback="false"))
    check_http_public(where, http, conf.get("http", "allow_public", fallback="false"))
    if wport and wport not in cports.values():
        fail(where, "no containerPort %d for websocket.listen" % wport)
    svc_ports = []
    for (kind, name), (w, o) in objs.items():
        if kind == "Service":
            for sp in o["spec"].get("ports", []):
                svc_ports.append(resolve(sp.get("targetPort", sp.get("port"))))
    if wport and wport not in svc_ports:
        fail(where, "no Service targets websocket.listen's port %d" % wport)
    for sp in svc_ports:
        if sp not in cports.values():
            fail(where, "a Service targets port %s, which the pod does not serve" % sp)
    if tfile:
        d, base = tfile.rsplit("/", 1)
        mount = [m for m in c.get("volumeMounts", []) if m["mountPath"] == d]
        vol = volumes.get(mount[0]["name"]) if mount else None
        sec = (vol or {}).get("secret")
        if not sec:
            fail(where, "auth.tokens_file %s is not in a mounted Secret volume" % tfile)
        else:
            keys = {i["path"]: i["key"] for i in sec.get("items", [])} or None
            key = keys.get(base) if keys is not None else base
            s_obj = objs.get(("Secret", sec.get("secretName")))
            data = (s_obj[1].get("stringData") or {}) if s_obj else {}
            if not s_obj:
                fail(where, "volume %s uses Secret %s, which is not defined"
                     % (mount[0]["name"], sec.get("secretName")))
            elif key not in data:
                fail(where, "auth.tokens_file %s: Secret %s has no key %s"
                     % (tfile, sec.get("secretName"), key))
            else:
                check_tokens(s_obj[0], data[key])
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


# Broken copies the checks must catch: (file under deploy/, old, new).
MUTATIONS = [
    ("kubernetes/deployment.yaml", "path: /readyz", "path: /healthz"),
    ("kubernetes/deployment.yaml", "path: /healthz\n              port: http",
     "path: /healthz\n              port: ws"),
    ("kubernetes/deployment.yaml", "containerPort: 7700", "containerPort: 7701"),
    ("kubernetes/configmap.yaml", "listen = 0.0.0.0:9187", "listen = 0.0.0.0:9188"),
    ("kubernetes/configmap.yaml", "listen = 0.0.0.0:9187", "listen = 127.0.0.1:9187"),
    ("kubernetes/configmap.yaml", "tokens_file = /etc/pgmld-secrets/tokens",
     "tokens_file = /etc/pgmld/tokens"),
    ("kubernetes/configmap.yaml", "tokens_file = /etc/pgmld-secrets/tokens", ""),
    ("kubernetes/secret.yaml", "    sha256:", "    sha1:"),
    ("kubernetes/service.yaml", "targetPort: ws", "targetPort: 7701"),
    ("compose.yaml", '"/readyz", "127.0.0.1:9187"', '"/readyz", "127.0.0.1:9188"'),
    ("compose.yaml", "PGML_TOKEN=example-token-change-me", "PGML_TOKEN=another-token"),
    ("compose.yaml", '"127.0.0.1:9187:9187"', '"9187:9187"'),
    ("compose.yaml", "      PGMLD_AUTH_TOKENS_FILE: /run/secrets/pgmld-tokens\n", ""),
    ("compose.yaml", 'PGMLD_WEBSOCKET_ALLOW_INSECURE_PUBLIC: "true"',
     'PGMLD_WEBSOCKET_ALLOW_INSECURE_PUBLIC: "false"'),
    ("container/pgmld.conf", "allow_public = true", ""),
    ("kubernetes/configmap.yaml", "    allow_public = true", ""),
    ("kubernetes/configmap.yaml", "    allow_insecure_public = true", ""),
]


def self_test(src, settings):
    """Every mutation of a copy of deploy/ must be reported."""
    import shutil
    import tempfile
    for f, old, new in MUTATIONS:
        with tempfile.TemporaryDirectory() as tmp:
            shutil.copytree(os.path.join(src, "deploy"), os.path.join(tmp, "deploy"))
            path = os.path.join(tmp, "deploy", f)
            text = open(path, encoding="utf-8").read()
            if old not in text:
                print("check_manifests: self-test: %r is not in deploy/%s" % (old, f),
                      file=sys.stderr)
                return False
            open(path, "w", encoding="utf-8").write(text.replace(old, new, 1))
            del errors[:]
            check_compose(tmp)
            check_kubernetes(tmp, settings)
            if not errors:
                print("check_manifests: self-test: deploy/%s with %r -> %r was not caught"
                      % (f, old, new), file=sys.stderr)
                return False
    del errors[:]
    return True


def main():
    src, binary = sys.argv[1], sys.argv[2]
    settings = pgmld_settings(binary)
    if not self_test(src, settings):
        return 1
    check_conf(src, settings)
    check_ini_keys("deploy/container/pgmld.conf",
                   open(os.path.join(src, "deploy/container/pgmld.conf"),
                        encoding="utf-8").read(), settings)
    n_services = check_compose(src)
    n_objs = check_kubernetes(src, settings)
    for e in errors:
        print(e, file=sys.stderr)
    if errors:
        return 1
    print("pgmld.conf: %d settings match pgmld --help; compose: %s services; "
          "kubernetes: %d objects; probes, ports and tokens agree with pgmld.conf; "
          "%d broken copies caught" % (len(settings), n_services, n_objs, len(MUTATIONS)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
