"""Start-up and RSS of a minimal JSON server in the standard library, aiohttp and Starlette/uvicorn (docs/http.md).

    python benchmarks/http_libs.py PYTHON    # PYTHON: an interpreter with aiohttp, starlette and uvicorn installed

Each server is started 5 times (interleaved); the time from exec to its first answered request and its RSS then;
medians. """
import socket
import statistics as st
import subprocess
import sys
import time
import urllib.request

SERVERS = {
"stdlib": '''
import json
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
class H(BaseHTTPRequestHandler):
    def do_GET(self):
        b = json.dumps({"ok": True}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)
    def log_message(self, *a): pass
ThreadingHTTPServer(("127.0.0.1", PORT), H).serve_forever()
''',
"aiohttp": '''
from aiohttp import web
async def h(r): return web.json_response({"ok": True})
app = web.Application(); app.router.add_get("/", h); web.run_app(app, host="127.0.0.1", port=PORT, print=None)
''',
"starlette+uvicorn": '''
import uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route
async def h(r): return JSONResponse({"ok": True})
uvicorn.run(Starlette(routes=[Route("/", h)]), host="127.0.0.1", port=PORT, log_level="error")
''',
}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1])


def one(name):
    port = free_port()
    t0 = time.monotonic()
    p = subprocess.Popen([sys.argv[1], "-c", SERVERS[name].replace("PORT", str(port))])
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1).read()
            break
        except OSError:
            time.sleep(0.005)
    dt = time.monotonic() - t0
    base = subprocess.run([sys.argv[1], "-c", "import time; print(open('/proc/self/status').read())"],
                          capture_output=True, text=True).stdout
    base_kb = int([line for line in base.splitlines() if line.startswith("VmRSS")][0].split()[1])
    r = rss_kb(p.pid)
    p.terminate()
    p.wait()
    return dt, r, r - base_kb


res = {k: [] for k in SERVERS}
for _ in range(5):
    for k in SERVERS:
        res[k].append(one(k))
for k, v in res.items():
    print(f"{k:18s} start-up {st.median(x[0] for x in v) * 1000:6.0f} ms"
          f"  RSS {st.median(x[1] for x in v) / 1024:5.1f} MB"
          f"  (+{st.median(x[2] for x in v) / 1024:4.1f} MB over a bare python)")
