"""Downloads from the Kubernetes release site: one place that turns network failures into a
one-line error saying which URL failed, with the caller's hint on building offline."""
from __future__ import annotations

import urllib.error
import urllib.request

from dind_cluster.errors import DindError


def open_url(url: str, hint: str, timeout: float = 60):
    """urlopen, or a DindError `couldn't download <url>: <reason>` carrying `hint`."""
    try:
        return urllib.request.urlopen(url, timeout=timeout)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise DindError(f"couldn't download {url}: {reason}", hint) from None
