"""A real OpenSSH server for the SFTP delivery tests (Debian's ``openssh-server``).

``SftpServer(base)`` writes a temporary configuration (loopback only, a fresh ed25519 host key,
key authentication only, ``internal-sftp``), a client key pair allowed in ``authorized_keys`` and
a ``known_hosts`` file holding the host key, then runs ``/usr/sbin/sshd -D -e -f <config> -p
<free port>``. Who logs in:

- as root (CI runs in a container as root): the unprivileged user ``nobody``, so that file
  permissions apply on the server side as they would for a real SFTP account (root bypasses
  them). sshd needs its privilege separation folder ``/run/sshd``, created when missing;
- otherwise: the current user.

``wrap`` runs sshd inside another command, e.g. ``unshare`` to give it a small tmpfs as a full
disk. :func:`unavailable` says why sshd cannot run here (the tests skip with that reason).

``ThrottledProxy`` relays a TCP port to another, slowly from client to server, so that a test can
stop the server while an upload is surely under way.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

SSHD = "/usr/sbin/sshd"
NOBODY = "nobody"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def login_user() -> pwd.struct_passwd:
    if os.geteuid() == 0:
        return pwd.getpwnam(NOBODY)
    return pwd.getpwuid(os.getuid())


def unavailable() -> str | None:
    """Why a test sshd cannot run on this machine, or None."""
    if not Path(SSHD).is_file():
        return f"{SSHD} not found: install Debian's openssh-server (.ci/run does) to run the SFTP tests"
    if shutil.which("ssh-keygen") is None:
        return "ssh-keygen not found (openssh-client): cannot make the test keys"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(NOBODY)
        except KeyError:
            return "no 'nobody' user to log in to the test sshd as"
        try:
            os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege separation folder
        except OSError as exc:
            return f"cannot create /run/sshd for sshd's privilege separation: {exc}"
    return None


def _unshare() -> list[str]:
    """A private mount namespace; for a user without privileges, inside a user namespace where it
    is root (when the kernel allows unprivileged user namespaces)."""
    extra = [] if os.geteuid() == 0 else ["--user", "--map-root-user"]
    return ["unshare", *extra, "--mount", "--propagation", "private", "--"]


def can_mount_tmpfs() -> str | None:
    """Why a private tmpfs (a small full disk) cannot be mounted here, or None."""
    if shutil.which("unshare") is None:
        return "unshare (util-linux) not found"
    probe = tempfile.mkdtemp(prefix="passerelle-tmpfs-probe-")
    try:
        done = subprocess.run(
            [*_unshare(), "mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", probe],
            capture_output=True,
            text=True,
            timeout=30,
        )
    finally:
        os.rmdir(probe)
    if done.returncode != 0:
        return f"cannot mount a tmpfs in a private mount namespace here: {done.stderr.strip() or done.returncode}"
    return None


def small_tmpfs(folder: Path, size: str, owner: int | None = None) -> list[str]:
    """A command prefix that runs the rest of the command line with a ``size`` tmpfs mounted on
    ``folder`` (in a private mount namespace: nothing is left mounted when it ends)."""
    opts = f"size={size},mode=0755" + (f",uid={owner}" if owner is not None else "")
    return [
        *_unshare(),
        "sh",
        "-c",
        'mount -t tmpfs -o "$1" tmpfs "$2" && shift 2 && exec "$@"',
        "sh",
        opts,
        str(folder),
    ]


def _keygen(path: Path, comment: str) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)], check=True)
    return path.with_suffix(".pub").read_text().split()[:2]


class SftpServer:
    """One sshd serving SFTP on 127.0.0.1; ``depot`` is a folder the login user may write to."""

    def __init__(self, base: Path | None = None, *, sftp_flags: str = "", wrap: Sequence[str] = ()) -> None:
        self.base = Path(base or tempfile.mkdtemp(prefix="passerelle-sshd-"))
        self.base.mkdir(parents=True, exist_ok=True)
        os.chmod(self.base, 0o755)  # the login user reads authorized_keys below it
        self.user = login_user()
        self.port = free_port()
        self.wrap = list(wrap)
        self.depot = self.base / "depot"
        self.depot.mkdir(exist_ok=True)
        os.chown(self.depot, self.user.pw_uid, self.user.pw_gid)
        self.host_key = self.base / "ssh_host_ed25519_key"
        host_type, host_b64 = _keygen(self.host_key, "passerelle-test-host")
        self.client_key = self.base / "id_ed25519"
        client_type, client_b64 = _keygen(self.client_key, "passerelle-test-client")
        authorized = self.base / "authorized_keys"
        authorized.write_text(f"{client_type} {client_b64}\n")
        os.chmod(authorized, 0o644)
        self.host_key_line = f"{host_type} {host_b64}"
        self.known_hosts = self.base / "known_hosts"
        self.write_known_hosts(self.port)
        self.log_path = self.base / "sshd.log"
        self.config = self.base / "sshd_config"
        self.config.write_text(
            "\n".join(
                [
                    "ListenAddress 127.0.0.1",
                    f"HostKey {self.host_key}",
                    f"PidFile {self.base / 'sshd.pid'}",
                    f"AuthorizedKeysFile {authorized}",
                    "PubkeyAuthentication yes",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "UsePAM no",
                    "StrictModes no",
                    "PermitRootLogin no",
                    f"AllowUsers {self.user.pw_name}",
                    f"Subsystem sftp internal-sftp {sftp_flags}".rstrip(),
                    f"ForceCommand internal-sftp {sftp_flags}".rstrip(),
                    "MaxStartups 50",
                    "LogLevel VERBOSE",
                    "",
                ]
            )
        )
        self.process: subprocess.Popen | None = None

    def write_known_hosts(self, port: int, line: str | None = None) -> None:
        self.known_hosts.write_text(f"[127.0.0.1]:{port} {line or self.host_key_line}\n")

    def url(self, folder: Path | str | None = None, port: int | None = None) -> str:
        return f"sftp://{self.user.pw_name}@127.0.0.1:{port or self.port}{folder or self.depot}/"

    def start(self, timeout: float = 20) -> SftpServer:
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [*self.wrap, SSHD, "-D", "-e", "-f", str(self.config), "-p", str(self.port)],
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"sshd exited with {self.process.returncode}: {self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    if s.recv(64).startswith(b"SSH-"):
                        return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"sshd did not answer on port {self.port} within {timeout} s: {self.log()}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def _processes(self):
        import psutil

        if self.process is None:
            return []
        try:
            parent = psutil.Process(self.process.pid)
            return [*parent.children(recursive=True), parent]
        except psutil.NoSuchProcess:
            return []

    def kill(self) -> None:
        """The server goes away: sshd and every session it serves are killed at once."""
        for proc in self._processes():
            try:
                proc.send_signal(signal.SIGKILL)
            except Exception:  # noqa: BLE001 - already gone
                pass
        if self.process is not None:
            self.process.wait(timeout=10)
            self.process = None

    def stop(self) -> None:
        if self.process is None:
            return
        for proc in self._processes():
            try:
                proc.terminate()
            except Exception:  # noqa: BLE001
                pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()
        self.process = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> SftpServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.remove()


class ThrottledProxy:
    """127.0.0.1:<port> relayed to 127.0.0.1:<upstream>, client to server at ``rate`` bytes/s."""

    def __init__(self, upstream: int, rate: int) -> None:
        self.upstream = upstream
        self.rate = rate
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.stopping = threading.Event()
        self.sockets: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        self.listener.settimeout(0.1)
        while not self.stopping.is_set():
            try:
                client, _ = self.listener.accept()
            except (TimeoutError, OSError):
                continue
            try:
                server = socket.create_connection(("127.0.0.1", self.upstream), timeout=5)
            except OSError:
                client.close()  # the server is gone: the client sees its connection closed
                continue
            self.sockets += [client, server]
            threading.Thread(target=self._pump, args=(client, server, self.rate), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, None), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, rate: int | None) -> None:
        chunk = 4096
        try:
            while not self.stopping.is_set():
                data = src.recv(chunk)
                if not data:
                    break
                dst.sendall(data)
                if rate:
                    time.sleep(len(data) / rate)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    def close(self) -> None:
        self.stopping.set()
        self.listener.close()
        for s in self.sockets:
            try:
                s.close()
            except OSError:
                pass
        self.thread.join(timeout=5)
