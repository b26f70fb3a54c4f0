"""'Test connection': what an API answers, told as a short list of findings."""

from __future__ import annotations

from dataclasses import dataclass

from whatif.client import ModelClient
from whatif.errors import APIConnectionError, APIError, AuthenticationError, ExtensionUnavailable, NotFoundError


@dataclass(frozen=True)
class Finding:
    """One check: its name, whether it passed (None = not applicable), and a sentence."""

    check: str
    ok: bool | None
    message: str


def check_connection(client: ModelClient) -> list[Finding]:
    """Reachable? Auth accepted? Models listed (the extension may be missing, which is fine)?"""
    findings: list[Finding] = []
    try:
        models = client.list_models()
    except APIConnectionError as error:
        return [Finding("Reachable", False, str(error))]
    except AuthenticationError as error:
        return [
            Finding("Reachable", True, f"{client.endpoints.origin} answered."),
            Finding("Auth accepted", False, str(error)),
        ]
    except ExtensionUnavailable:
        findings.append(Finding("Reachable", True, f"{client.endpoints.origin} answered."))
        findings.append(_auth_by_task_probe(client))
        findings.append(
            Finding(
                "Saved models",
                None,
                "This API has no saved-models list (an optional extension); enter model paths and buckets by hand.",
            )
        )
        return findings
    except APIError as error:
        return [
            Finding("Reachable", True, f"{client.endpoints.origin} answered."),
            Finding("Saved models", False, str(error)),
        ]
    versions = sum(len(m.versions) for m in models)
    return [
        Finding("Reachable", True, f"{client.endpoints.origin} answered."),
        Finding("Auth accepted", True, f"The token for user {client.user_id} was accepted."),
        Finding("Saved models", True, f"{len(models)} model(s), {versions} version(s) listed."),
    ]


def _auth_by_task_probe(client: ModelClient) -> Finding:
    """Without a models list, ask for a task that does not exist: 404 means the token passed."""
    try:
        client.status("connection-test-no-such-task")
    except AuthenticationError as error:
        return Finding("Auth accepted", False, str(error))
    except NotFoundError:
        return Finding("Auth accepted", True, f"The token for user {client.user_id} was accepted.")
    except APIError as error:
        return Finding("Auth accepted", None, f"Could not tell: {error}")
    return Finding("Auth accepted", True, f"The token for user {client.user_id} was accepted.")
