#!/usr/bin/env python3
"""An HTTP proxy that checks AWS Signature V4 before forwarding to S3.

The S3 test server (scripts/s3-test-server.sh, moto today) accepts any
signature. The upstream test harness puts this proxy in front of it for the
tests of its own S3 client (upstream.support.S3 client: ...), so that a
request signed wrongly is refused with 403 SignatureDoesNotMatch, as a real
S3 or MinIO would do.

    sigv4_proxy.py start LISTEN_PORT TARGET_PORT DIR [SECRET]
    sigv4_proxy.py stop DIR

start runs the proxy in the background on 127.0.0.1:LISTEN_PORT (pid and
log in DIR) and returns once it accepts connections; stop ends it. SECRET
defaults to minioadmin.

The signature is recomputed from the request as received, as a server does:
canonical URI (the decoded path, URI-encoded once), canonical query (sorted,
encoded), the headers named in SignedHeaders, and x-amz-content-sha256 as
the payload hash (when it is a hex digest, the body must match it). Every
SignedHeaders entry must be present; host, x-amz-date and
x-amz-content-sha256 must be signed, and x-amz-copy-source too when sent.
Bodies must come with Content-Length (no chunked transfer).
"""
import hashlib
import hmac
import http.client
import http.server
import os
import signal
import socket
import sys
import time
import urllib.parse


def uri_encode(text, safe):
    return urllib.parse.quote(text, safe=safe)


def check_signature(method, raw_path, headers, body, secret):
    """None when the request is signed correctly, else the reason."""
    auth = headers.get("Authorization", "")
    prefix = "AWS4-HMAC-SHA256 "
    if not auth.startswith(prefix):
        return "no AWS4-HMAC-SHA256 Authorization header"
    try:
        fields = dict(
            part.strip().split("=", 1) for part in auth[len(prefix):].split(",")
        )
        scope = fields["Credential"].split("/")[1:]
        signed = fields["SignedHeaders"].split(";")
        given = fields["Signature"]
    except (KeyError, ValueError):
        return "malformed Authorization header"
    lower = {}
    for name, value in headers.items():
        lower[name.lower()] = " ".join(value.strip().split())
    for required in ("host", "x-amz-date", "x-amz-content-sha256"):
        if required not in signed:
            return f"{required} is not signed"
    if "x-amz-copy-source" in lower and "x-amz-copy-source" not in signed:
        return "x-amz-copy-source is not signed"
    missing = [h for h in signed if h not in lower]
    if missing:
        return f"signed headers not sent: {missing}"
    payload = lower["x-amz-content-sha256"]
    if len(payload) == 64 and payload != hashlib.sha256(body).hexdigest():
        return "the body does not match x-amz-content-sha256"

    path, _, query = raw_path.partition("?")
    pairs = []
    if query:
        for item in query.split("&"):
            key, _, value = item.partition("=")
            pairs.append(
                (
                    uri_encode(urllib.parse.unquote(key), "~"),
                    uri_encode(urllib.parse.unquote(value), "~"),
                )
            )
    canonical = "\n".join(
        [
            method,
            uri_encode(urllib.parse.unquote(path), "/~"),
            "&".join(f"{k}={v}" for k, v in sorted(pairs)),
            "".join(f"{h}:{lower[h]}\n" for h in signed),
            ";".join(signed),
            payload,
        ]
    )
    to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            lower["x-amz-date"],
            "/".join(scope),
            hashlib.sha256(canonical.encode()).hexdigest(),
        ]
    )
    key = ("AWS4" + secret).encode()
    for part in scope:
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, given):
        return "signature mismatch; canonical request:\n" + canonical
    return None


def serve(listen_port, target_port, secret):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def relay(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if "chunked" in (self.headers.get("Transfer-Encoding") or ""):
                self.reply(400, "NotImplemented", "chunked bodies are not supported")
                return
            problem = check_signature(
                self.command, self.path, self.headers, body, secret
            )
            if problem is not None:
                sys.stderr.write(f"REFUSED {self.command} {self.path}: {problem}\n")
                sys.stderr.flush()
                self.reply(403, "SignatureDoesNotMatch", problem.splitlines()[0])
                return
            conn = http.client.HTTPConnection("127.0.0.1", target_port, timeout=120)
            headers = {k: v for k, v in self.headers.items()}
            conn.request(self.command, self.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            self.send_response(resp.status)
            for name, value in resp.getheaders():
                if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
            conn.close()

        def reply(self, status, code, message):
            xml = (
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>"
                f"{code}</Code><Message>{message}</Message></Error>"
            ).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(xml)))
            self.end_headers()
            self.wfile.write(xml)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = relay

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", listen_port), Handler)
    server.serve_forever()


def start(listen_port, target_port, directory, secret):
    os.makedirs(directory, exist_ok=True)
    stop(directory)
    pidfile = os.path.join(directory, "proxy.pid")
    log = open(os.path.join(directory, "proxy.log"), "ab")
    pid = os.fork()
    if pid == 0:
        os.setsid()
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        try:
            serve(listen_port, target_port, secret)
        finally:
            os._exit(1)
    with open(pidfile, "w") as f:
        f.write(str(pid))
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", listen_port), timeout=1).close()
            print(f"sigv4_proxy: 127.0.0.1:{listen_port} -> {target_port} (pid {pid})")
            return 0
        except OSError:
            if os.waitpid(pid, os.WNOHANG)[0] != 0:
                break
            time.sleep(0.1)
    print("sigv4_proxy: did not start; see " + log.name, file=sys.stderr)
    stop(directory)
    return 1


def stop(directory):
    pidfile = os.path.join(directory, "proxy.pid")
    try:
        pid = int(open(pidfile).read())
    except (OSError, ValueError):
        return 0
    try:
        os.kill(pid, signal.SIGTERM)
        for _ in range(50):
            os.kill(pid, 0)
            time.sleep(0.1)
    except ProcessLookupError:
        pass
    os.remove(pidfile)
    return 0


def main(argv):
    if len(argv) >= 5 and argv[1] == "start":
        secret = argv[5] if len(argv) > 5 else "minioadmin"
        return start(int(argv[2]), int(argv[3]), argv[4], secret)
    if len(argv) == 3 and argv[1] == "stop":
        return stop(argv[2])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
