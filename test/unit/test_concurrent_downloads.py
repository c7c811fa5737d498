"""Two clusters brought up side by side download the same release binaries at once: real
processes against a slow loopback HTTP server. Each must get a whole, checked file."""
import hashlib
import http.server
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

NAMES = ("kubeadm", "kubelet", "kubectl")
SCRIPT = """
import sys
from dind_cluster.k8s_binaries import download_binaries
got = download_binaries("v1.31.4", "amd64", {"HOME": sys.argv[2]}, base=sys.argv[1])
print(sorted(str(p) for p in got.values()))
"""


@pytest.fixture
def slow_release_server(tmp_path):
    """dl.k8s.io's layout on loopback; each binary (2 MiB) trickles out in 64 KiB pieces."""
    files = {f"/v1.31.4/bin/linux/amd64/{n}": (n.encode() * 1_000_000)[: 2 << 20] for n in NAMES}
    files.update({f"{k}.sha256": hashlib.sha256(v).hexdigest().encode() for k, v in list(files.items())})
    hits = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            for i in range(0, len(body), 1 << 16):
                self.wfile.write(body[i:i + (1 << 16)])
                time.sleep(0.003)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", files, hits
    server.shutdown()
    server.server_close()


def test_side_by_side_downloads_each_get_a_whole_checked_file(slow_release_server, tmp_path):
    base, files, hits = slow_release_server
    home = tmp_path / "home"
    procs = [subprocess.Popen([sys.executable, "-c", SCRIPT, base, str(home)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    results = [(p.wait(timeout=120), *p.communicate()) for p in procs]
    assert all(code == 0 for code, _, _ in results), [err for _, _, err in results]
    cache = home / ".cache/dind-cluster/k8s/v1.31.4/amd64"
    for name in NAMES:
        assert (cache / name).read_bytes() == files[f"/v1.31.4/bin/linux/amd64/{name}"]
    # one download per artefact: the others waited on its lock and found it in the cache
    assert sorted(h for h in hits if not h.endswith(".sha256")) == sorted(
        f"/v1.31.4/bin/linux/amd64/{n}" for n in NAMES)
    assert not [p.name for p in cache.iterdir() if p.name.endswith(".partial")]
