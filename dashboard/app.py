"""The dashboard's ASGI app: routes, sign-in, the pages' templates, errors as pages.

Routes::

    GET  /                     the fleet (?team=&stage=&health=&sort=name|cost|budget)
    GET  /loops/<loop>         one loop: its definition and runs
    GET  /runs/<run>           one run's timeline
    GET  /cost                 spend by team, model and role, day by day
    GET  /approvals            the pending requests
    POST /approvals/<id>       approve or deny (form: action, reason, csrf); approvers only
    GET  /signin, POST /signin, POST /signout
    GET  /static/dashboard.css

Reading needs a session (or ``Authorization: Bearer`` with a viewer's or approver's
token), unless the dashboard is ``open``. A bad parameter, an unknown loop or run and a
refused token are pages that say why, with their status code; never a traceback.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from dashboard import snapshot
from dashboard.access import SESSION_COOKIE, SESSION_S, Access, AccessError, Session, csrf_ok
from dashboard.attention import FindingSource, no_findings
from dashboard.decide import DecisionError, Nowhere
from dashboard.pages import approvals as approvals_page
from dashboard.pages import cost as cost_page
from dashboard.pages import fleet as fleet_page
from dashboard.pages import loop as loop_page
from dashboard.pages import run as run_page
from dashboard.svg import swatch
from dashboard.view import ViewCache
from fleet.rules.base import WINDOW_DAYS
from gateway.mcp.redact import Redactor, redactor_for
from gateway.store import Store

HERE = Path(__file__).resolve().parent
log = logging.getLogger("fleet.dashboard")
MAX_FORM = 16 * 1024
MAX_REASON = 2000
# The doctor compares this week's spend with last week's.
DOCTOR_DAYS = 14


class Decider(Protocol):
    async def decide(
        self, approval_id: str, action: str, token: str, reason: str | None
    ) -> Any: ...


@dataclass
class Dashboard:
    """Everything the pages read: the loaded fleet, the store, who may do what."""

    loaded: Any
    open_store: Any
    """A callable returning the store to read (opened in the server's event loop)."""
    access: Access
    decider: Decider = field(default_factory=Nowhere)
    gateway_config: Any = None
    findings: FindingSource = no_findings
    findings_connected: bool = False
    secure_cookie: bool = False
    refresh_s: float = 15.0
    """How old the fleet view may get before a page has it rebuilt (0: every page)."""
    store: Store | None = None
    replay_of: Any = None
    """A callable: run id -> the recorded transcript a local run's model replays, or None
    (said on the run page, as every printout of a replayed run says it)."""

    def redactor(self) -> Redactor:
        return redactor_for(self.gateway_config) if self.gateway_config else Redactor([])

    def window_days(self) -> int:
        windows = [fleet_page.DAYS, DOCTOR_DAYS if self.findings_connected else 1]
        for a in self.loaded.agents:
            if a.agent.budget is not None:
                windows.append(WINDOW_DAYS.get(a.agent.budget.window, 1))
        windows += [WINDOW_DAYS.get(b.window, 1) for b in self.loaded.fleet.gateway.budgets]
        return max(windows)


def templates() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["usd"] = lambda v: f"${float(v or 0):.4f}"
    env.filters["q"] = lambda v: quote(str(v), safe="")
    env.globals["when"] = approvals_page.when
    env.globals["swatch"] = swatch
    return env


def create_app(dash: Dashboard) -> Starlette:
    env = templates()

    def page(
        request: Request,
        name: str,
        ctx: dict[str, Any],
        session: Session | None,
        status: int = 200,
    ) -> HTMLResponse:
        body = env.get_template(name).render(
            **ctx,
            session=session,
            person=session.person if session else None,
            open=dash.access.open,
            path=request.url.path,
        )
        return HTMLResponse(
            body,
            status_code=status,
            headers={
                "content-security-policy": "default-src 'none'; style-src 'self'; "
                "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'",
                "x-content-type-options": "nosniff",
                "referrer-policy": "same-origin",
                "cache-control": "no-store",
            },
        )

    def error(request: Request, status: int, message: str, session: Session | None) -> Response:
        return page(request, "error.html", {"title": "Error", "message": message}, session, status)

    def current(request: Request) -> Session | None:
        return dash.access.session(request.cookies.get(SESSION_COOKIE))

    def reader(request: Request) -> tuple[Session | None, Response | None]:
        """The session of a reader, or the response that sends them to sign in."""
        session = current(request)
        if session is not None:
            return session, None
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            try:
                person = dash.access.identify(auth[7:])
            except AccessError as exc:
                return None, error(request, exc.status, exc.message, None)
            return Session(person, "", "", 0.0), None
        if dash.access.open:
            return None, None
        return None, RedirectResponse(f"/signin?next={quote(request.url.path)}", status_code=303)

    async def store() -> Store:
        if dash.store is None:
            dash.store = dash.open_store()
        return dash.store

    row_template = env.get_template("fleet_row.html")
    views = ViewCache(
        dash.loaded, store, dash.window_days(), dash.findings, dash.refresh_s,
        lambda r: row_template.render(r=r), dash.findings_connected,
    )  # fmt: skip

    async def fleet(request: Request) -> Response:
        session, refused = reader(request)
        if refused:
            return refused
        view = await views.get()
        pending = await snapshot.pending(await store(), _now())
        try:
            ctx = fleet_page.context(
                dash.loaded, view.rows, view.counts, len(pending), dict(request.query_params),
                view.findings, dash.findings_connected, view.as_of,
            )  # fmt: skip
        except fleet_page.QueryError as exc:
            return error(request, 400, str(exc), session)
        return page(request, "fleet.html", ctx, session)

    async def cost(request: Request) -> Response:
        session, refused = reader(request)
        if refused:
            return refused
        view = await views.get()
        try:
            ctx = cost_page.context(view.cost, dict(request.query_params))
        except cost_page.QueryError as exc:
            return error(request, 400, str(exc), session)
        return page(request, "cost.html", ctx, session)

    def agent_of(name: str) -> Any:
        for a in dash.loaded.agents:
            if a.agent.name == name:
                return a.agent
        return None

    async def loop(request: Request) -> Response:
        session, refused = reader(request)
        if refused:
            return refused
        name = request.path_params["name"]
        agent = agent_of(name)
        if agent is None:
            return error(
                request, 404, f"no loop '{name[:80]}' in fleet {dash.loaded.fleet.fleet}", session
            )
        view = await views.get()
        row = view.row(name)
        if row is None:  # a loop the fleet gained since the dashboard started
            return error(
                request, 404, f"no loop '{name[:80]}' in fleet {dash.loaded.fleet.fleet}", session
            )
        runs = await snapshot.loop_runs(await store(), name)
        found = [f for f in view.findings if f.loop == name]
        return page(request, "loop.html", loop_page.context(agent, row, runs, found), session)

    async def run(request: Request) -> Response:
        session, refused = reader(request)
        if refused:
            return refused
        run_id = request.path_params["run"]
        record, logged, traces = await snapshot.run(await store(), run_id)
        if record is None and not traces:
            return error(
                request, 404, f"no run '{run_id[:80]}' and no steps recorded for it", session
            )
        ctx = run_page.context(run_id, record, logged, traces)
        ctx["replay"] = dash.replay_of(run_id) if dash.replay_of is not None else None
        return page(request, "run.html", ctx, session)

    async def approvals(request: Request) -> Response:
        session, refused = reader(request)
        if refused:
            return refused
        pending = await snapshot.pending(await store(), _now())
        ctx = approvals_page.context(
            pending, dash.redactor(), request.query_params.get("done", "")[:200]
        )
        return page(request, "approvals.html", ctx, session)

    async def decide(request: Request) -> Response:
        session = current(request)
        if session is None:
            return RedirectResponse("/signin?next=/approvals", status_code=303)
        form = await request.form(max_files=0, max_fields=8)
        if not csrf_ok(session, str(form.get("csrf") or "")):
            return error(
                request,
                403,
                "the form's CSRF token does not match your session: reload the page and try again",
                session,
            )
        if not session.person.approver:
            return error(
                request,
                403,
                f"{session.person.name} is a viewer: only an approver may decide",
                session,
            )
        action = str(form.get("action") or "")
        if action not in ("approve", "deny"):
            return error(request, 400, "action must be approve or deny", session)
        reason = str(form.get("reason") or "").strip() or None
        if reason is not None and len(reason) > MAX_REASON:
            return error(
                request, 400, f"the reason is longer than {MAX_REASON} characters", session
            )
        approval_id = request.path_params["id"]
        try:
            decided = await dash.decider.decide(approval_id, action, session.token, reason)
        except DecisionError as exc:
            pending = await snapshot.pending(await store(), _now())
            ctx = approvals_page.context(pending, dash.redactor(), error=str(exc))
            return page(request, "approvals.html", ctx, session, 409)
        state = decided.get("state", "decided") if isinstance(decided, dict) else "decided"
        done = f"{approval_id}: {state} by {session.person.name}"
        return RedirectResponse(f"/approvals?done={quote(done)}", status_code=303)

    async def signin(request: Request) -> Response:
        target = request.query_params.get("next", "/")
        if not target.startswith("/") or target.startswith("//"):
            target = "/"
        if request.method == "GET":
            return page(
                request,
                "signin.html",
                {"title": "Sign in", "next": target, "error": ""},
                current(request),
            )
        form = await request.form(max_files=0, max_fields=4)
        try:
            sid, _ = dash.access.sign_in(str(form.get("token") or ""))
        except AccessError as exc:
            ctx = {"title": "Sign in", "next": target, "error": exc.message}
            return page(request, "signin.html", ctx, None, exc.status)
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            SESSION_COOKIE, sid, max_age=SESSION_S, httponly=True, samesite="strict",
            secure=dash.secure_cookie, path="/",
        )  # fmt: skip
        return response

    async def signout(request: Request) -> Response:
        session = current(request)
        form = await request.form(max_files=0, max_fields=4)
        if session is not None and csrf_ok(session, str(form.get("csrf") or "")):
            dash.access.sign_out(request.cookies.get(SESSION_COOKIE))
        response = RedirectResponse("/signin", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    async def not_found(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        message = (
            f"no page at {request.url.path[:100]}" if status == 404 else
            "that method is not allowed here" if status == 405 else
            str(getattr(exc, "detail", "")) or "the request could not be served"
        )  # fmt: skip
        return error(request, status, message, current(request))

    async def failed(request: Request, exc: Exception) -> Response:
        from fleetctl.output import store_failure

        reason = store_failure(exc)
        log.exception("dashboard page %s failed", request.url.path)
        message = (
            f"the gateway's store failed: {reason}"
            if reason
            else "the page could not be built; see the dashboard's log"
        )
        return error(request, 503 if reason else 500, message, current(request))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await views.close()
        if dash.store is not None:
            with contextlib.suppress(Exception):
                await dash.store.close()
            dash.store = None

    served = Starlette(
        routes=[
            Route("/", fleet),
            Route("/loops/{name}", loop),
            Route("/runs/{run}", run),
            Route("/cost", cost),
            Route("/approvals", approvals),
            Route("/approvals/{id}", decide, methods=["POST"]),
            Route("/signin", signin, methods=["GET", "POST"]),
            Route("/signout", signout, methods=["POST"]),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ],
        exception_handlers={HTTPException: not_found, Exception: failed},
        lifespan=lifespan,
        max_body_size=MAX_FORM,  # forms carry a token or a reason: a larger body is refused
    )
    served.state.views = views
    return served


def _now() -> float:
    import time

    return time.time()
