"""Connection profiles: which prediction API the app talks to, as whom.

Profiles come from ``.streamlit/secrets.toml`` (``[whatif.profiles.NAME]`` tables), from the
environment (``WHATIF_API_URL`` + ``WHATIF_API_SECRET``), and the local demo API (the embedded
reference server) is always one of them. The secret is kept out of every ``repr``.
"""

from __future__ import annotations

import hashlib
import math
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
        material = "\0".join(
            [
                self.name,
                self.url,
                self.secret,
                self.user_id,
                self.email,
                str(self.token_lifetime_s),
                str(self.poll_deadline_s),
            ]
        )
        return hashlib.sha256(material.encode()).hexdigest()[:16]

    def with_changes(self, **changes: Any) -> Profile:
        """A copy with some settings changed."""
        return replace(self, **changes)


def _seconds(value: Any, default: float, low: float, high: float) -> float:
    """A duration from secrets, kept within what the Settings page offers (missing or NaN: the default)."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return default
    return min(max(seconds, low), high) if math.isfinite(seconds) else default


def load_profiles(secrets: Mapping[str, Any], environ: Mapping[str, str]) -> list[Profile]:
    """Every configured profile, then the demo one. Never raises on a partial entry: skips it."""
    profiles: list[Profile] = []
    whatif_secrets = secrets.get("whatif", {}) if isinstance(secrets, Mapping) else {}
    configured = whatif_secrets.get("profiles", {}) if isinstance(whatif_secrets, Mapping) else {}
    for name, entry in (configured or {}).items():
        if not isinstance(entry, Mapping) or not entry.get("url"):
            continue
        profiles.append(
            Profile(
                name=str(name),
                url=str(entry["url"]),
                secret=str(entry.get("secret", "")),
                user_id=str(entry.get("user_id", DEMO_USER_ID)),
                email=str(entry.get("email", DEMO_EMAIL)),
                token_lifetime_s=_seconds(
                    entry.get("token_lifetime_s"), 300.0, MIN_TOKEN_LIFETIME_S, MAX_TOKEN_LIFETIME_S
                ),
                poll_deadline_s=_seconds(entry.get("poll_deadline_s"), 60.0, MIN_POLL_DEADLINE_S, MAX_POLL_DEADLINE_S),
                secret_source="secrets.toml" if entry.get("secret") else "",
            )
        )
    if environ.get("WHATIF_API_URL"):
        profiles.append(
            Profile(
                name=ENV_PROFILE,
                url=environ["WHATIF_API_URL"],
                secret=environ.get("WHATIF_API_SECRET", ""),
                user_id=environ.get("WHATIF_USER_ID", DEMO_USER_ID),
                email=environ.get("WHATIF_USER_EMAIL", DEMO_EMAIL),
                secret_source="environment" if environ.get("WHATIF_API_SECRET") else "",
            )
        )
    profiles.append(Profile(name=DEMO_PROFILE, is_demo=True, secret_source="generated"))
    return profiles


def default_profile_name(profiles: list[Profile], secrets: Mapping[str, Any]) -> str:
    """``whatif.default_profile`` from secrets when it names a profile, else the first one."""
    whatif_secrets = secrets.get("whatif", {}) if isinstance(secrets, Mapping) else {}
    wanted = whatif_secrets.get("default_profile") if isinstance(whatif_secrets, Mapping) else None
    names = [p.name for p in profiles]
    return str(wanted) if wanted in names else names[0]


MIN_SECRET_BYTES = 32  # RFC 7518 section 3.2: an HS256 key as long as the hash (256 bits)

_SECRET_SOURCE_SENTENCES = {
    "generated": "The demo API's secret is generated at start and never shown.",
    "secrets.toml": "The current secret comes from secrets.toml and is never shown.",
    "environment": "The current secret comes from the environment (WHATIF_API_SECRET) and is never shown.",
    "entered": "The current secret was typed on this page, is kept for this browser session only and is never shown.",
    "": "No API secret is set for this connection: type it above.",
}


def secret_source_sentence(secret_source: str) -> str:
    """Where the active secret comes from (a ``Profile.secret_source``), as one sentence for the Settings page."""
    return _SECRET_SOURCE_SENTENCES.get(secret_source, "The current secret is never shown.")


def short_secret_warning(secret: str) -> str | None:
    """One sentence when an HS256 secret is shorter than 32 bytes, else None (an empty one is another problem).

    PyJWT warns about such a secret on every token it signs or checks; the CLI and the Settings
    page say it once with this instead. The sentence never contains the secret or its length.
    """
    if not secret or len(secret.encode()) >= MIN_SECRET_BYTES:
        return None
    return (
        f"This secret is shorter than {MIN_SECRET_BYTES} bytes, the least RFC 7518 advises for HS256, so tokens "
        "signed with it are easier to forge: ask your system administrator to set a longer random one on the "
        "API (e.g. from `python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`) and use it here."
    )


MIN_TOKEN_LIFETIME_S, MAX_TOKEN_LIFETIME_S = 10.0, 3600.0
MIN_POLL_DEADLINE_S, MAX_POLL_DEADLINE_S = 1.0, 3600.0
CUSTOM_PROFILE = "Custom (this session)"


def edited_profile(
    current: Profile,
    *,
    url: str,
    user_id: str,
    email: str,
    typed_secret: str,
    token_lifetime_s: float,
    poll_deadline_s: float,
) -> Profile:
    """The Settings page's profile. Raises ValueError (one sentence) when it cannot be used.

    A secret that was not typed is carried over only while URL, user id and e-mail stay the
    same: otherwise a visitor could have the configured secret sign tokens for another user or
    send them to another host. Token lifetimes are capped at an hour.
    """
    url, user_id, email = url.strip(), user_id.strip(), email.strip()
    same_identity = (url, user_id, email) == (current.url, current.user_id, current.email)
    if not typed_secret and not same_identity:
        raise ValueError("Type the API secret: the current one is kept only for the same URL, user id and e-mail.")
    if not MIN_TOKEN_LIFETIME_S <= token_lifetime_s <= MAX_TOKEN_LIFETIME_S:
        raise ValueError(
            f"The token lifetime must be between {MIN_TOKEN_LIFETIME_S:.0f} and {MAX_TOKEN_LIFETIME_S:.0f} seconds."
        )
    return current.with_changes(
        name=CUSTOM_PROFILE,
        url=url,
        user_id=user_id,
        email=email,
        secret=typed_secret or current.secret,
        secret_source="entered" if typed_secret else current.secret_source,
        token_lifetime_s=float(token_lifetime_s),
        poll_deadline_s=float(poll_deadline_s),
        is_demo=current.is_demo and same_identity and not typed_secret,  # the demo keeps its history key
    )
