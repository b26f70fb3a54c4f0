"""Connection profiles: which prediction API the app talks to, as whom.

Profiles come from ``.streamlit/secrets.toml`` (``[whatif.profiles.NAME]`` tables), from the
environment (``WHATIF_API_URL`` + ``WHATIF_API_SECRET``), and the local demo API (the embedded
reference server) is always one of them. The secret is kept out of every ``repr``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

DEMO_PROFILE = "Local demo API"
ENV_PROFILE = "Environment (WHATIF_API_URL)"
DEMO_USER_ID = "1"
DEMO_EMAIL = "demo@example.com"


@dataclass(frozen=True)
class Profile:
    """One API connection. ``url`` is empty for the demo profile until the embedded server runs."""

    name: str
    url: str = ""
    secret: str = field(default="", repr=False)
    user_id: str = DEMO_USER_ID
    email: str = DEMO_EMAIL
    token_lifetime_s: float = 300.0
    poll_deadline_s: float = 60.0
    secret_source: str = ""
    is_demo: bool = False

    @property
    def fingerprint(self) -> str:
        """Changes whenever any setting (the secret included) changes; reveals nothing of it."""
        material = "\0".join([self.name, self.url, self.secret, self.user_id, self.email,
                              str(self.token_lifetime_s), str(self.poll_deadline_s)])
        return hashlib.sha256(material.encode()).hexdigest()[:16]

    def with_changes(self, **changes: Any) -> Profile:
        """A copy with some settings changed."""
        return replace(self, **changes)


def _float(value: Any, default: float) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def load_profiles(secrets: Mapping[str, Any], environ: Mapping[str, str]) -> list[Profile]:
    """Every configured profile, then the demo one. Never raises on a partial entry: skips it."""
    profiles: list[Profile] = []
    whatif_secrets = secrets.get("whatif", {}) if isinstance(secrets, Mapping) else {}
    configured = whatif_secrets.get("profiles", {}) if isinstance(whatif_secrets, Mapping) else {}
    for name, entry in (configured or {}).items():
        if not isinstance(entry, Mapping) or not entry.get("url"):
            continue
        profiles.append(Profile(
            name=str(name), url=str(entry["url"]), secret=str(entry.get("secret", "")),
            user_id=str(entry.get("user_id", DEMO_USER_ID)), email=str(entry.get("email", "")),
            token_lifetime_s=_float(entry.get("token_lifetime_s"), 300.0),
            poll_deadline_s=_float(entry.get("poll_deadline_s"), 60.0),
            secret_source="secrets.toml" if entry.get("secret") else "",
        ))
    if environ.get("WHATIF_API_URL"):
        profiles.append(Profile(
            name=ENV_PROFILE, url=environ["WHATIF_API_URL"], secret=environ.get("WHATIF_API_SECRET", ""),
            user_id=environ.get("WHATIF_USER_ID", DEMO_USER_ID), email=environ.get("WHATIF_USER_EMAIL", ""),
            secret_source="environment" if environ.get("WHATIF_API_SECRET") else "",
        ))
    profiles.append(Profile(name=DEMO_PROFILE, is_demo=True, secret_source="generated"))
    return profiles


def default_profile_name(profiles: list[Profile], secrets: Mapping[str, Any]) -> str:
    """``whatif.default_profile`` from secrets when it names a profile, else the first one."""
    whatif_secrets = secrets.get("whatif", {}) if isinstance(secrets, Mapping) else {}
    wanted = whatif_secrets.get("default_profile") if isinstance(whatif_secrets, Mapping) else None
    names = [p.name for p in profiles]
    return str(wanted) if wanted in names else names[0]
