"""``GET /newsroom``: the newsroom console (DESIGN §11), for contributors, reporters,
editors and admins.

The page is a shell: one template, a stylesheet and a few ES modules
(``static/newsroom*.js``). It holds nothing of any story; everything it shows comes from
the API, with the token the person pasted (kept in the tab's ``sessionStorage``, never in
a URL). Hence ``Cache-Control: no-store`` (nothing here is for a shared cache, and a
browser should not keep a signed-in screen) and a policy stricter than the readers':
scripts, styles and connections to this server only (CSP 3 matches ``ws:``/``wss:`` of
the page's own host to ``'self'``), images over https (an update's media), never framed.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from liveblog.web.page_render import render
from liveblog.web.pages import page, site_name
from liveblog.web.threads import in_thread

CONSOLE_POLICY = (
    "default-src 'self'; connect-src 'self'; img-src 'self' https: data:; object-src 'none';"
    " base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
CONSOLE_HEADERS = {"Content-Security-Policy": CONSOLE_POLICY, "Cache-Control": "no-store"}


@page()
async def newsroom_console(request: Request) -> Response:
    body = await in_thread(render, "newsroom.html", site=site_name(request))
    return HTMLResponse(body, headers=CONSOLE_HEADERS)


ROUTES = [Route("/newsroom", newsroom_console, methods=["GET"])]
