"""The app's route table, pinned: paths, methods, handler names and their order.

Starlette tries routes in order, so moving handlers between modules must not reorder
them (a ``GET /api/stories/{story}`` tried before ``/api/stories/{story}/updates`` would
still work, but a changed table is a changed API). A new route is added here on purpose.
"""

from __future__ import annotations

from starlette.routing import Route

from liveblog.settings import Settings
from liveblog.web.app import create_app

ROUTE_TABLE = [
    ("/healthz", ["GET", "HEAD"], "healthz"),
    ("/readyz", ["GET", "HEAD"], "readyz"),
    ("/api/openapi.json", ["GET", "HEAD"], "openapi_json"),
    ("/api/stories", ["POST"], "create_story"),
    ("/api/stories", ["GET", "HEAD"], "list_stories"),
    ("/api/stories/{story}", ["GET", "HEAD"], "get_story"),
    ("/api/stories/{story}", ["PATCH"], "edit_story"),
    ("/api/stories/{story}/close", ["POST"], "close_story"),
    ("/api/stories/{story}/reopen", ["POST"], "reopen_story"),
    ("/api/stories/{story}/updates", ["POST"], "post_update"),
    ("/api/stories/{story}/updates", ["GET", "HEAD"], "list_updates"),
    ("/api/stories/{story}/updates/{update}", ["GET", "HEAD"], "get_update"),
    ("/api/stories/{story}/updates/{update}", ["PATCH"], "flag_update"),
    ("/api/stories/{story}/updates/{update}/corrections", ["POST"], "correct_update"),
    ("/api/stories/{story}/updates/{update}/retraction", ["POST"], "retract_update"),
    ("/api/stories/{story}/updates/{update}/reinstatement", ["POST"], "reinstate_update"),
    ("/api/stories/{story}/drafts", ["POST"], "create_draft"),
    ("/api/stories/{story}/drafts", ["GET", "HEAD"], "list_drafts"),
    ("/api/stories/{story}/drafts/{draft}", ["GET", "HEAD"], "get_draft"),
    ("/api/stories/{story}/drafts/{draft}", ["PATCH"], "edit_draft"),
    ("/api/stories/{story}/drafts/{draft}/submit", ["POST"], "submit_draft"),
    ("/api/stories/{story}/drafts/{draft}/publish", ["POST"], "publish_draft"),
    ("/api/stories/{story}/drafts/{draft}/schedule", ["POST"], "schedule_draft"),
    ("/api/stories/{story}/drafts/{draft}/unschedule", ["POST"], "unschedule_draft"),
    ("/api/stories/{story}/drafts/{draft}/discard", ["POST"], "discard_draft"),
    ("/api/preview", ["POST"], "preview"),
    ("/api/stories/{story}/updates/{update}/revisions", ["GET", "HEAD"], "update_revisions"),
    ("/api/stories/{story}/events", ["GET", "HEAD"], "story_history"),
    ("/api/stories/{story}/export", ["GET", "HEAD"], "export_story"),
    ("/api/me", ["GET", "HEAD"], "me"),
    ("/api/people", ["GET", "HEAD"], "list_people"),
    ("/api/people", ["POST"], "create_person"),
    ("/api/people/{person}", ["GET", "HEAD"], "get_person"),
    ("/api/people/{person}", ["PATCH"], "edit_person"),
    ("/api/people/{person}/tokens", ["POST"], "create_token"),
    ("/api/tokens", ["GET", "HEAD"], "list_tokens"),
    ("/api/tokens/{token}", ["GET", "HEAD"], "get_token"),
    ("/api/tokens/{token}", ["DELETE"], "revoke_token"),
    ("/api/audit", ["GET", "HEAD"], "audit"),
    ("/api/stories/{story}/live", ["GET", "HEAD"], "live_without_upgrade"),
    ("/api/stories/{story}/live/sse", ["GET", "HEAD"], "live_sse"),
    ("/stories/{slug}/feed.atom", ["GET", "HEAD"], "atom_feed"),
    ("/stories/{slug}/feed.json", ["GET", "HEAD"], "json_feed"),
    ("/", ["GET", "HEAD"], "front_page"),
    ("/stories/{slug}", ["GET", "HEAD"], "story_page"),
    ("/stories/{slug}/embed", ["GET", "HEAD"], "story_embed"),
    ("/stories/{slug}/updates/{update}", ["GET", "HEAD"], "update_page"),
    ("/newsroom", ["GET", "HEAD"], "newsroom_console"),
    ("/static/{digest}/{name}", ["GET", "HEAD"], "static_file"),
    ("/embed.js", ["GET", "HEAD"], "embed_script"),
    ("/metrics", ["GET", "HEAD"], "metrics"),
]


def test_the_route_table_is_the_one_clients_know() -> None:
    app = create_app(Settings(database_url="memory://"))
    table = []
    for route in app.routes:
        assert isinstance(route, Route), f"the test does not know how to read {route!r}"
        table.append((route.path, sorted(route.methods or ()), route.name))

    assert table == ROUTE_TABLE
