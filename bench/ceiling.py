"""The framework ceiling: a bare aiohttp handler that reads the body, checks the HMAC, says 202.

No parsing, no storage, no logging: what aiohttp itself can do on this machine, to compare
relay's full ingest path with. Run: `python -m bench.ceiling --port 8091` (secret from
RELAY_GITHUB_SECRET).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import os

from aiohttp import web

SECRET_KEY = web.AppKey("secret", bytes)


async def receive(request: web.Request) -> web.Response:
    body = await request.read()
    given = request.headers.get("X-Hub-Signature-256", "")
    digest = hmac.new(request.app[SECRET_KEY], body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(given, "sha256=" + digest):
        return web.Response(status=401)
    return web.json_response({"ok": True}, status=202)


async def ready(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def create_ceiling_app(secret: bytes) -> web.Application:
    app = web.Application()
    app[SECRET_KEY] = secret
    app.router.add_post("/hooks/github", receive)
    app.router.add_get("/readyz", ready)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    secret = os.environ["RELAY_GITHUB_SECRET"].encode()
    web.run_app(create_ceiling_app(secret), host="127.0.0.1", port=args.port,
                access_log=None, print=None)


if __name__ == "__main__":
    main()
