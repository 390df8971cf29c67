"""The status page (`GET /`) in headless Chromium, against the real `bizra` program.

Node A (`bizra join`, the test model as `[inference] model`, the sole validator of a federation
document) serves the page; node B joins it after the page has loaded, so B can only appear
through the WebSocket. The page must show A's identity and model, then B alive in the peer list,
accept A's API token, stream an answer from the model and show its signed envelope verified by
`/api/v1/pci/envelope/verify`, then show a proposal's decision as it happens. A second
server without a model or a federation node must say so. Any console error or uncaught
exception fails the test. Screenshots go where `--screenshot` says (and `-degraded` beside it).

Run by `make test-page` (mk/page.mk): Debian's chromium, Python Playwright from PyPI, no browser
download.
"""

import argparse
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

PASSPHRASE = "status page test passphrase"
QUESTION = "What is the capital of France? Answer in one word."


class Bizra:
    """`bizra --data-dir <dir>` on a fresh data directory."""

    def __init__(self, exe, root, name):
        self.exe = exe
        self.home = Path(root) / name
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("BIZRA_")}
        self.env["BIZRA_PASSPHRASE"] = PASSPHRASE

    def run(self, *args):
        r = subprocess.run([self.exe, "--data-dir", str(self.home), *args], env=self.env,
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise AssertionError(f"bizra {' '.join(args)}: exit {r.returncode}\n{r.stderr}")
        return r.stdout

    def spawn(self, *args):
        return Running(subprocess.Popen(
            [self.exe, "--data-dir", str(self.home), "--json", *args], env=self.env,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True))

    def token(self):
        return (self.home / "api.token").read_text().splitlines()[0].strip()


class Running:
    """A `bizra` that runs on; its stdout JSON lines arrive on a queue."""

    def __init__(self, proc):
        self.proc = proc
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line)

    def wait_json(self, pred, secs=120):
        deadline = time.monotonic() + secs
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no such line within {secs} s")
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            try:
                v = json.loads(line)
            except ValueError:
                continue
            if pred(v):
                return v

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("bizra did not stop within 30 s of SIGTERM")


def text(page, selector):
    return page.locator(selector).inner_text()


def watch_console(page, errors):
    def on_console(msg):
        if msg.type == "error":
            errors.append({"text": msg.text, "url": (msg.location or {}).get("url", "")})
    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append({"text": f"uncaught: {exc}", "url": ""}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bizra", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--screenshot", required=True)
    args = ap.parse_args()
    browser_exe = shutil.which("chromium")
    if not browser_exe:
        sys.exit("chromium is not installed (make test-page installs it as root on Debian)")
    if not Path(args.model).is_file():
        sys.exit(f"the test model is missing at {args.model}: run `make model`")
    shot = Path(args.screenshot)
    shot.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()

    with tempfile.TemporaryDirectory(prefix="bizra-page-") as root:
        a = Bizra(args.bizra, root, "a")
        b = Bizra(args.bizra, root, "b")
        c = Bizra(args.bizra, root, "c")
        a.run("init", "--model", args.model)
        b.run("init")
        c.run("init")
        a_ident = json.loads(a.run("--json", "identity", "show"))
        a_id = a_ident["node_id"]
        document = Path(root) / "federation.json"
        document.write_text(json.dumps({
            "epoch": 1, "federation": "page",
            "validators": [{"key": a_ident["public_key"], "power": 1}],
            "timeouts_ms": {"delta": 100, "precommit": 300, "prevote": 300, "propose": 500,
                            "rebroadcast": 500}}))
        fed = ["--gossip-bind", "127.0.0.1:0", "--bind", "127.0.0.1:0", "--federation", "page"]
        procs = []
        try:
            node_a = a.spawn("join", *fed, "--document", str(document))
            procs.append(node_a)
            seed = node_a.wait_json(lambda v: v.get("event") == "ready")["addr"]
            url = node_a.wait_json(lambda v: v.get("event") == "listening")["url"]

            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=browser_exe, headless=True)
                ctx = browser.new_context(viewport={"width": 1280, "height": 1000})
                page = ctx.new_page()
                errors = []
                watch_console(page, errors)
                page.goto(url + "/")
                assert page.title() == "bizra node", page.title()

                # Identity, the configured model, a running federation with no peer yet.
                # (Locator assertions: the page's CSP forbids the eval that wait_for_function
                # needs, and the test keeps the CSP on.)
                expect(page.locator("#node-id")).to_have_text(a_id)
                assert text(page, "#id-node") == a_id
                model_key = Path(args.model).stem
                page.wait_for_selector(f'#models tr[data-key="{model_key}"]')
                assert "configured" in text(page, f'#models tr[data-key="{model_key}"]')
                expect(page.locator("#federation-state")).to_have_text(re.compile(r"^running"))
                expect(page.locator("#ws-state")).to_have_text(re.compile(r"^events: live"))
                assert text(page, "#peers") == "no peers yet", text(page, "#peers")

                # B joins now: only the WebSocket can tell the page.
                node_b = b.spawn("join", seed, *fed)
                procs.append(node_b)
                b_id = node_b.wait_json(lambda v: v.get("event") == "ready")["node_id"]
                page.wait_for_selector(f'#peers li[data-node-id="{b_id}"][data-state="alive"]',
                                       timeout=60_000)
                assert "1 live" in text(page, "#peer-count"), text(page, "#peer-count")
                expect(page.locator("#federation-state")).to_contain_text("2 member(s)")

                # Without a token the prompt waits for one; with A's it is accepted and kept in
                # the tab's session storage, not in the address.
                assert page.locator("#generate").is_disabled()
                assert "token" in text(page, "#inference-state")
                page.fill("#token", a.token())
                page.click("#token-save")
                expect(page.locator("#token-state")).to_have_text("token accepted")
                assert page.evaluate("sessionStorage.getItem('bizra.api_token')") == a.token()
                assert a.token() not in page.url
                assert page.locator("#token").input_value() == ""

                # A streamed answer, then its envelope, verified.
                page.fill("#prompt", QUESTION)
                page.fill("#max-tokens", "24")
                page.locator("#generate").click()
                page.wait_for_selector("#verdict[data-verdict]", timeout=180_000)
                verdict = page.locator("#verdict").get_attribute("data-verdict")
                tokens = int(page.locator("#answer").get_attribute("data-tokens"))
                answer = text(page, "#answer")
                envelope = json.loads(page.locator("#envelope").text_content())
                assert tokens > 1, f"not streamed: {tokens} token event(s)"
                assert answer.strip(), "no answer"
                assert envelope["sender"] == a_id, envelope
                assert envelope["payload"]["type"] == "bizra.inference", envelope
                assert envelope["payload"]["output"].strip() == answer.strip(), (answer, envelope)
                assert verdict in ("admitted", "authentic"), (verdict, text(page, "#verdict"))
                assert "verified" in text(page, "#verdict"), text(page, "#verdict")
                assert "failed" not in text(page, "#generate-state"), text(page, "#generate-state")
                # A proposal signed by A is decided; the page hears of it on the consensus topic.
                a.run("federation", "propose", "--url", url, "--payload",
                      json.dumps({"type": "bizra.proposal", "action": "test.note",
                                  "note": "seen by the status page"}),
                      "--snr", "0.9", "--ihsan", "0.97")
                expect(page.locator("#decisions li", has_text="1 proposal(s)").first).to_be_visible(
                    timeout=60_000)
                expect(page.locator("#federation-state")).to_have_text(re.compile(r"decided [1-9]"))
                page.locator("#envelope-box summary").click()
                page.screenshot(path=str(shot), full_page=True)

                # The one error the happy path may log: the gate chain refusing the answer's
                # scores (422), which the page shows as "not admitted" (authentic, verified).
                allowed = [e for e in errors if verdict == "authentic"
                           and e["url"].endswith("/api/v1/pci/envelope/verify")
                           and "422" in e["text"]]
                unexpected = [e for e in errors if e not in allowed]
                assert not unexpected, f"console errors: {unexpected}"

                # A server without a model or a federation node says so.
                server_c = c.spawn("serve", "--bind", "127.0.0.1:0")
                procs.append(server_c)
                url_c = server_c.wait_json(lambda v: v.get("event") == "listening")["url"]
                page2 = ctx.new_page()
                errors2 = []
                watch_console(page2, errors2)
                page2.goto(url_c + "/")
                expect(page2.locator("#federation-state")).to_have_text(
                    re.compile(r"^federation not running"))
                expect(page2.locator("#inference-state")).to_contain_text(
                    "Inference is unavailable")
                assert page2.locator("#generate").is_disabled()
                assert page2.locator("#prompt").is_disabled()
                assert "no token" in text(page2, "#token-state")
                page2.screenshot(path=str(shot.with_name(shot.stem + "-degraded" + shot.suffix)),
                                 full_page=True)
                assert not errors2, f"console errors: {errors2}"
                browser.close()
        finally:
            codes = [p.stop() for p in reversed(procs)]
        assert codes == [0] * len(codes), f"exit codes {codes}"
    print(f"status page: loaded, live peer seen, {tokens} tokens streamed, envelope {verdict} "
          f"({time.monotonic() - started:.1f} s); screenshot {shot}")


if __name__ == "__main__":
    main()
