#!/usr/bin/env python3
"""The payment and mail services the order-processing example calls: a real HTTP server on 127.0.0.1.

    python3 scripts/shop_service.py [--port PORT] [--token TOKEN]

It prints `listening on http://127.0.0.1:PORT` first (PORT 0 picks a free port), then one JSON line per
request it receives. Endpoints:

  POST /payments   {"orderId", "amount", ...} -> 200 {"transactionId", "amount"}
                   402 {"error": "declined", ...} when the amount is not in (0, 10000];
                   503 the first time it sees an order id starting with "flaky-" (so retries show);
                   401 when --token is set and the request's `Authorization: Bearer` differs.
  POST /mail       {"to", "subject", "body"} -> 200 {"sent": true, "to", "messageId"}
  GET  /received   every request received so far, as a JSON list.

Standard library only, so that it runs wherever Python 3 does.
"""

import argparse
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_AMOUNT = 10_000.0


class Shop:
    def __init__(self, token):
        self.token = token
        self.lock = threading.Lock()
        self.received = []
        self.seen_flaky = set()
        self.mails = 0

    def record(self, entry):
        with self.lock:
            self.received.append(entry)
        print(json.dumps(entry, sort_keys=True), flush=True)


def handler_for(shop):
    class Handler(BaseHTTPRequestHandler):
        server_version = "keel-example-shop/1"

        def log_message(self, *args):
            pass  # one JSON line per request is printed instead

        def reply(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def read_body(self):
            if "chunked" in (self.headers.get("transfer-encoding") or "").lower():
                raw = b""
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass  # trailers
                        return raw
                    raw += self.rfile.read(size)
                    self.rfile.readline()
            length = int(self.headers.get("content-length") or 0)
            return self.rfile.read(length) if length else b""

        def read_json(self):
            raw = self.read_body()
            try:
                return json.loads(raw or b"null")
            except ValueError:
                return None

        def do_GET(self):
            if self.path == "/received":
                with shop.lock:
                    self.reply(200, list(shop.received))
            else:
                self.reply(404, {"error": "not found", "path": self.path})

        def do_POST(self):
            body = self.read_json()
            authorized = self.headers.get("authorization") == f"Bearer {shop.token}"
            entry = {
                "method": "POST",
                "path": self.path,
                "body": body,
                "authorized": authorized if shop.token else None,
            }
            if self.path == "/payments":
                entry["service"] = "payments"
                status, answer = self.payment(body, authorized)
            elif self.path == "/mail":
                entry["service"] = "mail"
                status, answer = self.mail(body)
            else:
                status, answer = 404, {"error": "not found", "path": self.path}
            entry["status"] = status
            shop.record(entry)
            self.reply(status, answer)

        def payment(self, order, authorized):
            if shop.token and not authorized:
                return 401, {"error": "unauthorized"}
            if not isinstance(order, dict) or "orderId" not in order:
                return 400, {"error": "expected an order with orderId and amount"}
            order_id = str(order["orderId"])
            amount = order.get("amount")
            if order_id.startswith("flaky-"):
                with shop.lock:
                    first = order_id not in shop.seen_flaky
                    shop.seen_flaky.add(order_id)
                if first:
                    return 503, {"error": "the payment service is busy; try again"}
            if isinstance(amount, bool) or not isinstance(amount, (int, float)):
                return 400, {"error": "the amount must be a number"}
            if not 0 < amount <= MAX_AMOUNT:
                # float(): 0 and 0.0 read the same, whichever way the client spelled the number.
                return 402, {
                    "error": "declined",
                    "reason": f"amount {float(amount)} is outside the accepted range (0, {MAX_AMOUNT}]",
                }
            return 200, {"transactionId": f"txn-{order_id}", "amount": amount}

        def mail(self, message):
            if not isinstance(message, dict) or "to" not in message:
                return 400, {"error": "expected a message with to, subject and body"}
            with shop.lock:
                shop.mails += 1
                number = shop.mails
            return 200, {"sent": True, "to": message["to"], "messageId": f"msg-{number}"}

    return Handler


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", default=None, help="require `Authorization: Bearer TOKEN` on /payments")
    args = parser.parse_args()
    shop = Shop(args.token)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler_for(shop))
    print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
