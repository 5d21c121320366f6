"""Does a preview answer right now? One short HTTP request to its URL, from the API.

A sandbox that is gone answers the way its provider says so: E2B's edge with 502, the local
preview proxy with 404 and the header ``EXPIRED_HEADER: expired``, or nothing at all. Any other
answer, even the app's own 404 or 500, is the app answering. A request still waiting when the
time is up is a dev server starting (locally, the request itself started it; on E2B, it resumed
a paused sandbox).
"""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from typing import Literal

EXPIRED_HEADER = "x-qai-preview"
GONE_STATUSES = frozenset({502, 503, 504})
ProbeResult = Literal["answers", "starting", "gone"]


def probe_preview(url: str, timeout: float) -> ProbeResult:
    if not url.startswith(("http://", "https://")):
        return "gone"
    try:
        with urllib.request.urlopen(url, timeout=timeout):  # noqa: S310 (a URL the agent stored, http(s) only)
            return "answers"
    except urllib.error.HTTPError as error:
        expired = (error.headers.get(EXPIRED_HEADER) or "").lower() == "expired"
        return "gone" if expired or error.code in GONE_STATUSES else "answers"
    except TimeoutError:
        return "starting"
    except urllib.error.URLError as error:
        return "starting" if isinstance(error.reason, socket.timeout | TimeoutError) else "gone"
    except OSError:
        return "gone"
