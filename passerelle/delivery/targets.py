"""Where a file goes: a folder of this machine (``file://``) or an SFTP server (``sftp://``).

Both put a file the same way, so that a consumer never sees half a file:

1. the bytes go to a temporary name in the target folder, ``.<name>.part`` (hidden, and not
   matching ``*.xml`` / ``*.csv``), while the local file is hashed: if its sha256 is not the one
   published, nothing is renamed (the file changed since its publication);
2. the temporary file is checked: its size, and its sha256 read back (``verify: sha256``, the
   default; ``verify: size`` checks the size only, for very large files on slow links);
3. it is renamed to its final name in one operation (``rename`` on a local folder, the
   ``posix-rename@openssh.com`` extension of OpenSSH servers, which replaces an older file of the
   same name atomically).

A failure is a :class:`DeliveryFailure` with a French message for the people running
Passerelle and whether trying again within the run can help (``permanent``: an unknown or
changed server key, a refused key, a missing folder, a refused write).

SFTP uses paramiko: key authentication only (no agent, no password, no key looked for in
``~/.ssh``), the server key checked against the configured ``known_hosts`` file and refused when
it is missing or different (never added automatically).
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import posixpath
import socket
from dataclasses import dataclass
from pathlib import Path

from passerelle.delivery.config import Consumer
from passerelle.feeds.publish import fsync_path

CHUNK = 1 << 20
# paramiko logs each failed connection with a traceback at ERROR; our own message says it in
# French. No output unless the application configured logging (then it is still propagated).
logging.getLogger("paramiko").addHandler(logging.NullHandler())
SFTP_CHUNK = 32 * 1024  # paramiko sends at most 32 KiB per SFTP write request


class DeliveryFailure(Exception):
    """A delivery attempt failed; ``message`` is French, ``permanent`` when retrying cannot help."""

    def __init__(self, message: str, *, permanent: bool = False, connection: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.connection = connection  # failed before any file could be sent (server unreachable, refused)


@dataclass
class Sent:
    bytes: int
    sha256: str
    final_path: str


def temporary_name(name: str) -> str:
    return f".{name}.part"


def _os_error_text(exc: OSError, folder: Path) -> tuple[str, bool]:
    """French text of a local file error and whether it is permanent."""
    code = exc.errno
    if code in (errno.ENOSPC, errno.EDQUOT):
        return f"plus de place sur le disque du dossier {folder} ({os.strerror(code)})", False
    if code in (errno.EACCES, errno.EPERM):
        return f"écriture refusée dans le dossier {folder} (droits insuffisants : {os.strerror(code)})", True
    if code == errno.EROFS:
        return f"le dossier {folder} est en lecture seule ({os.strerror(code)})", True
    if code in (errno.ENOENT, errno.ENOTDIR):
        return f"le dossier {folder} n'existe pas ou n'est pas un dossier ({os.strerror(code)})", True
    return f"erreur d'écriture dans le dossier {folder} : {exc.strerror or exc}", False


def _changed_since_publication(local: Path, expected: str, got: str) -> DeliveryFailure:
    return DeliveryFailure(
        f"le fichier {local} ne correspond plus à ce qui a été publié (sha256 {got[:12]}… au lieu de "
        f"{expected[:12]}…) : il n'est pas envoyé. Relancez la publication de cette date.",
        permanent=True,
    )


# --- file:// -------------------------------------------------------------------------------------


class FileSession:
    """A folder of this machine (a local disk or a mounted share)."""

    def __init__(self, consumer: Consumer) -> None:
        self.consumer = consumer
        self.folder = Path(consumer.target.path)
        where = f"le dossier {self.folder}"
        if not self.folder.is_dir():
            raise DeliveryFailure(
                f"{where} n'existe pas ou n'est pas un dossier (partage non monté ?).", permanent=True, connection=True
            )

    def put(self, local: Path, name: str, sha256: str, size: int) -> Sent:
        where = f"le dossier {self.folder}"
        tmp = self.folder / temporary_name(name)
        final = self.folder / name
        digest = hashlib.sha256()
        written = 0
        try:
            try:
                tmp.unlink()  # left by an earlier attempt that died
            except FileNotFoundError:
                pass
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
            try:
                with open(local, "rb") as src:
                    while chunk := src.read(CHUNK):
                        digest.update(chunk)
                        view = memoryview(chunk)
                        while view:
                            n = os.write(fd, view)
                            view = view[n:]
                            written += n
                os.fsync(fd)
            finally:
                os.close(fd)
            got = digest.hexdigest()
            if got != sha256:
                raise _changed_since_publication(local, sha256, got)
            actual = os.stat(tmp).st_size
            if actual != size or written != size:
                raise DeliveryFailure(f"taille du fichier temporaire {tmp} : {actual} octets au lieu de {size}.")
            if self.consumer.verify == "sha256":
                back = _sha256_of(open(tmp, "rb"))
                if back != sha256:
                    raise DeliveryFailure(
                        f"le fichier relu dans {where} n'a pas le sha256 envoyé ({back[:12]}… au "
                        f"lieu de {sha256[:12]}…)."
                    )
            os.replace(tmp, final)
            fsync_path(self.folder)
        except DeliveryFailure:
            _remove_quietly(tmp)
            raise
        except OSError as exc:
            _remove_quietly(tmp)
            text, permanent = _os_error_text(exc, self.folder)
            raise DeliveryFailure(text, permanent=permanent) from exc
        return Sent(size, sha256, str(final))

    def close(self) -> None:
        pass


def _sha256_of(fh) -> str:
    digest = hashlib.sha256()
    with fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _remove_quietly(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


# --- sftp:// -------------------------------------------------------------------------------------


def _fingerprint(key) -> str:
    """``ssh-ed25519 SHA256:…``, as ``ssh-keygen -l`` shows it."""
    import base64

    raw = hashlib.sha256(key.asbytes()).digest()
    return f"{key.get_name()} SHA256:{base64.b64encode(raw).decode('ascii').rstrip('=')}"


class UnknownHostKey(Exception):
    def __init__(self, host: str, key) -> None:
        super().__init__(host)
        self.host = host
        self.key = key


def _reject_policy():
    import paramiko

    class Reject(paramiko.MissingHostKeyPolicy):
        def missing_host_key(self, client, hostname, key):  # noqa: ARG002 - paramiko's signature
            raise UnknownHostKey(hostname, key)

    return Reject()


class SftpSession:
    """One SSH connection to the consumer's SFTP server, for all its files of the run."""

    def __init__(self, consumer: Consumer) -> None:
        import paramiko

        self.consumer = consumer
        t = consumer.target
        self.server = f"{t.host}:{t.port}"
        self.client = paramiko.SSHClient()
        try:
            self.client.load_host_keys(consumer.known_hosts)
        except (OSError, paramiko.SSHException) as exc:
            raise DeliveryFailure(
                f"fichier known_hosts {consumer.known_hosts} illisible ({exc}) : aucune connexion "
                "sans clé de serveur vérifiée.",
                permanent=True,
                connection=True,
            ) from exc
        self.client.set_missing_host_key_policy(_reject_policy())
        timeout = consumer.timeout_seconds
        try:
            self.client.connect(
                t.host,
                port=t.port,
                username=t.user,
                key_filename=consumer.key,
                passphrase=consumer.passphrase(),
                timeout=timeout,
                banner_timeout=timeout,
                auth_timeout=timeout,
                channel_timeout=timeout,
                allow_agent=False,
                look_for_keys=False,
            )
            self.sftp = self.client.open_sftp()
            self.sftp.get_channel().settimeout(timeout)
        except BaseException as exc:
            self.client.close()
            if isinstance(exc, Exception):
                raise self._connect_failure(exc) from exc
            raise
        try:
            st = self.sftp.stat(t.path)
        except Exception as exc:  # noqa: BLE001 - told in the message
            self.close()
            raise self._transfer_failure(exc, f"le dossier {t.path}", connection=True) from exc
        import stat as st_mod

        if not st_mod.S_ISDIR(st.st_mode or 0):
            self.close()
            raise DeliveryFailure(f"{t.path} n'est pas un dossier sur {self.server}.", permanent=True, connection=True)

    def _connect_failure(self, exc: Exception) -> DeliveryFailure:
        import paramiko

        server, kh = self.server, self.consumer.known_hosts
        if isinstance(exc, UnknownHostKey):
            return DeliveryFailure(
                f"le serveur {server} présente la clé {_fingerprint(exc.key)}, absente de {kh} : connexion refusée "
                "(une clé de serveur n'est jamais acceptée à l'aveugle). Vérifiez cette empreinte auprès du "
                "partenaire, puis ajoutez-la à known_hosts.",
                permanent=True,
                connection=True,
            )
        if isinstance(exc, paramiko.BadHostKeyException):
            return DeliveryFailure(
                f"la clé présentée par {server} ({_fingerprint(exc.key)}) n'est pas celle de {kh} "
                f"({_fingerprint(exc.expected_key)}) : connexion refusée. Le serveur a changé de clé ou la connexion "
                "est interceptée : vérifiez auprès du partenaire avant de mettre known_hosts à jour.",
                permanent=True,
                connection=True,
            )
        if isinstance(exc, paramiko.PasswordRequiredException):
            return DeliveryFailure(
                f"la clé {self.consumer.key} est protégée par une phrase secrète : donnez-la par la variable nommée "
                "dans « passphrase_env ».",
                permanent=True,
                connection=True,
            )
        if isinstance(exc, paramiko.AuthenticationException):
            return DeliveryFailure(
                f"authentification refusée par {server} pour l'utilisateur « {self.consumer.target.user} » avec la clé "
                f"{self.consumer.key} (clé publique non autorisée chez le partenaire ?).",
                permanent=True,
                connection=True,
            )
        if isinstance(exc, (OSError, paramiko.SSHException)) and "private key" in str(exc).lower():
            return DeliveryFailure(f"clé {self.consumer.key} illisible : {exc}.", permanent=True, connection=True)
        if isinstance(exc, FileNotFoundError):
            return DeliveryFailure(f"clé {self.consumer.key} introuvable.", permanent=True, connection=True)
        if isinstance(exc, (socket.timeout, TimeoutError)):
            return DeliveryFailure(
                f"le serveur {server} ne répond pas (délai de {self.consumer.timeout_seconds:g} s dépassé).",
                connection=True,
            )
        if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError):
            return DeliveryFailure(
                f"connexion impossible à {server} (connexion refusée : serveur arrêté ou port fermé).", connection=True
            )
        if isinstance(exc, paramiko.SSHException) and "banner" in str(exc).lower():
            return DeliveryFailure(
                f"le serveur {server} a fermé la connexion sans répondre (service SSH arrêté ou "
                f"surchargé : {_plain(exc)}).",
                connection=True,
            )
        if isinstance(exc, socket.gaierror):
            return DeliveryFailure(f"nom d'hôte {self.consumer.target.host} inconnu ({exc.strerror}).", connection=True)
        return DeliveryFailure(f"connexion impossible à {server} : {_plain(exc)}.", connection=True)

    def _transfer_failure(self, exc: Exception, what: str, connection: bool = False) -> DeliveryFailure:
        server = self.server
        if self._connection_lost(exc):
            return DeliveryFailure(
                f"connexion à {server} perdue pendant l'envoi ({_plain(exc)}).", connection=connection
            )
        if isinstance(exc, OSError) and exc.errno == errno.EACCES:
            return DeliveryFailure(
                f"écriture refusée par {server} dans {what} (droits insuffisants).",
                permanent=True,
                connection=connection,
            )
        if isinstance(exc, OSError) and exc.errno == errno.ENOENT:
            return DeliveryFailure(f"{what} n'existe pas sur {server}.", permanent=True, connection=connection)
        return DeliveryFailure(
            f"le serveur {server} a refusé l'écriture dans {what} (« {_plain(exc)} » : disque plein, quota atteint ou "
            "erreur du serveur).",
            connection=connection,
        )

    def _connection_lost(self, exc: Exception) -> bool:
        """Whether ``exc`` means the connection is gone (not an SFTP status such as « Failure »)."""
        import paramiko

        if isinstance(exc, (EOFError, paramiko.SSHException, TimeoutError, ConnectionError)):
            return True
        transport = self.client.get_transport()
        return transport is None or not transport.is_active()

    def put(self, local: Path, name: str, sha256: str, size: int) -> Sent:
        folder = self.consumer.target.path
        tmp = posixpath.join(folder, temporary_name(name))
        final = posixpath.join(folder, name)
        digest = hashlib.sha256()
        try:
            with open(local, "rb") as src, self.sftp.open(tmp, "wb") as remote:
                remote.set_pipelined(True)
                while chunk := src.read(SFTP_CHUNK):
                    digest.update(chunk)
                    remote.write(chunk)
                remote.flush()
                _write_acknowledgements(remote)
            got = digest.hexdigest()
            if got != sha256:
                self._remove_quietly(tmp)
                raise _changed_since_publication(local, sha256, got)
            actual = self.sftp.stat(tmp).st_size
            if actual != size:
                self._remove_quietly(tmp)
                raise DeliveryFailure(
                    f"le serveur {self.server} n'a gardé que {actual} octets sur {size} (disque "
                    "plein, quota atteint ou écriture interrompue)."
                )
            if self.consumer.verify == "sha256":
                with self.sftp.open(tmp, "rb") as back_fh:
                    back_fh.prefetch(size)
                    back = _sha256_of(back_fh)
                if back != sha256:
                    self._remove_quietly(tmp)
                    raise DeliveryFailure(
                        f"le fichier relu sur {self.server} n'a pas le sha256 envoyé ({back[:12]}… "
                        f"au lieu de {sha256[:12]}…)."
                    )
            self._rename(tmp, final)
        except DeliveryFailure:
            raise
        except Exception as exc:  # noqa: BLE001 - every error becomes a recorded failure
            failure = self._transfer_failure(exc, f"le dossier {folder}")
            if not self._connection_lost(exc):
                self._remove_quietly(tmp)
            raise failure from exc
        return Sent(size, sha256, final)

    def _rename(self, tmp: str, final: str) -> None:
        try:
            self.sftp.posix_rename(tmp, final)
            return
        except OSError as exc:
            if exc.errno is not None:  # a real refusal (permissions, missing folder), not a missing extension
                raise
        # a server without posix-rename: a plain SFTP rename refuses an existing target
        try:
            self.sftp.remove(final)
        except FileNotFoundError:
            pass
        self.sftp.rename(tmp, final)

    def _remove_quietly(self, path: str) -> None:
        try:
            self.sftp.remove(path)
        except Exception:  # noqa: BLE001 - best effort: an attempt's leftover is replaced by the next
            pass

    def close(self) -> None:
        try:
            self.client.close()
        except Exception:  # noqa: BLE001
            pass


def _write_acknowledgements(remote) -> None:
    """Wait for the server's answer to every pipelined write still unanswered, raising the first
    refusal (``IOError``: « Failure » for a full disk, EACCES…).

    paramiko pipelines writes without reading their answers (it only reads them when more than
    100 are pending), and a refusal among the last ones is dropped silently: a full disk would
    only show as a short file. ``SFTPFile._reqs`` / ``SFTPClient._read_response`` are how its own
    ``_write`` reads them; without them (another paramiko), the size check still refuses a short
    file."""
    pending = getattr(remote, "_reqs", None)
    read = getattr(remote.sftp, "_read_response", None)
    if pending is None or read is None:
        return
    while pending:
        read(pending.popleft())


def _plain(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.rstrip(".")


def open_session(consumer: Consumer):
    """Connect to the consumer's target (raises :class:`DeliveryFailure`)."""
    if consumer.target.scheme == "file":
        return FileSession(consumer)
    return SftpSession(consumer)
