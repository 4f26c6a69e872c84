"""Child processes that live and die together (the demo's worker and web server)."""
import contextlib
import ctypes
import signal
import socket
import subprocess  # nosec B404 # starts our own child processes from argv lists, never a shell

PR_SET_PDEATHSIG = 1


def die_with_parent():
    # Linux: a child is told to stop when the demo process goes, even if it is SIGKILLed.
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def port_is_free(host, port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host="127.0.0.1"):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class ProcessGroup:
    def __init__(self):
        self.children = {}

    def start(self, name, args, **kwargs):
        child = subprocess.Popen(  # nosec B603 # argv lists built by our own commands, no shell
            args, preexec_fn=die_with_parent, stdin=subprocess.DEVNULL, **kwargs)
        self.children[name] = child
        return child

    def first_exited(self):
        for name, child in self.children.items():
            if child.poll() is not None:
                return name
        return None

    def stop_all(self, timeout=10):
        for child in self.children.values():
            if child.poll() is None:
                child.terminate()
        for child in self.children.values():
            try:
                child.wait(timeout)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
