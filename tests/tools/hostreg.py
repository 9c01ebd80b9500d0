#!/usr/bin/env python3
"""hostreg: a hostile distribution (v2) registry for the tests, on 127.0.0.1
only. It serves one small image under every repository name; the name picks
how it misbehaves:

  good            a plain image
  basic           asks for Basic credentials (tester:s3cret)
  bearer          a Bearer challenge whose realm is this server's /token
  bearer-refused  the same, but the token the realm gives (for any
                  credentials) is one the registry refuses (expired, say)
  drip-manifest   the manifest's headers, then a byte every 0.9 s
  stall-manifest  accepts, then never answers the manifest request
  slow-manifest   a manifest that never ends, 4 KiB a second (above any
                  stall rule: only a deadline stops it)
  drip-token      Bearer, and the token server drips a byte every 0.9 s
  stall-config    the config blob's headers, then nothing
  stall-blob      the layer blob's headers, then nothing
  stall-blob10    the layer blob's headers and 10 bytes, then nothing
  big-blob        the layer blob is 4 KiB longer than its descriptor says
  realm-userinfo  Bearer with realm http://127.0.0.1:x@127.0.0.1:OTHER/token
  realm-otherport Bearer with realm http://127.0.0.1:OTHER/token
  redir-otherport Basic; blobs answer 302 to the same path on OTHER
  redir-loop      blobs answer 302 to themselves

OTHER is a second port this process listens on (same host, another port:
what any local user could open). The token server (either port) gives a
token only for tester:s3cret.

  hostreg.py PORTFILE LOG
writes "PORT OTHER" to PORTFILE once both listen; every request is one
line of LOG: "PORT METHOD PATH range=RANGE-or-- AUTHORIZATION-or--".
"""
import base64, gzip, hashlib, io, json, platform, sys, tarfile, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

portfile, logfile = sys.argv[1:3]
log_lock = threading.Lock()
GOOD_BASIC = "Basic " + base64.b64encode(b"tester:s3cret").decode()
TOKEN = "hostreg-token"


def digest(b):
    return hashlib.sha256(b).hexdigest()


def make_layer():
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as t:
        data = b"hello from hostreg\n"
        info = tarfile.TarInfo("hello.txt")
        info.size, info.mode, info.mtime = len(data), 0o644, 0
        t.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


ARCH = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
LAYER = make_layer()
CONFIG = json.dumps({"architecture": ARCH, "os": "linux",
                     "config": {"Cmd": ["/bin/sh"]},
                     "rootfs": {"type": "layers",
                                "diff_ids": ["sha256:" + digest(gzip.decompress(LAYER))]}}).encode()
MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def manifest(layer_size):
    return json.dumps({
        "schemaVersion": 2, "mediaType": MT_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": "sha256:" + digest(CONFIG), "size": len(CONFIG)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": "sha256:" + digest(LAYER), "size": layer_size}],
    }).encode()


BIG_EXTRA = 4096
ports = {}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, code, body=b"", ctype="application/octet-stream", headers=()):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def drip(self, length, ctype, prefix=b""):
        """Headers for length bytes, prefix, then a byte every 0.9 s."""
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        try:
            self.wfile.write(prefix)
            self.wfile.flush()
            for _ in range(200):
                time.sleep(0.9)
                self.wfile.write(b" ")
                self.wfile.flush()
        except OSError:
            pass
        self.close_connection = True

    def stall(self, length=None, prefix=b""):
        """Headers (when length is given) and prefix, then silence."""
        try:
            if length is not None:
                self.send_response(200)
                self.send_header("Content-Length", str(length))
                self.end_headers()
                self.wfile.write(prefix)
                self.wfile.flush()
            time.sleep(180)
        except OSError:
            pass
        self.close_connection = True

    def port(self):
        return self.server.server_address[1]

    def do_GET(self):
        auth = self.headers.get("Authorization", "-")
        with log_lock, open(logfile, "a") as f:
            f.write("%d GET %s range=%s %s\n" % (self.port(), self.path,
                                                 self.headers.get("Range", "-"), auth))
        path = self.path.split("?")[0]
        if path.startswith("/token"):
            return self.token()
        if path.startswith("/redir/"):
            return self.blob("good", path.rsplit(":", 1)[-1])
        if path in ("/v2", "/v2/"):
            return self.reply(200, b"{}", "application/json")
        parts = path.split("/")
        if len(parts) < 5 or parts[1] != "v2":
            return self.reply(404)
        mode, kind = parts[2], parts[3]
        if not self.authorized(mode):
            return
        if kind == "manifests":
            return self.manifest(mode)
        if kind == "blobs":
            return self.blob(mode, parts[4].split(":", 1)[-1])
        return self.reply(404)

    def authorized(self, mode):
        auth = self.headers.get("Authorization", "")
        if mode in ("basic", "redir-otherport"):
            if auth == GOOD_BASIC:
                return True
            self.reply(401, b"{}", "application/json", [("WWW-Authenticate", 'Basic realm="hostreg"')])
            return False
        realm = {
            "bearer": "http://127.0.0.1:%d/token" % ports["main"],
            "bearer-refused": "http://127.0.0.1:%d/token/stale" % ports["main"],
            "drip-token": "http://127.0.0.1:%d/token/drip" % ports["main"],
            "realm-userinfo": "http://127.0.0.1:x@127.0.0.1:%d/token" % ports["other"],
            "realm-otherport": "http://127.0.0.1:%d/token" % ports["other"],
        }.get(mode)
        if realm is None or auth == "Bearer " + TOKEN:
            return True
        self.reply(401, b"{}", "application/json",
                   [("WWW-Authenticate", 'Bearer realm="%s",service="hostreg"' % realm)])
        return False

    def token(self):
        if self.path.startswith("/token/drip"):
            return self.drip(1 << 20, "application/json")
        if self.path.startswith("/token/stale") and self.headers.get("Authorization"):
            return self.reply(200, json.dumps({"token": "stale"}).encode(), "application/json")
        if self.headers.get("Authorization", "") != GOOD_BASIC:
            return self.reply(401, b"{}", "application/json")
        return self.reply(200, json.dumps({"token": TOKEN}).encode(), "application/json")

    def manifest(self, mode):
        if mode == "drip-manifest":
            return self.drip(1 << 20, MT_MANIFEST)
        if mode == "stall-manifest":
            return self.stall()
        if mode == "slow-manifest":
            self.send_response(200)
            self.send_header("Content-Type", MT_MANIFEST)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                for _ in range(300):
                    self.wfile.write(b"1000\r\n" + b" " * 4096 + b"\r\n")
                    self.wfile.flush()
                    time.sleep(1)
            except OSError:
                pass
            self.close_connection = True
            return
        body = manifest(len(LAYER))
        return self.reply(200, body, MT_MANIFEST, [("Docker-Content-Digest", "sha256:" + digest(body))])

    def blob(self, mode, hexdigest):
        if mode == "redir-otherport":
            return self.reply(302, headers=[("Location", "http://127.0.0.1:%d/redir/sha256:%s"
                                                         % (ports["other"], hexdigest))])
        if mode == "redir-loop":
            return self.reply(302, headers=[("Location", self.path)])
        if hexdigest == digest(CONFIG):
            if mode == "stall-config":
                return self.stall(len(CONFIG))
            return self.reply(200, CONFIG)
        if hexdigest != digest(LAYER):
            return self.reply(404)
        if mode == "stall-blob":
            return self.stall(len(LAYER))
        if mode == "stall-blob10":
            return self.stall(len(LAYER), LAYER[:10])
        if mode == "big-blob":
            return self.reply(200, LAYER + b"\0" * BIG_EXTRA)
        rng = self.headers.get("Range", "")
        if rng.startswith("bytes=") and rng.endswith("-") and rng[6:-1].isdigit():
            start = int(rng[6:-1])
            if start < len(LAYER):
                return self.reply(206, LAYER[start:], headers=[
                    ("Content-Range", "bytes %d-%d/%d" % (start, len(LAYER) - 1, len(LAYER)))])
        return self.reply(200, LAYER)


def main():
    servers = []
    for name in ("main", "other"):
        srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        srv.daemon_threads = True
        ports[name] = srv.server_address[1]
        servers.append(srv)
    for srv in servers[1:]:
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    with open(portfile + ".tmp", "w") as f:
        f.write("%d %d\n" % (ports["main"], ports["other"]))
    import os
    os.rename(portfile + ".tmp", portfile)
    servers[0].serve_forever()


if __name__ == "__main__":
    main()
