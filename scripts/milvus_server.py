#!/usr/bin/env python
"""A real Milvus server on this machine, without Docker: the standalone build that the `milvus`
pip package ships (Milvus 2.3.5), in a virtualenv of its own, with its data in a temp folder.

    python scripts/milvus_server.py start [--port 19530]      # in the background; prints MILVUS_URI
    python scripts/milvus_server.py status
    python scripts/milvus_server.py stop
    python scripts/milvus_server.py run [--isolated] -- CMD…  # start, run CMD with MILVUS_URI set, stop

`run` stops the server however CMD ends (failure, Ctrl+C, SIGTERM) and returns CMD's exit code;
CI uses it. With `--isolated` the server and CMD run in a network namespace of their own that
has nothing but a loopback interface: Milvus 2.3 listens on every interface of the machine
whatever its configuration says (`<component>.ip` only sets the address it advertises), so this
is the only way to be sure nothing but loopback traffic is possible. It needs root (or
CAP_SYS_ADMIN); without it, `run` says so and runs unisolated.

The server package conflicts with nothing but is kept out of the course's venv anyway: it is a
150 MB binary that only this script needs. It is installed on first use (pip, by exact version)
into .cache/milvus-server/venv, which is git-ignored with the rest of .cache/.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HOME = ROOT / ".cache" / "milvus-server"
VENV = HOME / "venv"
STATE = HOME / "state.json"
PACKAGE = "milvus==2.3.5"
DEFAULT_PORT = 19530
#: Measured here: ~6 s from launch to an answer on 2 idle cores; far more when the cores are
#: busy (the binary is unpacked from LZMA on every start). Generous, but finite.
READY_DEADLINE_SEC = 180
#: Every Milvus component advertises this address to the others, so their traffic stays on
#: loopback (the listening sockets are another matter: see the module docstring).
COMPONENTS = ("rootCoord", "proxy", "queryCoord", "queryNode", "indexCoord", "indexNode",
              "dataCoord", "dataNode")


def say(message: str) -> None:
    print(f"[milvus-server] {message}", file=sys.stderr, flush=True)


# --- installing ------------------------------------------------------------------------------


def server_executable() -> Path:
    return VENV / "bin" / "milvus-server"


def ensure_installed() -> Path:
    """Install the server package into its own venv when it is missing (CI starts from a clean
    clone); a second call costs nothing."""
    exe = server_executable()
    if exe.is_file():
        return exe
    say(f"installing {PACKAGE} into {VENV.relative_to(ROOT)} (once)")
    HOME.mkdir(parents=True, exist_ok=True)
    venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    subprocess.run([str(VENV / "bin" / "python"), "-m", "pip", "install", "--quiet",
                    "--disable-pip-version-check", PACKAGE], check=True)
    if not exe.is_file():
        raise SystemExit(f"{PACKAGE} installed, but {exe} is missing: delete {VENV} and try again.")
    return exe


# --- starting and stopping -------------------------------------------------------------------


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("", port))  # Milvus binds every interface, so check them all
        except OSError:
            return False
    return True


def wait_ready(uri: str, process: subprocess.Popen, deadline_sec: float, logs: Path) -> float:
    """Seconds until the server answers a real request; raise with its log when it dies or the
    deadline passes."""
    from pymilvus import MilvusClient

    start = time.monotonic()
    last = ""
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with code {process.returncode} while starting.\n"
                               + tail(logs))
        try:
            client = MilvusClient(uri=uri, timeout=2)
            try:
                client.list_collections()
                return time.monotonic() - start
            finally:
                client.close()
        except Exception as exc:  # not up yet: any failure means "ask again"
            last = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if time.monotonic() - start > deadline_sec:
            raise RuntimeError(f"no answer from {uri} within {deadline_sec:.0f} s (last: {last}).\n"
                               + tail(logs))
        time.sleep(1)


def tail(logs: Path, lines: int = 30) -> str:
    out = []
    for path in sorted(logs.glob("*.log")):
        text = path.read_text(errors="replace").splitlines()[-lines:]
        if text:
            out.append(f"--- {path.name} (last {len(text)} lines)\n" + "\n".join(text))
    return "\n".join(out) or "(no server logs)"


def start(port: int, data: Path | None, deadline_sec: float) -> dict:
    """Launch the server in a process group of its own and wait until it answers."""
    exe = ensure_installed()
    if not port_is_free(port):
        raise SystemExit(f"port {port} is in use (another Milvus?): stop it, or pass --port.")
    owned = data is None
    data = Path(tempfile.mkdtemp(prefix="course-milvus-")) if data is None else data.absolute()
    data.mkdir(parents=True, exist_ok=True)
    logs = data / "logs"
    logs.mkdir(exist_ok=True)
    command = [str(exe), "--data", str(data), "--proxy-port", str(port)]
    for component in COMPONENTS:
        command += ["--extra-config", f"{component}.ip=127.0.0.1"]
    with (logs / "wrapper.log").open("w") as log:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                   start_new_session=True, cwd=data)
    uri = f"http://127.0.0.1:{port}"
    state = {"pid": process.pid, "uri": uri, "data": str(data), "owned_data": owned}
    HOME.mkdir(parents=True, exist_ok=True)
    STATE.write_text(json.dumps(state))
    try:
        seconds = wait_ready(uri, process, deadline_sec, logs)
    except BaseException:
        stop(state)
        raise
    say(f"Milvus 2.3.5 ready at {uri} after {seconds:.1f} s (pid {process.pid}, data {data})")
    return state


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop(state: dict, grace_sec: float = 10.0) -> None:
    """Stop the wrapper and its `milvus run standalone` child, then delete a temp data folder.

    SIGINT first: the wrapper's own handler stops and reaps its child. Then SIGKILL to the
    whole process group for anything left, so nothing outlives a failed test run.
    """
    pid = int(state["pid"])
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGINT)
    deadline = time.monotonic() + grace_sec
    while _group_alive(pid) and time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.2)
    if _group_alive(pid):
        say(f"server still running after {grace_sec:.0f} s: killing its process group")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)
    if state.get("owned_data"):
        shutil.rmtree(state["data"], ignore_errors=True)
    with contextlib.suppress(FileNotFoundError):
        if json.loads(STATE.read_text()).get("pid") == pid:
            STATE.unlink()
    say("stopped")


def read_state() -> dict | None:
    try:
        return json.loads(STATE.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


# --- run: start, run a command, stop -------------------------------------------------------


class _Stopped(Exception):
    pass


def _raise_stopped(signum, _frame):
    raise _Stopped(signal.Signals(signum).name)


def loopback_namespace_reexec(argv: list[str]) -> int | None:
    """Re-run this script inside a new network namespace; None when that is not allowed here."""
    unshare = shutil.which("unshare")
    ip = shutil.which("ip")
    if not unshare or not ip:
        say("no `unshare`/`ip` here: running without network isolation")
        return None
    probe = subprocess.run([unshare, "--net", ip, "link", "set", "lo", "up"], capture_output=True)
    if probe.returncode != 0:
        say("cannot make a network namespace here (needs root or CAP_SYS_ADMIN): running "
            "without network isolation")
        return None
    # --kill-child: if this process dies, the namespace's first process gets SIGKILL too.
    return subprocess.call([unshare, "--net", "--fork", "--kill-child", "--",
                            sys.executable, str(Path(__file__).resolve()), *argv])


def run(args: argparse.Namespace) -> int:
    if not args.command:
        raise SystemExit("run needs a command after `--`, e.g. run -- pytest tests/test_store.py")
    ensure_installed()  # before isolating: pip needs the registry
    if args.isolated and not args.in_namespace:
        argv = ["run", "--in-namespace", "--port", str(args.port), "--deadline",
                str(args.deadline), "--", *args.command]
        code = loopback_namespace_reexec(argv)
        if code is not None:
            return code
    if args.in_namespace:
        subprocess.run([shutil.which("ip") or "ip", "link", "set", "lo", "up"], check=True)
        say("in a network namespace of its own: loopback only")
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _raise_stopped)
    state = None
    started = time.monotonic()
    try:
        state = start(args.port, None, args.deadline)
        env = dict(os.environ, MILVUS_URI=state["uri"])
        env.pop("MILVUS_TOKEN", None)
        code = subprocess.call(args.command, env=env)
        say(f"command exited {code} after {time.monotonic() - started:.0f} s with the server up")
        return code
    except _Stopped as why:
        say(f"stopped by {why}")
        return 128 + 15
    finally:
        if state is not None:
            stop(state)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="action", required=True)
    for name in ("start", "run"):
        p = sub.add_parser(name)
        p.add_argument("--port", type=int, default=DEFAULT_PORT)
        p.add_argument("--deadline", type=float, default=READY_DEADLINE_SEC,
                       help="seconds to wait for the server to answer")
    sub.choices["start"].add_argument("--data", type=Path,
                                      help="data folder (default: a new temp folder, deleted on stop)")
    sub.choices["run"].add_argument("--isolated", action="store_true",
                                    help="run server and command in a loopback-only network namespace")
    sub.choices["run"].add_argument("--in-namespace", action="store_true", help=argparse.SUPPRESS)
    sub.choices["run"].add_argument("command", nargs=argparse.REMAINDER)
    sub.add_parser("stop")
    sub.add_parser("status")
    sub.add_parser("install")
    args = parser.parse_args(argv)
    if args.action == "run" and args.command[:1] == ["--"]:
        args.command = args.command[1:]
    if args.action == "install":
        say(f"installed: {ensure_installed()}")
        return 0
    if args.action == "start":
        if (state := read_state()) and _group_alive(int(state["pid"])):
            say(f"already running at {state['uri']} (pid {state['pid']})")
        else:
            state = start(args.port, args.data, args.deadline)
        print(f"export MILVUS_URI={state['uri']}")
        say("Milvus 2.3 listens on all of this machine's interfaces, with no password: keep it "
            "behind a firewall, and stop it when done (`stop`).")
        return 0
    state = read_state()
    if args.action == "status":
        alive = bool(state) and _group_alive(int(state["pid"]))
        print(f"running at {state['uri']} (pid {state['pid']})" if alive else "not running")
        return 0 if alive else 1
    if args.action == "stop":
        if not state:
            say("not running (no state file)")
            return 0
        stop(state)
        return 0
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
