"""The browser example (clients/browser/example.html with pgml-ws.js) in
headless Chromium against a real pgmld over ws://: a Ping with the token in
the request metadata answers with the bytes sent; without a token the page
reports UNAUTHENTICATED.

The page is served by a static HTTP server on 127.0.0.1 in this process; the
page writes its outcome into #result and POSTs it to /result, which is what
is checked.  Chromium (Debian's
package) is installed here if missing and this runs as root; otherwise the
test is skipped (exit 77).
"""
import functools
import http.server
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
from wsd import Daemons  # noqa: E402

SKIP = 77
PAGE_DIR = os.path.join(os.environ.get("PGMLD_SOURCE_DIR", os.path.join(
    os.path.dirname(__file__), "..", "..", "..")), "clients", "browser")


def find_chromium():
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None and os.geteuid() == 0 and shutil.which("apt-get"):
        print("chromium missing: apt-get install chromium", flush=True)
        subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", "chromium"],
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
                       stdout=subprocess.DEVNULL, check=False)
        exe = shutil.which("chromium")
    return exe


class Handler(http.server.SimpleHTTPRequestHandler):
    results = None   # a queue.Queue, set per server

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(min(n, 65536))
        self.results.put(json.loads(body or b"{}"))
        self.send_response(204)
        self.end_headers()

    def log_message(self, fmt, *args):
        pass


def run_page(chromium, base, ws_url, token, data, tmp, results):
    """Opens the page in headless Chromium (real time: a virtual time budget
    would fire the page's call timeout before the answer arrives), waits for
    the page's POST, then ends this Chromium (our own child, by its pid)."""
    q = {"url": ws_url, "data": data, "report": "/result"}
    page = base + "/example.html?" + urllib.parse.urlencode(q)
    if token:
        page += "#" + urllib.parse.urlencode({"token": token})
    profile = tempfile.mkdtemp(prefix="chromium-", dir=tmp)
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--disable-dev-shm-usage", "--user-data-dir=" + profile, page]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        return results.get(timeout=90)
    except queue.Empty:
        return None
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main():
    chromium = find_chromium()
    if chromium is None:
        print("SKIP: no chromium (install Debian's package chromium)")
        return SKIP
    with tempfile.TemporaryDirectory(prefix="pgml-wsc-browser-") as tmp:
        results = queue.Queue()
        handler = functools.partial(type("H", (Handler,), {"results": results}),
                                    directory=PAGE_DIR)
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        base = "http://127.0.0.1:%d" % httpd.server_address[1]
        # pgmld refuses a page whose origin is not in websocket.allowed_origins.
        try:
            ds = Daemons(tmp, allowed_origins=base)
        except Exception:
            httpd.shutdown()
            raise
        failures = []
        try:
            res = run_page(chromium, base, ds.ws.url, ds.token, "hello from chromium", tmp,
                           results)
            print("with token:", res)
            if not res or not res.get("ok") or res.get("data") != "hello from chromium":
                failures.append("Ping with the token: %r" % (res,))
            res = run_page(chromium, base, ds.ws.url, None, "x", tmp, results)
            print("without token:", res)
            if not res or res.get("ok") or res.get("code") != "UNAUTHENTICATED":
                failures.append("Ping without a token: %r" % (res,))
        finally:
            httpd.shutdown()
            codes = ds.stop()
            if codes != [0, 0]:
                failures.append("pgmld exit codes %r:\n%s" % (codes, ds.ws.log()))
    for f in failures:
        print("FAIL:", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
