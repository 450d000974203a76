"""The HTTP layer on a loopback socket: readiness, keep-alive, chunked server-sent events,
one inference at a time, a client that leaves mid-stream, and the process's lifecycle."""

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

import helpers
import jbtransformers
from jbtransformers.httpd import serve

HERE = os.path.dirname(os.path.abspath(__file__))
#: The folder `jbtransformers` was imported from, for the environment of a child server.
PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(jbtransformers.__file__)))


def child_env() -> dict:
    """This environment with PYTHONPATH leading to the `jbtransformers` these tests import."""
    path = os.environ.get("PYTHONPATH")
    return dict(os.environ, PYTHONPATH=PACKAGE_ROOT + (os.pathsep + path if path else ""))


def wait_until(predicate, within=10.0) -> bool:
    """Polls a condition (bounded); True once it holds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


class Loopback(unittest.TestCase):
    def setUp(self):
        self.app = helpers.make_app(load=False)
        self.server = serve("127.0.0.1", 0, self.app)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def tearDown(self):
        self.server.shutdown()
        self.server.server_close()

    def conn(self) -> http.client.HTTPConnection:
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        self.addCleanup(c.close)
        return c

    def post(self, conn, path, body):
        conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        r = conn.getresponse()
        return r.status, r.getheader("Content-Type"), r.read()

    def test_health_is_503_while_loading_then_200(self):
        c = self.conn()
        c.request("GET", "/health")
        r = c.getresponse()
        self.assertEqual((r.status, json.loads(r.read())), (503, {"status": "loading"}))
        self.app.load()
        c.request("GET", "/health")
        r = c.getresponse()
        self.assertEqual((r.status, json.loads(r.read())), (200, {"status": "ready"}))

    def test_requests_share_one_keep_alive_connection(self):
        self.app.load()
        c = self.conn()
        status, kind, body = self.post(c, "/predict", {"inputs": "good"})
        self.assertEqual((status, kind), (200, "application/json"))
        first = c.sock
        self.assertIsNotNone(first, "the server closed a keep-alive connection")
        status, _, _ = self.post(c, "/v1/completions", {"model": "t5", "prompt": "x",
                                                        "max_tokens": 2})
        self.assertEqual(status, 200)
        self.assertIs(c.sock, first)
        status, _, body = self.post(c, "/predict", {"inputs": 5})
        self.assertEqual(status, 422)
        self.assertIs(c.sock, first, "an error answer keeps the connection")

    def test_streams_are_chunked_server_sent_events(self):
        self.app.load()
        c = self.conn()
        status, kind, body = self.post(c, "/v1/completions", {
            "model": "bloom", "prompt": "hi", "max_tokens": 3, "stream": True,
            "ignore_eos": True, "stream_options": {"include_usage": True}})
        self.assertEqual((status, kind), (200, "text/event-stream"))
        data = [line[len("data: "):] for line in body.decode().split("\n\n") if line]
        self.assertEqual(data[-1], "[DONE]")
        self.assertEqual(json.loads(data[-2])["usage"]["completion_tokens"], 3)
        self.assertEqual(len(data), 5)
        status, _, _ = self.post(c, "/predict", {"inputs": "after a stream"})
        self.assertEqual(status, 200)

    def test_inference_runs_one_at_a_time(self):
        self.app.load()
        nets = helpers.Loader.last.networks
        for n in nets.values():
            n.delay_s = 0.02
        results = []

        def client(i):
            c = self.conn()
            if i % 2:
                results.append(self.post(c, "/predict", {"inputs": f"text {i}"})[0])
            else:
                results.append(self.post(c, "/v1/completions", {
                    "model": "bloom", "prompt": f"p {i}", "max_tokens": 2, "stream": True,
                    "ignore_eos": True})[0])

        threads = [threading.Thread(target=client, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        self.assertEqual(sorted(results), [200] * 6)
        self.assertEqual(nets["clf"].calls + nets["bloom"].calls, 6)
        active = max(n.max_active for n in nets.values())
        self.assertEqual(active, 1)
        # across models too: the lock is the server's, not a model's
        self.assertTrue(self.app.lock.idle())

    def test_a_client_that_leaves_stops_its_generation(self):
        self.app.load()
        bloom = helpers.Loader.last.networks["bloom"]
        bloom.delay_s = 0.002
        produced = []
        model = self.app.models["bloom"]
        original = model.network.generate

        def counting(ids, decoding, on_token):
            out = original(ids, decoding, on_token)
            produced.append(len(out))
            return out

        model.network.generate = counting
        body = json.dumps({"model": "bloom", "prompt": "hi", "max_tokens": 2000,
                           "ignore_eos": True, "stream": True}).encode()
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                  b"\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        received = b""
        while b"data: " not in received:
            chunk = s.recv(4096)
            self.assertTrue(chunk, "the server closed the stream")
            received += chunk
        s.close()
        self.assertTrue(wait_until(lambda: produced), "generation did not stop")
        self.assertLess(produced[0], 2000)


class Process(unittest.TestCase):
    def test_fake_server_starts_on_a_free_port_and_stops_on_sigterm(self):
        proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "fake_server.py"), "--port", "0",
             "--random-weights", "--model", "clf=text-classification:lvwerra/distilbert-imdb"],
            stderr=subprocess.PIPE, text=True, env=child_env())
        try:
            line = proc.stderr.readline()
            m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
            self.assertIsNotNone(m, line)
            lines = []
            while not any("ready:" in x for x in lines):
                x = proc.stderr.readline()
                self.assertTrue(x, f"server ended before ready: {lines}")
                lines.append(x)
            self.assertTrue(any("tokenizer: stand-in (token counts approximate the real "
                                "tokenizer)" in x for x in lines), lines)
            c = http.client.HTTPConnection("127.0.0.1", int(m.group(1)), timeout=10)
            self.addCleanup(c.close)
            c.request("GET", "/health")
            self.assertEqual(c.getresponse().status, 200)
            proc.send_signal(signal.SIGTERM)
            self.assertEqual(proc.wait(20), 0)
            self.assertIn("stopping", proc.stderr.read())
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stderr.close()


if __name__ == "__main__":
    unittest.main()
