"""An ordinary HTTP service, written without asynctools in mind: POST /slugify {"title": "..."}
answers {"slug": "..."}. The catalog entry in docs/examples/tools.toml makes it an async tool.

    python3 docs/examples/http-tool/server.py --port 9112

Standard library only. With --token T it requires `Authorization: T` (asynctools sends the
secret named by the tool's `auth_secret`).
"""

import argparse
import json
import re
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY_BYTES = 64 * 1024


class Handler(BaseHTTPRequestHandler):
    token = None

    def do_POST(self):
        if self.path != "/slugify":
            return self.answer(404, {"error": f"no route {self.path}"})
        if self.token is not None and self.headers.get("Authorization") != self.token:
            return self.answer(401, {"error": "missing or wrong Authorization"})
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            return self.answer(413, {"error": "body too large"})
        try:
            args = json.loads(self.rfile.read(length) or b"{}")
            title = args["title"]
        except (ValueError, KeyError, TypeError):
            return self.answer(400, {"error": 'expected {"title": "..."}'})
        time.sleep(float(args.get("delay_s", 0)))
        slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
        task = self.headers.get("Idempotency-Key")  # the asynctools task id: dedupe on it
        self.answer(200, {"slug": slug, "task_id": task})

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=9112)
    parser.add_argument("--token")
    options = parser.parse_args()
    Handler.token = options.token
    server = ThreadingHTTPServer(("127.0.0.1", options.port), Handler)
    print(f"slugify service on http://127.0.0.1:{options.port}/slugify", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
