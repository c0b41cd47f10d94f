"""Loads docent's web page in headless Chromium, asks a question through the page as a user would,
waits for the streamed answer and its sources, clicks the first source, saves a screenshot, and
prints what the page showed as JSON (for tests/http.rs to check).

Drives Chromium over the DevTools protocol with the standard library only (a minimal WebSocket
client). usage: DOCENT_PAGE_KEY=KEY browser.py BASE_URL QUESTION SCREENSHOT.png
"""
import base64
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request


class DevTools:
    """One WebSocket connection to a page target, speaking CDP's JSON messages."""

    def __init__(self, ws_url):
        match = re.match(r"ws://([^:/]+):(\d+)(/.*)", ws_url)
        host, port, path = match.group(1), int(match.group(2)), match.group(3)
        self.sock = socket.create_connection((host, port), timeout=300)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        response = b""
        while b"\r\n\r\n" not in response:
            response += self.sock.recv(4096)
        if b" 101 " not in response.split(b"\r\n")[0]:
            raise RuntimeError("WebSocket upgrade refused: " + response.decode(errors="replace"))
        self.buffer = response.split(b"\r\n\r\n", 1)[1]
        self.next_id = 0

    def _send(self, text):
        payload = text.encode()
        mask = os.urandom(4)
        header = bytes([0x81])
        if len(payload) < 126:
            header += bytes([0x80 | len(payload)])
        elif len(payload) < 65536:
            header += bytes([0x80 | 126]) + len(payload).to_bytes(2, "big")
        else:
            header += bytes([0x80 | 127]) + len(payload).to_bytes(8, "big")
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def _read(self, n):
        while len(self.buffer) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RuntimeError("DevTools connection closed")
            self.buffer += chunk
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def _receive(self):
        message = b""
        while True:
            first, second = self._read(2)
            length = second & 0x7F
            if length == 126:
                length = int.from_bytes(self._read(2), "big")
            elif length == 127:
                length = int.from_bytes(self._read(8), "big")
            message += self._read(length)
            if first & 0x80:  # FIN
                return json.loads(message)

    def call(self, method, **params):
        self.next_id += 1
        self._send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = self._receive()
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def evaluate(self, expression):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        return result.get("result", {}).get("value")


def main():
    base, question, screenshot = sys.argv[1:4]
    profile = tempfile.mkdtemp(prefix="docent-chromium-")
    chromium = subprocess.Popen(
        ["chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", "--no-default-browser-check", "--window-size=1100,900",
         f"--user-data-dir={profile}", "--remote-debugging-port=0", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        port = None
        for line in chromium.stderr:
            match = re.search(r"DevTools listening on ws://[^:]+:(\d+)/", line)
            if match:
                port = match.group(1)
                break
        if port is None:
            raise RuntimeError("Chromium did not start its DevTools endpoint")
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list"))
        page = next(t for t in targets if t["type"] == "page")
        tools = DevTools(page["webSocketDebuggerUrl"])
        tools.call("Page.enable")
        tools.call("Page.navigate", url=base + "/")
        deadline = time.time() + 30
        # Until the new document (not about:blank) has loaded.
        while tools.evaluate("location.href.startsWith(%s) && document.readyState" % json.dumps(base)) != "complete":
            if time.time() > deadline:
                raise RuntimeError("the page did not load")
            time.sleep(0.1)
        out = {"title": tools.evaluate("document.title")}

        # Type the key (if any) and the question, and press Go, as a user would.
        tools.evaluate(f"document.getElementById('key').value = {json.dumps(os.environ.get('DOCENT_PAGE_KEY', ''))}")
        tools.evaluate(f"document.getElementById('q').value = {json.dumps(question)}")
        tools.evaluate("document.getElementById('go').click()")
        first_text_at = None
        started = time.time()
        deadline = started + 240
        while tools.evaluate("document.body.dataset.state") != "done":
            if first_text_at is None and (tools.evaluate("document.getElementById('answer').textContent.length") or 0) > 0:
                first_text_at = time.time() - started
            if time.time() > deadline:
                raise RuntimeError("no answer within 240 s")
            time.sleep(0.05)
        out["seconds"] = time.time() - started
        out["first_text_seconds"] = first_text_at
        out["answer"] = tools.evaluate("document.getElementById('answer').textContent")
        out["error"] = tools.evaluate("document.getElementById('error').textContent")
        out["sources"] = tools.evaluate("[...document.querySelectorAll('#sources a.source')].map(a => a.textContent)")
        # Clicking a source shows its chunk.
        tools.evaluate("document.querySelector('#sources a.source')?.click()")
        out["shown_chunk"] = tools.evaluate("document.querySelector('#sources pre:not([hidden])')?.textContent || ''")
        shot = tools.call("Page.captureScreenshot", format="png")
        with open(screenshot, "wb") as f:
            f.write(base64.b64decode(shot["data"]))
        print(json.dumps(out))
    finally:
        chromium.kill()
        chromium.wait()


if __name__ == "__main__":
    main()
