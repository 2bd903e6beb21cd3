"""The read-only web console: Starlette pages over the SDK, Jinja2 templates, SVG charts.

A person signs in with an auditor or operator token; the console keeps it in memory only, with
the SDK client it opened for it, under a random session cookie, and passes it on every call.
Live pages refresh their main section every few seconds without a reload (static/console.js).
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from polytraders.sdk import AsyncGovernance, GovernanceError, PermissionDeniedError, ServiceMap
from polytraders.sdk.transport import TlsOptions

from ..cli.common import explain
from . import pages

HERE = Path(__file__).parent
COOKIE = "polytraders_console"
MAX_SESSIONS = 256
"""Signed-in sessions kept at once (each holds a client and its channels)."""
NAVIGATION = [("fleet", "Fleet health"), ("pnl", "P&L"), ("slos", "SLOs"), ("incidents", "Incidents"),
              ("registry", "Strategy registry"), ("quarantine", "Attribution quarantine"), ("backtests", "Backtests")]  # fmt: skip

PageReader = Callable[[AsyncGovernance, Request], Awaitable[dict[str, Any]]]


class Console:
    """The app's state: where the mesh is, and who is signed in (in memory, never on disk)."""

    def __init__(self, target: ServiceMap, tls: TlsOptions | None, refresh_seconds: float) -> None:
        self.target = target
        self.tls = tls
        self.refresh_seconds = refresh_seconds
        self.sessions: dict[str, AsyncGovernance] = {}
        self.templates = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape())

    def render(self, template: str, request: Request, status_code: int = 200, **values: Any) -> HTMLResponse:
        partial = request.headers.get("x-console-partial") == "1"
        html = self.templates.get_template(template).render(
            navigation=NAVIGATION, partial=partial, refresh=self.refresh_seconds, path=request.url.path, **values
        )
        return HTMLResponse(html, status_code=status_code)

    def signed_in(self, request: Request) -> AsyncGovernance | None:
        """The client of the session the request's cookie names; None when it names none."""
        return self.sessions.get(request.cookies.get(COOKIE, ""))

    def page(self, template: str, read: PageReader, *, live: bool = True) -> Callable[[Request], Awaitable[Response]]:
        """A route that reads through the signed-in client and renders; a failed read is a one-line
        message on the page (the mesh down, the token refused), never a traceback."""

        async def endpoint(request: Request) -> Response:
            gov = self.signed_in(request)
            if gov is None:
                return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
            try:
                values = await read(gov, request)
            except GovernanceError as error:
                failure = explain(error, "the mesh", token_hint="sign out, and in again with a valid token")
                return self.render("error.html", request, 502, message=str(failure), live=live)
            except ValueError as error:  # a bad query parameter
                return self.render("error.html", request, 400, message=str(error), live=False)
            return self.render(template, request, live=live, **values)

        return endpoint

    async def login_form(self, request: Request) -> Response:
        return self.render("login.html", request, next=request.query_params.get("next", "/fleet"), live=False)

    async def login(self, request: Request) -> Response:
        form = parse_qs((await request.body()).decode())
        token = form.get("token", [""])[0].strip()
        target = form.get("next", ["/fleet"])[0]
        target = target if target.startswith("/") and not target.startswith("//") else "/fleet"
        gov = AsyncGovernance(self.target, token=token, bot_slug="polytraders-console", tls=self.tls)
        try:
            await gov.fleet.health()  # operators and auditors read it; bot tokens may not
        except PermissionDeniedError:
            failure = "the console needs an auditor or operator token; a bot token may read only its own records"
        except GovernanceError as error:
            failure = str(explain(error, "the mesh", token_hint="sign in with an auditor or operator token"))
        else:
            previous = self.sessions.pop(request.cookies.get(COOKIE, ""), None)
            if previous is not None:  # signing in again ends the session it replaces
                await previous.close()
            while len(self.sessions) >= MAX_SESSIONS:  # the oldest sign-in goes first
                await self.sessions.pop(next(iter(self.sessions))).close()
            session = secrets.token_urlsafe(32)
            self.sessions[session] = gov
            response = RedirectResponse(target, status_code=303)
            response.set_cookie(COOKIE, session, httponly=True, samesite="strict")
            return response
        await gov.close()
        return self.render("login.html", request, 401, next=target, failure=failure, live=False)

    async def logout(self, request: Request) -> Response:
        gov = self.sessions.pop(request.cookies.get(COOKIE, ""), None)
        if gov is not None:
            await gov.close()
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE)
        return response

    async def backtest_report(self, request: Request) -> Response:
        gov = self.signed_in(request)
        if gov is None:
            return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
        try:
            run = await gov.backtests.get(request.path_params["backtest_id"])
        except GovernanceError as error:
            return self.render("error.html", request, 404, message=str(explain(error, "the mesh")), live=False)
        return HTMLResponse(run.html)

    async def close(self) -> None:
        for gov in self.sessions.values():
            await gov.close()
        self.sessions.clear()


def _window(request: Request) -> str:
    window = request.query_params.get("window", "24h")
    if window not in pages.WINDOWS:
        raise ValueError(f"window must be one of {', '.join(pages.WINDOWS)}, not {window!r}")
    return window


def create_app(target: ServiceMap, tls: TlsOptions | None = None, *, refresh_seconds: float = 5) -> Starlette:
    """The console for the mesh at `target`; live pages refresh every `refresh_seconds`."""
    console = Console(target, tls, refresh_seconds)
    routes = [
        Route("/", lambda request: RedirectResponse("/fleet", status_code=303)),
        Route("/login", console.login_form, methods=["GET"]),
        Route("/login", console.login, methods=["POST"]),
        Route("/logout", console.logout, methods=["POST"]),
        Route("/fleet", console.page("fleet.html", lambda gov, r: pages.fleet(gov))),
        Route("/pnl", console.page("pnl.html", lambda gov, r: pages.pnl(gov, _window(r), pages.now()))),
        Route("/slos", console.page("slos.html", lambda gov, r: pages.slos(gov))),
        Route("/incidents", console.page("incidents.html", lambda gov, r: pages.incidents(gov))),
        Route("/incidents/{incident_id}",
              console.page("incident.html", lambda gov, r: pages.incident(gov, r.path_params["incident_id"]))),
        Route("/registry", console.page("registry.html", lambda gov, r: pages.registry(gov))),
        Route("/registry/{slug}", console.page("strategy.html", lambda gov, r: pages.strategy(gov, r.path_params["slug"]))),
        Route("/quarantine", console.page("quarantine.html", lambda gov, r: pages.quarantine(gov))),
        Route("/backtests", console.page("backtests.html", lambda gov, r: pages.backtests(gov), live=False)),
        Route("/backtests/{backtest_id}/report", console.backtest_report),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]  # fmt: skip
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await console.close()

    return Starlette(routes=routes, lifespan=lifespan)
