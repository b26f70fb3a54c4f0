"""Bearer tokens: HS256 JWTs signed with the shared API secret, carrying ``userId`` and ``email``."""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from typing import Any

import jwt

from whatif.server.problems import Problem

_USER_ID = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
LEEWAY_S = 10

# PyJWT would warn about a short secret on every token it checks, in the log of every request (and of
# the app, which runs this server in-process). A secret's length is a setting to mention once, where it
# is set (whatif.profiles.short_secret_warning), not a fault of each caller.
warnings.filterwarnings("ignore", category=jwt.InsecureKeyLengthWarning)


@dataclass(frozen=True)
class User:
    """The caller, as its token says."""

    id: str
    email: str


def _refuse(code: str, detail: str) -> Problem:
    return Problem(401, code, detail, {"WWW-Authenticate": "Bearer"})


def authenticate(authorization: str | None, secret: str, require_exp: bool = False) -> User:
    """The user of a valid ``authorization: Bearer <jwt>`` header; a 401 Problem otherwise.

    Only HS256 is accepted (``alg: none`` and every other algorithm are refused);
    ``exp``, ``nbf`` and ``iat`` are checked when present, ``exp`` required if asked.
    """
    if not authorization:
        raise _refuse(
            "missing_token",
            "The request has no authorization header; send 'Bearer <token>' with a token signed by the API secret.",
        )
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _refuse("bad_authorization", "The authorization header must be 'Bearer <token>'.")
    options: Any = {"require": ["exp"] if require_exp else []}
    try:
        claims = jwt.decode(token.strip(), secret, algorithms=["HS256"], options=options, leeway=LEEWAY_S)
    except jwt.ExpiredSignatureError:
        raise _refuse("token_expired", "The token has expired; sign a new one.") from None
    except jwt.ImmatureSignatureError:
        raise _refuse(
            "token_not_yet_valid",
            "The token is not valid yet (nbf/iat in the future); check the clock of the machine that signed it.",
        ) from None
    except jwt.MissingRequiredClaimError as exc:
        raise _refuse("token_missing_claim", f"The token lacks the '{exc.claim}' claim this server requires.") from None
    except jwt.InvalidAlgorithmError:
        raise _refuse("bad_algorithm", "Only HS256 tokens are accepted.") from None
    except jwt.InvalidSignatureError:
        raise _refuse("bad_signature", "The token's signature does not match; check the API secret.") from None
    except jwt.InvalidTokenError:
        raise _refuse("invalid_token", "The token could not be read as an HS256 JWT.") from None
    user_id, email = claims.get("userId"), claims.get("email")
    if user_id is None or str(user_id) == "" or not email:
        raise _refuse("token_missing_claim", "The token must carry the 'userId' and 'email' claims.")
    if not _USER_ID.match(str(user_id)):
        raise _refuse("invalid_token", "The token's userId is not a valid user id.")
    return User(id=str(user_id), email=str(email))
