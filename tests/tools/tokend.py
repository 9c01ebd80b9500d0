#!/usr/bin/env python3
"""tokend: a registry token server of the tests' own, for docker-registry's
`auth: token`. It signs JWTs (RS256) with a key and certificate the test
generated (openssl signs; the certificate goes in the x5c header, and the
registry trusts it through its rootcertbundle).

  tokend.py ADDR PORTFILE KEY CERT LOG

Users: tester:s3cret may pull and push test/* and public/*; anonymous may
pull public/*;
"expired:x" gets a token that expired an hour ago. Every request is
logged: path, user (or -), and the scope asked for.
"""
import base64, json, os, subprocess, sys, time
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import urlparse, parse_qs

addr, portfile, key, cert, log = sys.argv[1:6]
with open(cert) as f:
    pem = f.read()
der = base64.b64decode("".join(l for l in pem.splitlines() if not l.startswith("-----")))


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def sign(claims):
    head = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(der).decode()]}
    msg = (b64url(json.dumps(head).encode()) + "." + b64url(json.dumps(claims).encode())).encode()
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=msg,
                         capture_output=True, check=True).stdout
    return msg.decode() + "." + b64url(sig)


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_GET(self):
        url = urlparse(self.path)
        q = parse_qs(url.query)
        user = None
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            user = base64.b64decode(auth[6:]).decode(errors="replace")
        scope = q.get("scope", [""])[0]
        with open(log, "a") as f:
            f.write("%s %s %s\n" % (url.path, user or "-", scope))
        if user not in (None, "tester:s3cret", "expired:x"):
            self.send_response(401)
            self.end_headers()
            return
        access = []
        parts = scope.split(":")
        if len(parts) == 3 and parts[0] == "repository":
            name, actions = parts[1], parts[2].split(",")
            if user in ("tester:s3cret", "expired:x") and name.split("/")[0] in ("test", "public"):
                access.append({"type": "repository", "name": name, "actions": actions})
            elif name.startswith("public/"):
                access.append({"type": "repository", "name": name, "actions": ["pull"]})
        now = int(time.time())
        exp = now - 3600 if user == "expired:x" else now + 300
        claims = {"iss": "pupa-test-issuer", "sub": (user or "").split(":")[0],
                  "aud": q.get("service", [""])[0], "exp": exp, "nbf": now - 7200,
                  "iat": now - 7200, "jti": os.urandom(8).hex(), "access": access}
        body = json.dumps({"token": sign(claims), "expires_in": 300}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


srv = HTTPServer((addr, 0), Handler)
with open(portfile + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(portfile + ".tmp", portfile)
srv.serve_forever()
