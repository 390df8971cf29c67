"""The reference OpenAI-compatible server of the Pool tier's tests, for every language's suite.

Serves a GGUF model with llama-cpp-python's server app (`llama_cpp.server`: its own settings,
its own app factory, its own routes; nothing of bizra) in this process, on a loopback socket
bound to a free port, so that a test never collides with another one or with a server already
running on the machine.

How every suite (Rust, C, Python, Node, Kotlin, ...) uses it:

    $BIZRA_POOL_PYTHON $BIZRA_POOL_SERVER --model $BIZRA_TEST_MODEL [options]

  * `make pool-server` installs the venv and `mk/pool.mk` exports both variables for every
    recipe (`BIZRA_POOL_SERVER` is this file). A suite that finds them unset fails, saying to run
    `make pool-server`: it never skips.
  * Spawn it with stdin a pipe, stdout a pipe, stderr inherited (or logged). Keep stdin open:
    its end is the signal to stop (from /dev/null, it stops at once).
  * Read ONE line from stdout: the API's base URL, `http://127.0.0.1:PORT/v1`. It is printed only
    once the server answers HTTP requests, after the model is loaded. If the process exits before
    printing it (EOF on stdout), the reason is on stderr.
  * To stop it: close its stdin (it exits within a few seconds; open streams are cut), or send
    SIGTERM or SIGINT. A harness that dies closes the pipe too, so no server outlives its test.
    SIGKILL kills the server itself (it runs in this process): that is how a test kills it mid-
    stream.

Options (both `--n-ctx` and llama-cpp-python's own `--n_ctx` spellings are accepted):

  --model PATH        the GGUF file (required)
  --port N            the port to bind (default 0: a free one). A test restarting a server at the
                      same address after killing it passes the old port (SO_REUSEADDR is set).
  --api-key KEY       requests must carry `Authorization: Bearer KEY` (else 401)
  --n-ctx N           context size (default 2048)
  --n-threads N       generation threads (default 1: suites run several servers side by side
                      on small machines; benchmarks pass 2)
  --verbose true      llama.cpp's and the server's logs on stderr (default: quiet)
  any other option of `python -m llama_cpp.server` (`--seed`, `--chat_format`, `--model_alias`,
  ...) is passed through to its settings. `--host` is refused: it always listens on 127.0.0.1.

The model is served under the id llama-cpp-python gives it (the path given to --model, unless
`--model_alias` names it). Known traits of this server (llama-cpp-python 0.3.x): no /health
endpoint (GET /v1/models answers instead), no vocabulary size in /v1/models (configure it in the
client: SmolLM2 has 49152 tokens), no usage in streamed responses (stream_options is ignored),
and sampling defaults of its own (repeat_penalty 1.1, top_k 40, min_p 0.05). It serves one
request at a time: a second request arriving while a stream runs makes it end that stream early.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import threading
import time
import urllib.request

# How long to wait for open connections after stdin closes or a signal, before exiting anyway.
GRACE_SECONDS = 2.0
# How long the server may take to answer its first request once the model is loaded.
START_SECONDS = 60.0


def fail(message: str) -> None:
    print(f"pool_server.py: {message}", file=sys.stderr, flush=True)
    sys.exit(2)


def normalize(argv: list[str]) -> list[str]:
    """`--n-ctx 8` and `--n-ctx=8` become llama-cpp-python's `--n_ctx 8`."""
    out = []
    for a in argv:
        if a.startswith("--"):
            name, eq, value = a[2:].partition("=")
            a = "--" + name.replace("-", "_") + eq + value
        out.append(a)
    return out


def parse(argv: list[str]):
    try:
        from llama_cpp.server.cli import add_args_from_model
        from llama_cpp.server.settings import ModelSettings, ServerSettings, Settings
    except ImportError as e:
        fail(f"llama-cpp-python's server is not installed for {sys.executable} ({e}): run `make pool-server`")

    parser = argparse.ArgumentParser(
        prog="pool_server.py",
        description="llama-cpp-python's server on 127.0.0.1, a free port; prints its base URL",
    )
    # Every setting of llama-cpp-python's own command line, then ours.
    add_args_from_model(parser, Settings)
    args = parser.parse_args(normalize(argv))
    if not args.model:
        fail("--model PATH is required (the GGUF to serve)")
    if not os.path.isfile(args.model):
        fail(f"no model at {args.model} (run `make model`)")
    if args.host not in (None, "127.0.0.1"):
        fail("--host is not an option: the server listens on 127.0.0.1 only")
    port = args.port if args.port is not None else 0
    args.host, args.port = "127.0.0.1", port
    if args.n_threads is None:
        args.n_threads = 1
    if args.n_threads_batch is None:
        args.n_threads_batch = args.n_threads
    if args.verbose is None:
        args.verbose = False
    given = {k: v for k, v in vars(args).items() if v is not None}
    # pydantic-settings also reads the environment (API_KEY, N_CTX, ...): no key unless given.
    given.setdefault("api_key", None)
    server_settings = ServerSettings(**{k: v for k, v in given.items() if k in ServerSettings.model_fields})
    model_settings = ModelSettings(**{k: v for k, v in given.items() if k in ModelSettings.model_fields})
    return server_settings, model_settings


def bind(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError as e:
        fail(f"cannot bind 127.0.0.1:{port}: {e}")
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def answers(url: str, api_key: str | None) -> bool:
    """Whether GET {url}/models gets any HTTP answer (401 included)."""
    req = urllib.request.Request(url + "/models")
    if api_key:
        req.add_header("Authorization", f"Bearer {api_key}")
    try:
        with urllib.request.urlopen(req, timeout=5):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


class Lifetime:
    """When to stop: stdin closed (the harness closed it, or died) or a signal. Watched from the
    very start, so that a harness that dies while the model loads leaves nothing behind."""

    def __init__(self) -> None:
        self.server = None  # the uvicorn server, once there is one
        self.stopping = threading.Event()

    def stop(self, *_) -> None:
        if self.stopping.is_set():
            return
        self.stopping.set()
        if self.server is None:
            os._exit(0)
        self.server.should_exit = True
        # Whatever still runs (a generation in a worker thread) cannot hold the exit up for long.
        threading.Timer(GRACE_SECONDS + 1.0, lambda: os._exit(0)).start()

    def watch_stdin(self) -> None:
        try:
            while sys.stdin.buffer.read(4096):
                pass
        except (OSError, ValueError):
            pass
        self.stop()

    def watch_server(self) -> None:
        # Uvicorn catches SIGTERM and SIGINT itself while it runs (setting should_exit).
        while not (self.server is not None and self.server.should_exit):
            time.sleep(0.05)
        self.stop()


def main() -> None:
    lifetime = Lifetime()
    signal.signal(signal.SIGTERM, lifetime.stop)
    signal.signal(signal.SIGINT, lifetime.stop)
    threading.Thread(target=lifetime.watch_stdin, daemon=True).start()

    server_settings, model_settings = parse(sys.argv[1:])

    import uvicorn
    from llama_cpp.server.app import create_app

    # Loads the model (seconds); a bad file fails here, before anything is printed.
    try:
        app = create_app(server_settings=server_settings, model_settings=[model_settings])
    except Exception as e:  # noqa: BLE001 - any failure to load is reported the same way
        fail(f"cannot serve {model_settings.model}: {e}")

    sock = bind(server_settings.port)
    port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    config = uvicorn.Config(
        app,
        log_level="info" if model_settings.verbose else "warning",
        access_log=bool(model_settings.verbose),
        timeout_graceful_shutdown=int(GRACE_SECONDS),
        lifespan="on",
    )
    server = uvicorn.Server(config)

    def announce() -> None:
        deadline = time.monotonic() + START_SECONDS
        while not (server.started and answers(url, server_settings.api_key)):
            if lifetime.stopping.is_set():
                return
            if server.should_exit or time.monotonic() > deadline:
                print("pool_server.py: the server did not start", file=sys.stderr, flush=True)
                os._exit(3)
            time.sleep(0.02)
        try:
            sys.stdout.write(url + "\n")
            sys.stdout.flush()
        except OSError:
            # Nobody reads it any more: the harness is gone.
            os._exit(0)

    lifetime.server = server
    if lifetime.stopping.is_set():  # stdin closed while the model loaded
        os._exit(0)
    threading.Thread(target=announce, daemon=True).start()
    threading.Thread(target=lifetime.watch_server, daemon=True).start()
    server.run(sockets=[sock])
    os._exit(0)


if __name__ == "__main__":
    main()
