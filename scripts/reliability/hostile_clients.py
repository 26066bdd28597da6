#!/usr/bin/env python3
"""Hostile and heavy clients on crmad's control socket (issue 6).

Runs crmad (tiny model, idle timeout 2 s) and throws at its socket: malformed HTTP, oversized headers
and bodies, slow clients that never finish a request, many concurrent connections, and thousands of
seeded random requests. Checks that every answer is a proper HTTP response (JSON errors, no 5xx), that
slow connections are closed by the daemon, that it keeps answering and stays up, and that its resident
memory stays bounded. Prints the figures.

usage: hostile_clients.py --crmad BIN --model GGUF [--requests 10000] [--connections 1000] [--seed 1]
"""
import argparse, json, os, random, resource, select, signal, socket, subprocess, sys, tempfile, time

ap = argparse.ArgumentParser()
ap.add_argument("--crmad", required=True)
ap.add_argument("--model", required=True)
ap.add_argument("--requests", type=int, default=10000)
ap.add_argument("--connections", type=int, default=1000)
ap.add_argument("--slow", type=int, default=200)
ap.add_argument("--seed", type=int, default=1)
a = ap.parse_args()

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from checks import check, failures, write_config

# Many sockets at once need descriptors.
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 4 * a.connections + 256)), hard))

work = tempfile.mkdtemp(prefix="crmad-hostile-")
sock_path = f"{work}/crmad.sock"
write_config(f"{work}/crmad.toml", state=f"{work}/state", inbox=f"{work}/inbox", socket=sock_path, model=a.model,
             extra="[control]\nidle_timeout_seconds = 2.0\n")
log = open(f"{work}/crmad.log", "w")
proc = subprocess.Popen([a.crmad, "--config", f"{work}/crmad.toml"], stdout=log, stderr=log,
                        env=dict(os.environ, OPENBLAS_NUM_THREADS="1"))


def connect():
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.connect(sock_path)
    return c


def exchange(payload, timeout=30):
    """Sends raw bytes and reads until the daemon closes or a whole response has arrived."""
    c = connect()
    c.settimeout(timeout)
    try:
        c.sendall(payload)
    except OSError:
        pass  # the daemon may close early on a bad request; read what it said
    data = b""
    try:
        while chunk := c.recv(65536):
            data += chunk
            head, sep, body = data.partition(b"\r\n\r\n")
            if sep:
                length = next((int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")), None)
                if length is not None and len(body) >= length:
                    break
    except (ConnectionResetError, socket.timeout):
        pass
    c.close()
    return data


def status_of(data):
    try:
        return int(data.split(b"\r\n", 1)[0].split()[1])
    except Exception:
        return None


def get(path="/v1/status"):
    return status_of(exchange(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()))


def rss_kb():
    with open(f"/proc/{proc.pid}/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))


deadline = time.time() + 60
while not os.path.exists(sock_path) and time.time() < deadline and proc.poll() is None:
    time.sleep(0.1)
while time.time() < deadline and proc.poll() is None:
    try:
        if get() == 200:
            break
    except OSError:
        time.sleep(0.1)
check(get() == 200, "crmad answers on its socket")
rss_start = rss_kb()

# Malformed HTTP: each gets an HTTP error (or a closed connection), never takes the daemon down.
garbage = [
    b"\x00\xff\xfe\x00GARBAGE\r\n\r\n",
    b"GET\r\n\r\n",
    b"GET / HTTP/9.9\r\n\r\n",
    b"GET /v1/status HTTP/1.1\r\nHost x\r\n\r\n",
    b"POST /v1/score HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
    b"POST /v1/score HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"POST /v1/score HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFF\r\n",
    b"GET /" + b"a" * 100000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    b"\r\n" * 10000,
]
answers = [status_of(exchange(g, timeout=10)) for g in garbage]
check(all(s is None or 400 <= s < 500 for s in answers), f"malformed requests get 4xx or a closed connection {answers}")
check(proc.poll() is None and get() == 200, "still answering after malformed HTTP")

big_header = f"GET /v1/status HTTP/1.1\r\nHost: x\r\nX-Big: {'h' * 100000}\r\nConnection: close\r\n\r\n".encode()
many_headers = ("GET /v1/status HTTP/1.1\r\nHost: x\r\n" + "".join(f"X-{i}: v\r\n" for i in range(5000)) + "\r\n").encode()
big = [status_of(exchange(big_header, timeout=10)), status_of(exchange(many_headers, timeout=10))]
check(all(s is None or s in (400, 431) for s in big), f"oversized headers are refused {big}")
body = b'{"text": "' + b"a" * 1_000_000 + b'"}'
over = exchange(f"POST /v1/score HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
check(status_of(over) == 413 and b'"too_large"' in over, "a 1 MB body gets 413 with a JSON error")

# Slow clients: connections that send half a request and then nothing are closed by the daemon.
slow = []
for i in range(a.slow):
    c = connect()
    c.sendall(b"GET /v1/status HTTP/1.1\r\nHo")
    slow.append(c)
check(get() == 200, f"a normal request is answered while {a.slow} slow clients hang")
closed, t0 = 0, time.time()
pending = list(slow)
while pending and time.time() - t0 < 60:
    r, _, _ = select.select(pending, [], [], 1)
    for c in r:
        try:
            data = c.recv(4096)
        except OSError:
            data = b""
        if not data or status_of(data) is not None:
            closed += 1
            pending.remove(c)
            c.close()
check(closed == a.slow, f"all {a.slow} slow clients were disconnected by the idle timeout ({closed}, {time.time() - t0:.1f} s)")

# Many concurrent connections: all open at once, then all ask.
conns = [connect() for _ in range(a.connections)]
for c in conns:
    c.sendall(b"GET /v1/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
ok = 0
for c in conns:
    c.settimeout(60)
    data = b""
    try:
        while chunk := c.recv(65536):
            data += chunk
    except OSError:
        pass
    ok += status_of(data) == 200
    c.close()
check(ok == a.connections, f"{ok}/{a.connections} concurrent connections answered 200")
rss_after_connections = rss_kb()

# Random requests (seeded): methods, paths, headers and bodies, valid and not.
rng = random.Random(a.seed)
paths = ["/v1/status", "/v1/domains", "/v1/versions", "/v1/versions/1", "/v1/versions/x", "/v1/alerts", "/v1/jobs",
         "/v1/matrix", "/v1/pause", "/v1/resume", "/v1/rollback", "/v1/retry", "/v1/jobs/7/cancel", "/v1/score",
         "/metrics", "/", "/v1/../etc/passwd", "/v1/%00", "/v1/status?x=" + "y" * 200, "/v2/anything"]
bodies = [b"", b"{}", b"{not json", b'{"version": 1}', b'{"version": "x"}', b'{"text": 5}', b"[1,2,3]", b"null",
          bytes(rng.randrange(256) for _ in range(64)), b'{"domain": "../../etc"}']
codes = {}
bad = []
for i in range(a.requests):
    method = rng.choice(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "BREW"])
    path = rng.choice(paths)
    body = rng.choice(bodies)
    if path in ("/v1/pause", "/v1/resume", "/v1/rollback", "/v1/retry", "/v1/jobs/7/cancel") and method == "POST":
        method = "PUT"  # keep the daemon's state as it is; mutating calls are tested elsewhere
    req = f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body
    data = exchange(req, timeout=30)
    s = status_of(data)
    codes[s] = codes.get(s, 0) + 1
    if s is None or s >= 500:
        bad.append((method, path, body[:20], s))
    elif s >= 400 and method not in ("HEAD", "BREW") and b'"error"' not in data.partition(b"\r\n\r\n")[2]:
        # An unknown method (BREW) is refused by the HTTP parser itself: a bare 400 is the right answer.
        bad.append((method, path, body[:20], s, "no JSON error"))
check(not bad, f"{a.requests} random requests: every answer a proper HTTP status, errors in JSON {sorted(codes.items(), key=str)} {bad[:3]}")
rss_end = rss_kb()
check(proc.poll() is None and get() == 200, "crmad is up and answering at the end")
growth_mb = (rss_end - rss_start) / 1024
check(growth_mb < 64, f"resident memory bounded: {rss_start / 1024:.0f} MB → {rss_after_connections / 1024:.0f} MB "
      f"after {a.connections} connections → {rss_end / 1024:.0f} MB after {a.requests} requests (+{growth_mb:.0f} MB)")

proc.send_signal(signal.SIGTERM)
try:
    proc.wait(timeout=30)
except subprocess.TimeoutExpired:
    proc.kill()
check(proc.returncode == 0, f"clean exit after SIGTERM ({proc.returncode})")
print(json.dumps({"requests": a.requests, "status_codes": {str(k): v for k, v in codes.items()},
                  "connections": a.connections, "slow_clients": a.slow, "rss_mb": [round(rss_start / 1024),
                  round(rss_after_connections / 1024), round(rss_end / 1024)]}))
sys.exit(1 if failures else 0)
