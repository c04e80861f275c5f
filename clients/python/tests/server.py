"""A real `herald serve` and a real receiver for the end-to-end tests."""

import http.server
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import unittest

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
ADMIN_KEY = "hk_admin_python-client-end-to-end-tests"

_built = None  # the binary built for this run, when HERALD_BIN is unset


def herald_binary():
    """HERALD_BIN, or a herald built from this repository with go build."""
    global _built
    path = os.environ.get("HERALD_BIN")
    if path:
        if not os.access(path, os.X_OK):
            raise RuntimeError("HERALD_BIN=%s is not an executable" % path)
        return path
    if _built:
        return _built
    go = shutil.which("go") or ("/usr/local/go/bin/go" if os.access("/usr/local/go/bin/go", os.X_OK) else None)
    if go is None:
        raise unittest.SkipTest("HERALD_BIN is unset and go is not installed to build herald: set HERALD_BIN to a herald binary")
    out = tempfile.mkdtemp(prefix="herald-bin-")
    path = os.path.join(out, "herald")
    subprocess.run([go, "build", "-o", path, "./cmd/herald"], cwd=REPO, check=True)
    _built = path
    return path


class Server:
    """`herald serve` on a free loopback port with a temporary data directory."""

    def __init__(self, *args):
        self.data_dir = tempfile.mkdtemp(prefix="herald-data-")
        argv = [
            herald_binary(), "serve", "--addr", "127.0.0.1:0", "--data-dir", self.data_dir,
            "--admin-key", ADMIN_KEY, "--allow-private-networks", "--poll-interval", "50ms",
            "--log-level", "warn", *args,
        ]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.output = []
        self.url = None
        found = threading.Event()

        def read():
            for line in self.proc.stdout:
                self.output.append(line)
                m = re.search(r"listening on (http://\S+)", line)
                if m and not found.is_set():
                    self.url = m.group(1)
                    found.set()
            found.set()

        self.reader = threading.Thread(target=read, daemon=True)
        self.reader.start()
        if not found.wait(60) or self.url is None:
            self.stop()
            raise RuntimeError("herald serve did not start:\n" + "".join(self.output))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.reader.join(10)  # it reads to the end of the output, which has come
        self.proc.stdout.close()
        shutil.rmtree(self.data_dir, ignore_errors=True)


class Request:
    """One request a Receiver received."""

    def __init__(self, path, headers, body):
        self.path = path
        self.headers = headers  # an email.message.Message, as http.server gives it
        self.body = body


class Receiver:
    """An http.server endpoint in a thread that answers 200 and keeps every request,
    by path."""

    def __init__(self):
        self.requests = {}
        self.cond = threading.Condition()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.cond:
                    receiver.requests.setdefault(self.path, []).append(Request(self.path, self.headers, body))
                    receiver.cond.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def wait_for(self, path, n, timeout=60):
        """The first n requests to path, waiting at most timeout seconds for them."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while len(self.requests.get(path, [])) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("%s received %d requests in %ds, want %d" % (path, len(self.requests.get(path, [])), timeout, n))
                self.cond.wait(left)
            return list(self.requests[path][:n])

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
