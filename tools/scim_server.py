#!/usr/bin/env python3
"""The local SCIM 2.0 application: scim2-server's own test server (`scim2-server`), an
in-memory SCIM service provider that implements RFC 7643/7644 (filters, PATCH, ETags,
bulk), run unchanged.

This wrapper exists for two reasons. The command takes its bearer token as
`--bearer-token TOKEN`, and a secret on a command line is readable by every user of the
machine (/proc/PID/cmdline, ps). Here the token comes from the SCIM_TOKEN environment
variable and is appended to the in-process argument list only, which /proc does not
show. And an application's token is rotated while it runs: with SCIM_TOKEN_FILE set, the
token accepted is the file's content (stripped) at each request, so writing a new token
there is the application's side of a rotation, and the old one is refused from then on.
All other arguments are passed through to `scim2-server`.
"""

import os
import sys

from scim2_server.testserver.application import BearerTokenApplication
from scim2_server.testserver.cli import main


def accept_the_token_in(path: str) -> None:
    """Makes every application check requests against the token in `path`, read anew
    each time (a missing or empty file keeps the token given at start)."""
    check_auth = BearerTokenApplication.check_auth

    def check_auth_with_file(self, request):
        try:
            with open(path, encoding="utf-8") as f:
                token = f.read().strip()
        except OSError:
            token = ""
        if token:
            self.bearer_tokens = {token}
        check_auth(self, request)

    BearerTokenApplication.check_auth = check_auth_with_file


if __name__ == "__main__":
    token = os.environ.pop("SCIM_TOKEN", "")
    if token:
        sys.argv += ["--bearer-token", token]
    token_file = os.environ.pop("SCIM_TOKEN_FILE", "")
    if token_file:
        accept_the_token_in(token_file)
    main()
