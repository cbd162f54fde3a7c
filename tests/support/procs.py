"""Real warroom processes (API and worker) for multi-process and fault tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.server import free_port, http_client


class Proc:
    """One `python -m warroom ...` process with its log file; killable and restartable."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.args = args
        self.env = env
        self.log_path = log_path
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Proc:
        log = open(self.log_path, "ab")  # noqa: SIM115 - kept open for the child's lifetime
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "warroom", *self.args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        return self

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.alive and self.popen is not None:
            os.killpg(self.popen.pid, sig)
            self.popen.wait(timeout=30)

    def stop(self) -> None:
        if self.alive and self.popen is not None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class ApiProc(Proc):
    def __init__(self, env: dict[str, str], log_path: Path, *, worker: bool = False) -> None:
        self.port = free_port()
        args = ["serve", "--port", str(self.port), "--no-migrate"]
        if not worker:
            args.append("--no-worker")
        super().__init__(args, env, log_path)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ApiProc:
        super().start()
        deadline = time.monotonic() + 30
        with http_client(timeout=1) as client:
            while time.monotonic() < deadline:
                if not self.alive:
                    raise RuntimeError(f"API process died:\n{self.log()[-3000:]}")
                try:
                    if client.get(f"{self.url}/healthz").status_code in (200, 503):
                        return self
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
        raise RuntimeError(f"API process did not answer:\n{self.log()[-3000:]}")


def worker_proc(env: dict[str, str], log_path: Path) -> Proc:
    return Proc(["worker"], env, log_path)


def env_for(db_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARROOM_")}
    env.update({"WARROOM_DATABASE_URL": db_url, "PYTHONUNBUFFERED": "1"}, **extra)
    if "PYTHONPATH" in os.environ:
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    else:
        env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2] / "src")
    return env


def start_piped_worker(env: dict[str, str]) -> subprocess.Popen[str]:
    """A `warroom worker` whose output the test reads; returns once it says it is running."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "warroom", "worker"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert "running" in line, line
    return proc


def stop_procs(*procs: subprocess.Popen[str]) -> None:
    """Terminate, then kill what does not stop within 15 s."""
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=5)
