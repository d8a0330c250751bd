"""Ray token authentication on the client side: the token found where Ray looks, sent as an HTTP header.

Ray (2.52 and later) checks a shared token on every request when a cluster runs with
RAY_AUTH_MODE=token. Ray looks for it, in order, in RAY_AUTH_TOKEN, in the file RAY_AUTH_TOKEN_PATH
names, and in ~/.ray/auth_token; so do we. RAY_AUTH_MODE=disabled sends none.
"""

from __future__ import annotations

import os
from pathlib import Path

from cluster.errors import ClusterError

DEFAULT_TOKEN_PATH = Path("~/.ray/auth_token")


def find_token() -> str | None:
    """The token Ray would use, or None if there is none or RAY_AUTH_MODE=disabled."""
    if os.environ.get("RAY_AUTH_MODE", "").strip().lower() == "disabled":
        return None
    token = os.environ.get("RAY_AUTH_TOKEN", "").strip()
    if token:
        return token
    named = os.environ.get("RAY_AUTH_TOKEN_PATH", "").strip()
    if named:
        try:
            token = Path(named).expanduser().read_text().strip()
        except (OSError, UnicodeDecodeError) as error:
            reason = error.strerror if isinstance(error, OSError) else "not text"
            raise ClusterError(f"RAY_AUTH_TOKEN_PATH: cannot read {named} ({reason})") from None
        if not token:
            raise ClusterError(f"RAY_AUTH_TOKEN_PATH: {named} is empty")
        return token
    try:
        return DEFAULT_TOKEN_PATH.expanduser().read_text().strip() or None
    except (OSError, UnicodeDecodeError):
        return None


def auth_headers() -> dict[str, str]:
    """{"Authorization": "Bearer <token>"} when a token is found, else {}."""
    token = find_token()
    return {"Authorization": f"Bearer {token}"} if token else {}
