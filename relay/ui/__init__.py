"""The status page (`/ui/`): server-rendered HTML with live updates by server-sent events.

Layout: routes.py (handlers, security headers, sign-in), session.py (signed cookies, CSRF
tokens), views.py (pure: badges, durations, timeline, host links), live.py (one shared
poller feeding the open pages), templates/ (Jinja2, autoescaped), static/ (CSS and one script).
"""

from relay.ui.routes import add_routes

__all__ = ["add_routes"]
