"""A dev stand-in for WORKPLACE's token issuer: an RSA key, its JWKS, and tokens for any user."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

DEV_AUDIENCE = "workplace-hub-local"


class DevIssuer:
    """Signs WORKPLACE-shaped tokens (sub, company_id, role) with a key kept under .local/."""

    def __init__(self, key_path: Path, issuer: str, audience: str = DEV_AUDIENCE) -> None:
        self.issuer = issuer
        self.audience = audience
        if key_path.exists():
            self._key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        else:
            self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            key_path.parent.mkdir(parents=True, exist_ok=True)
            key_path.write_bytes(
                self._key.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
                )
            )
            key_path.chmod(0o600)
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self._key.public_key()))
        self.kid = jwk["kid"] = "dev-" + uuid.uuid5(uuid.NAMESPACE_OID, jwk["n"]).hex[:12]
        jwk.update(use="sig", alg="RS256")
        self._jwk = jwk

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self._jwk]}

    def discovery(self, jwks_url: str) -> dict[str, Any]:
        return {"issuer": self.issuer, "jwks_uri": jwks_url, "id_token_signing_alg_values_supported": ["RS256"]}

    def mint(self, company_id: str, user_id: str, role: str, *, ttl: int = 12 * 3600, **overrides: Any) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": user_id,
            "company_id": company_id,
            "role": role,
            "iat": now,
            "exp": now + ttl,
            **overrides,
        }
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid})
