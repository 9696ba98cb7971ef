"""Verifies AWS Signature Version 4 (the `Authorization` header form) the way API Gateway
does for a route whose authorizer is AWS_IAM, with hashlib/hmac only.

The canonical request follows AWS's SigV4 specification ("Create a signed AWS API
request", IAM User Guide):

    METHOD \\n CanonicalURI \\n CanonicalQueryString \\n CanonicalHeaders \\n \\n SignedHeaders \\n HashedPayload

- CanonicalURI: the path as it arrived (already percent-encoded once by the client), dot
  segments and repeated slashes removed, then URI-encoded once more, as every service
  but S3 expects; so `/a%2Fb` is canonically `/a%252Fb`.
- CanonicalQueryString: each name and value decoded and re-encoded with the unreserved
  set (A-Z a-z 0-9 - _ . ~), sorted by name, then value.
- CanonicalHeaders: the headers named in SignedHeaders, lowercased, values trimmed with
  runs of spaces collapsed, repeated headers joined by commas.
- HashedPayload: SHA-256 of the body received, whatever `x-amz-content-sha256` claims
  (a signed `x-amz-content-sha256` is just one more signed header).

The messages are AWS's own; each rejection is a 403 with `{"message": ...}`.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from urllib.parse import quote, unquote

ALGORITHM = "AWS4-HMAC-SHA256"
TERMINATOR = "aws4_request"
SERVICE = "execute-api"
# API Gateway rejects a signature more than 5 minutes from its clock, either way
# ("Signature expired: ... (... - 5 min.)").
MAX_SKEW = timedelta(minutes=5)
AMZ_DATE = "%Y%m%dT%H%M%SZ"

FORBIDDEN = "Forbidden"
INVALID_TOKEN = "The security token included in the request is invalid."
MISMATCH = ("The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method. "
            "Consult the service documentation for details.")


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str | None = None

    @classmethod
    def parse(cls, text: str) -> "Credentials":
        """`ACCESS_KEY_ID:SECRET_ACCESS_KEY[:SESSION_TOKEN]`"""
        parts = text.split(":", 2)
        if len(parts) < 2 or not parts[0] or not parts[1]:
            raise ValueError("credentials must be ACCESS_KEY_ID:SECRET_ACCESS_KEY[:SESSION_TOKEN]")
        return cls(parts[0], parts[1], parts[2] if len(parts) == 3 and parts[2] else None)


class Rejected(Exception):
    """The request is not authenticated; `message` is what API Gateway answers."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def verify(method: str, raw_path: str, raw_query: str, headers: list[tuple[str, str]], body: bytes,
           *, credentials: Credentials, region: str, service: str = SERVICE,
           now: datetime | None = None) -> str:
    """Checks the request's signature; returns the caller's access key id or raises Rejected.
    `raw_path` and `raw_query` are as they arrived on the request line (still encoded);
    `headers` are all header lines in order, repeated ones included."""
    values: dict[str, list[str]] = {}
    for name, value in headers:
        values.setdefault(name.lower().strip(), []).append(value)
    authorization = ",".join(values.get("authorization", []))
    if not authorization:
        raise Rejected(FORBIDDEN)
    amz_date = ",".join(values.get("x-amz-date", []))

    params = _authorization_params(authorization)
    missing = [f"Authorization header requires '{k}' parameter."
               for k in ("Credential", "Signature", "SignedHeaders") if not params.get(k)]
    if not amz_date:
        missing.append("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
    if missing:
        raise Rejected(" ".join(missing + [f"Authorization={authorization}"]))

    scope = params["Credential"].split("/")
    if len(scope) != 5:
        raise Rejected("Credential must have exactly 5 slash-delimited elements, "
                       f"e.g. keyid/date/region/service/term, got '{params['Credential']}'")
    access_key, scope_date, scope_region, scope_service, terminator = scope
    try:
        signed_at = datetime.strptime(amz_date, AMZ_DATE).replace(tzinfo=timezone.utc)
    except ValueError:
        raise Rejected(f"Date must be in ISO-8601 'basic format'. Got '{amz_date}'. "
                       "See http://en.wikipedia.org/wiki/ISO_8601") from None

    wrong_scope = []
    if scope_region != region:
        wrong_scope.append(f"Credential should be scoped to a valid region, not '{scope_region}'.")
    if scope_service != service:
        wrong_scope.append(f"Credential should be scoped to correct service: '{service}'.")
    if terminator != TERMINATOR:
        wrong_scope.append(f"Credential should be scoped with a valid terminator: '{TERMINATOR}', "
                           f"not '{terminator}'.")
    if scope_date != amz_date[:8]:
        wrong_scope.append("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of "
                           f"date from HTTP: '{scope_date}' != '{amz_date[:8]}', from '{amz_date}'.")
    if wrong_scope:
        raise Rejected(" ".join(wrong_scope))

    token = ",".join(values.get("x-amz-security-token", [])) or None
    if access_key != credentials.access_key_id or token != credentials.session_token:
        raise Rejected(INVALID_TOKEN)

    now = now or datetime.now(timezone.utc)
    if signed_at < now - MAX_SKEW:
        raise Rejected(f"Signature expired: {amz_date} is now earlier than "
                       f"{(now - MAX_SKEW).strftime(AMZ_DATE)} ({now.strftime(AMZ_DATE)} - 5 min.)")
    if signed_at > now + MAX_SKEW:
        raise Rejected(f"Signature not yet current: {amz_date} is still later than "
                       f"{(now + MAX_SKEW).strftime(AMZ_DATE)} ({now.strftime(AMZ_DATE)} + 5 min.)")

    signed_headers = [h.strip().lower() for h in params["SignedHeaders"].split(";")]
    if "host" not in signed_headers:
        raise Rejected("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")

    canonical = canonical_request(method, raw_path, raw_query, values, signed_headers, body)
    credential_scope = "/".join((scope_date, scope_region, scope_service, terminator))
    to_sign = string_to_sign(amz_date, credential_scope, canonical)
    expected = signature(credentials.secret_access_key, scope_date, scope_region, scope_service, to_sign)
    if not hmac.compare_digest(expected, params["Signature"].strip().lower()):
        raise Rejected(f"{MISMATCH}\n\nThe Canonical String for this request should have been\n"
                       f"'{canonical}'\n\nThe String-to-Sign should have been\n'{to_sign}'\n")
    return access_key


def _authorization_params(authorization: str) -> dict[str, str]:
    """`AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...` as a dict; nothing
    for another scheme."""
    scheme, _, rest = authorization.strip().partition(" ")
    if scheme != ALGORITHM:
        return {}
    params = {}
    for part in rest.split(","):
        key, _, value = part.strip().partition("=")
        params[key] = value.strip()
    return params


def canonical_uri(raw_path: str) -> str:
    return quote(_remove_dot_segments(raw_path or "/"), safe="/~")


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 5.2.4, and empty segments (`//`) dropped, as AWS services expect."""
    out: list[str] = []
    for segment in path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if out:
                out.pop()
        else:
            out.append(segment)
    trailing = "/" if path.endswith("/") and out else ""
    return "/" + "/".join(out) + trailing


def canonical_query(raw_query: str) -> str:
    pairs = []
    for part in raw_query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        pairs.append((quote(unquote(name), safe="-_.~"), quote(unquote(value), safe="-_.~")))
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def canonical_request(method: str, raw_path: str, raw_query: str, headers: dict[str, list[str]],
                      signed_headers: list[str], body: bytes) -> str:
    lines = [f"{name}:{','.join(' '.join(v.split()) for v in headers.get(name, []))}"
             for name in signed_headers]
    return "\n".join([method.upper(), canonical_uri(raw_path), canonical_query(raw_query),
                      "\n".join(lines) + "\n", ";".join(signed_headers),
                      hashlib.sha256(body).hexdigest()])


def string_to_sign(amz_date: str, credential_scope: str, canonical: str) -> str:
    return "\n".join([ALGORITHM, amz_date, credential_scope,
                      hashlib.sha256(canonical.encode()).hexdigest()])


def signature(secret: str, date: str, region: str, service: str, to_sign: str) -> str:
    key = f"AWS4{secret}".encode()
    for part in (date, region, service, TERMINATOR):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
