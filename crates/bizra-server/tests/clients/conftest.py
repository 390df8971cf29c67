"""A real `bizra serve` for the client suites: the built `bizra` binary on a temporary data
directory (`bizra init` with the test model), listening on a free loopback port.

Environment (set by `make test-server-clients`):
  BIZRA_BIN         the `bizra` program (default: $CARGO_TARGET_DIR/release/bizra)
  BIZRA_TEST_MODEL  the GGUF model served (SmolLM2-135M-Instruct Q4_1, `make model`)
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PASSPHRASE = "clients test passphrase"


def _binary() -> Path:
    given = os.environ.get("BIZRA_BIN")
    if given:
        path = Path(given)
    else:
        target = os.environ.get("CARGO_TARGET_DIR") or str(Path(__file__).parents[4] / "target")
        path = Path(target) / "release" / "bizra"
    if not path.is_file():
        pytest.fail(f"no bizra binary at {path}: run `make cli` (or set BIZRA_BIN)")
    return path


def _model() -> Path:
    given = os.environ.get("BIZRA_TEST_MODEL")
    path = (
        Path(given)
        if given
        else Path.home() / ".cache" / "bizra" / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
    )
    if not path.is_file():
        pytest.fail(f"no test model at {path}: run `make model` (or set BIZRA_TEST_MODEL)")
    return path


@dataclass
class Server:
    """A running `bizra serve`: its base URL, bearer token and data directory."""

    url: str
    node_id: str
    token: str
    home: Path
    process: subprocess.Popen[str]
    log: list[str]

    def stop(self) -> int:
        """SIGTERM (graceful shutdown), then the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def start_server(
    home: Path,
    extra_env: dict[str, str] | None = None,
    serve_args: Callable[[dict[str, str]], list[str]] | None = None,
) -> Server:
    """`bizra init --model M` on `home`, then `bizra --json serve --bind 127.0.0.1:0` (and the
    arguments `serve_args` gives, once the node's key exists); returns once the server printed
    its `listening` line."""
    bin_ = _binary()
    env = dict(os.environ)
    env.update({"BIZRA_HOME": str(home), "BIZRA_PASSPHRASE": PASSPHRASE})
    env.pop("BIZRA_SERVER_TOKEN", None)
    env.update(extra_env or {})
    init = subprocess.run(
        [str(bin_), "--json", "init", "--model", str(_model())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert init.returncode == 0, f"bizra init failed ({init.returncode}): {init.stderr}"
    token = (home / "api.token").read_text().splitlines()[0].strip()
    assert len(token) >= 32

    proc = subprocess.Popen(
        [str(bin_), "--json", "serve", "--bind", "127.0.0.1:0"]
        + (serve_args(env) if serve_args else []),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str | None] = queue.Queue()
    log: list[str] = []

    def pump(stream: object, keep: bool) -> None:
        for line in stream:  # type: ignore[attr-defined]
            log.append(line)
            if keep:
                lines.put(line)
        if keep:
            lines.put(None)

    threading.Thread(target=pump, args=(proc.stdout, True), daemon=True).start()
    threading.Thread(target=pump, args=(proc.stderr, False), daemon=True).start()
    listening: dict[str, str] | None = None
    while listening is None:
        try:
            line = lines.get(timeout=120)
        except queue.Empty:
            proc.kill()
            pytest.fail("bizra serve printed no `listening` line in 120 s:\n" + "".join(log))
        if line is None:
            proc.wait()
            pytest.fail(f"bizra serve exited ({proc.returncode}):\n" + "".join(log))
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(event, dict) and event.get("event") == "listening":
            listening = event
    return Server(
        url=listening["url"],
        node_id=listening["node_id"],
        token=token,
        home=home,
        process=proc,
        log=log,
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("node") / "home")
    try:
        yield srv
    finally:
        status = srv.stop()
        assert status == 0, "bizra serve did not stop cleanly:\n" + "".join(srv.log)
