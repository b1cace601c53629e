"""An https receiver for scripts/test_windows.sh: Python's own ssl module
with a certificate for localhost; answers every POST with 204 and appends
its request line and body to a file. Loopback only, a free port, which it
writes to PORT_FILE once it listens.

Usage: python3 https_receiver.py CERT KEY LOG PORT_FILE
"""

import http.server
import ssl
import sys

cert, key, log, port_file = sys.argv[1:5]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        length = min(int(self.headers.get("content-length", 0)), 1 << 20)
        body = self.rfile.read(length)
        with open(log, "ab") as f:
            f.write(self.requestline.encode() + b"\n" + body + b"\n")
        self.send_response(204)
        self.send_header("connection", "close")
        self.end_headers()

    def log_message(self, *args):
        pass


server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
server.socket = ctx.wrap_socket(server.socket, server_side=True)
with open(port_file, "w") as f:
    f.write(str(server.server_address[1]))
# A handshake the client refuses ends that request only.
server.serve_forever()
