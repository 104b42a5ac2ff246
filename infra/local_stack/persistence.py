"""The local stack's AWS state (tables, queues and their messages, secrets, KMS keys) kept across restarts.

moto serves in this process, so its service backends are plain Python objects: they are pickled to a file
when the stack stops and put back before it creates its resources. The KMS keys' own material comes back
with them, so secrets sealed before a restart can still be opened after it. Only the file the stack itself
wrote under `.local/` (mode 0600) is ever loaded.
"""

from __future__ import annotations

import io
import pickle
import threading
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from moto.backends import get_backend

SERVICES = ("dynamodb", "sqs", "kms", "secretsmanager")
_LOCK = type(threading.Lock())
_RLOCK = type(threading.RLock())


class StateUnreadableError(RuntimeError):
    """The saved state cannot be put back (the stack then refuses to start rather than drop it silently)."""


def _private_key(pem: bytes) -> Any:
    return serialization.load_pem_private_key(pem, password=None)


class _StatePickler(pickle.Pickler):
    """moto's backends hold locks (made anew on load) and KMS private keys (kept as PEM)."""

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, _RLOCK):
            return threading.RLock, ()
        if isinstance(obj, _LOCK):
            return threading.Lock, ()
        if isinstance(obj, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            pem = obj.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            return _private_key, (pem,)
        return NotImplemented


def save_state(path: Path) -> None:
    """Write moto's backends of the hub's services to `path` (call with no poller running)."""
    buffer = io.BytesIO()
    _StatePickler(buffer).dump({service: dict(get_backend(service)) for service in SERVICES})
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_bytes(buffer.getvalue())
    partial.chmod(0o600)
    partial.replace(path)  # a stop cut short never leaves half a state behind


def restore_state(path: Path) -> bool:
    """Put the backends saved in `path` back into moto; False when there is nothing saved."""
    if not path.exists():
        return False
    try:
        saved = pickle.loads(path.read_bytes())  # noqa: S301 - the stack's own file, written by save_state
    except Exception as error:  # e.g. written by another moto version
        raise StateUnreadableError(
            f"{path} cannot be loaded ({type(error).__name__}); start empty with make run ARGS=--clean"
        ) from error
    for service in SERVICES:
        backends = get_backend(service)
        backends.clear()
        backends.update(saved.get(service, {}))
    return True
