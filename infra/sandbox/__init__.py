"""Provider sandbox: local fakes of external provider APIs (Slack, Google Chat, ...)."""

from __future__ import annotations

from infra.sandbox.client import SandboxClient, SandboxError
from infra.sandbox.server import Sandbox

__all__ = ["Sandbox", "SandboxClient", "SandboxError"]
