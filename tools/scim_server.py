#!/usr/bin/env python3
"""The local SCIM 2.0 application: scim2-server's own test server (`scim2-server`), an
in-memory SCIM service provider that implements RFC 7643/7644 (filters, PATCH, ETags,
bulk), run unchanged.

This wrapper exists for one reason: the command takes its bearer token as
`--bearer-token TOKEN`, and a secret on a command line is readable by every user of the
machine (/proc/PID/cmdline, ps). Here the token comes from the SCIM_TOKEN environment
variable and is appended to the in-process argument list only, which /proc does not
show. All other arguments are passed through to `scim2-server`.
"""

import os
import sys

from scim2_server.testserver.cli import main

if __name__ == "__main__":
    token = os.environ.pop("SCIM_TOKEN", "")
    if token:
        sys.argv += ["--bearer-token", token]
    main()
