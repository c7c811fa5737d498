"""Downloads from the Kubernetes release site: one place that turns network failures into a
one-line error saying which URL failed, with the caller's hint on building offline."""
from __future__ import annotations

import urllib.error
import urllib.request
from typing import Mapping, Optional

from dind_cluster.errors import DindError


def open_url(url: str, hint: str, timeout: float = 60, proxies: Optional[Mapping[str, str]] = None):
    """urlopen, or a DindError `couldn't download <url>: <reason>` carrying `hint`. `proxies`
    ({"http": url, "https": url}, from DIND_*_PROXY) replaces the process environment's."""
    try:
        if proxies:
            return urllib.request.build_opener(urllib.request.ProxyHandler(dict(proxies))).open(url, timeout=timeout)
        return urllib.request.urlopen(url, timeout=timeout)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise DindError(f"couldn't download {url}: {reason}", hint) from None
