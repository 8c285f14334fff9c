"""Who may read `/metrics`: payment counts are business figures, and the webhook server that
serves them must be reachable by the provider.

- `PAYBOT_METRICS_TOKEN` set: every request (local too) sends `Authorization: Bearer <token>`,
  compared in constant time; anything else is a 401.
- No token, `webhooks.public_url` on this machine (the default `http://127.0.0.1:8080`):
  requests made on this machine that no proxy forwarded are answered, others get a 403.
- No token, `public_url` elsewhere: a proxy on this machine passes the world's requests on,
  and one that adds no forwarding header (a plain `proxy_pass`, a TCP or TLS terminator) makes
  them look local. Metrics are refused (403) until the token is set.
"""

from __future__ import annotations

import hmac
import ipaddress
from urllib.parse import urlsplit

from aiohttp import web

FORWARDED = ("Forwarded", "X-Forwarded-For", "X-Real-IP")


def is_loopback_url(url: str) -> bool:
    """Whether `url` names this machine: `localhost` or a loopback address (no DNS lookup)."""
    host = urlsplit(url).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class MetricsAccess:
    def __init__(self, token: str | None, public_url: str) -> None:
        self.token = token
        self.public_url = public_url
        self.local_only = not token and is_loopback_url(public_url)

    @property
    def closed(self) -> bool:
        """Nobody can read the metrics: no token, and the shop is served from elsewhere."""
        return not self.token and not self.local_only

    def refusal(self, request: web.Request) -> web.Response | None:
        """None when this request may read the metrics, else the 401 or 403 to answer."""
        if self.token:
            given = request.headers.get("Authorization", "")
            expected = f"Bearer {self.token}"
            if hmac.compare_digest(given.encode(), expected.encode()):
                return None
            return web.Response(
                text="metrics need Authorization: Bearer <PAYBOT_METRICS_TOKEN>\n",
                status=401,
                headers={"WWW-Authenticate": 'Bearer realm="paybot metrics"'},
            )
        if self.closed:
            return web.Response(
                text=f"metrics are off: webhooks.public_url ({self.public_url}) is not this "
                "machine, so a proxy may pass anyone's request on; set PAYBOT_METRICS_TOKEN\n",
                status=403,
            )
        try:
            local = ipaddress.ip_address(request.remote or "").is_loopback
        except ValueError:
            local = False
        if local and not any(h in request.headers for h in FORWARDED):
            return None
        return web.Response(
            text="metrics are served to this machine only; set PAYBOT_METRICS_TOKEN to "
            "scrape them from elsewhere\n",
            status=403,
        )
