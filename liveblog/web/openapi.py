"""The OpenAPI 3.1 description of the HTTP API, served at ``GET /api/openapi.json``.

Plain data built in code: JSON Schema for the shapes of DESIGN §4 (Story, Update, the
error, people and tokens), and one entry per route and method.
``tests/unit/test_openapi.py`` walks the app's route table (and the unrouted live
WebSocket) and fails when a route is missing here, when this names a route that does not
exist, or when an operation's query parameters differ from those its endpoint declares
with ``accepts_query``.
``tests/e2e/test_openapi_fuzz.py`` runs schemathesis against a real server with it.

To add a route: add its ``Route`` (with ``@accepts_query(...)`` on the endpoint), then an
entry in ``PATHS`` below: ``PATHS["/api/things/{thing}"]["get"] = operation(...)`` with
its summary, who may call it (``role``), its parameters (the query ones must equal what
``accepts_query`` declares), its request body schema if any, and its answers. Errors
need no listing: every operation answers ``ERROR`` for any 4xx/5xx (``default``). Reuse
the schemas in ``SCHEMAS`` with ``ref("Name")``; answers may gain fields (clients ignore
fields they do not know), request bodies may not (unknown fields are 422).

Titles, summaries, notes, reasons and names are plain text: clients escape them.
``body`` is HTML the server sanitized with an allow-list.
"""

from __future__ import annotations

from typing import Any

from liveblog.domain import (
    MAX_BODY,
    MAX_NAME,
    MAX_NOTE,
    MAX_REASON,
    MAX_SLUG,
    MAX_SUMMARY,
    MAX_TITLE,
)
from liveblog.draft import DRAFT_STATUSES
from liveblog.media import (
    ALLOWED_PROVIDERS,
    MAX_ALT,
    MAX_CAPTION,
    MAX_CREDIT,
    MAX_ITEMS,
    MAX_URL,
    PROVIDERS,
)
from liveblog.people import Role
from liveblog.tokens import MAX_LABEL, MAX_LIFETIME, TOKEN_PREFIX
from liveblog.web.inputs import MAX_TAG_DIGITS
from projections.wire import MAX_PAGE_SIZE

Schema = dict[str, Any]

MAX_VERSION = 2**62
PLAIN = "Plain text: clients escape it before showing it as HTML."


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


def obj(properties: dict[str, Schema], *, optional: tuple[str, ...] = ()) -> Schema:
    """An object with these properties, all required but ``optional``; answers may grow."""
    return {
        "type": "object",
        "properties": properties,
        "required": [name for name in properties if name not in optional],
    }


def body_of(properties: dict[str, Schema], *, required: tuple[str, ...] = ()) -> Schema:
    """A request body: only these properties (others are 422 unknown_field)."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
    }


def text(limit: int, description: str = PLAIN, min_length: int = 0) -> Schema:
    return {
        "type": "string",
        "maxLength": limit,
        "minLength": min_length,
        "description": description,
    }


TIME: Schema = {"type": "string", "format": "date-time", "description": "RFC 3339, UTC"}
UUID_TEXT: Schema = {"type": "string", "format": "uuid"}
VERSION: Schema = {"type": "integer", "minimum": 1}
ROLE: Schema = {
    "enum": [role.value for role in Role],
    "description": "lowest first; each role may do all that the ones before it may",
}
HTTPS_URL: Schema = {"type": "string", "maxLength": MAX_URL, "pattern": "^https://"}
EMBED_URL: Schema = {**HTTPS_URL, "description": f"a post of a provider: {ALLOWED_PROVIDERS}"}
IMAGE_FIELDS: dict[str, Schema] = {
    "type": {"const": "image"},
    "url": HTTPS_URL,
    "alt": text(MAX_ALT, "required: what the image shows, for those who cannot see it", 1),
    "caption": nullable(text(MAX_CAPTION)),
    "credit": nullable(text(MAX_CREDIT)),
}
PROVIDER: Schema = {"enum": list(PROVIDERS), "description": "found from the URL"}
MEDIA_INPUT: Schema = {
    "type": "array",
    "maxItems": MAX_ITEMS,
    "description": "images and embeds, in order; stored normalised (see Media)",
    "items": {
        "oneOf": [
            body_of(IMAGE_FIELDS, required=("type", "url", "alt")),
            body_of(
                {"type": {"const": "embed"}, "url": EMBED_URL, "provider": PROVIDER},
                required=("type", "url"),
            ),
        ]
    },
}
EXAMPLE_MEDIA = [
    {"type": "image", "url": "https://images.example/bridge.jpg", "alt": "The old bridge",
     "credit": "A. Reporter"},
    {"type": "embed", "url": "https://www.youtube.com/watch?v=abc123"},
]  # fmt: skip
WARNINGS: Schema = {
    "type": "array",
    "items": {"$ref": "#/components/schemas/Warning"},
    "description": "what the sanitizer dropped from the body; present on a write's answer"
    " only when it dropped something",
}
TOKEN_STATUS: Schema = {
    "enum": ["active", "revoked", "expired", "inactive"],
    "description": "inactive: its person is deactivated",
}

SCHEMAS: dict[str, Schema] = {
    "Error": {
        "type": "object",
        "properties": {
            "error": obj({"code": {"type": "string"}, "message": {"type": "string"}}),
        },
        "required": ["error"],
    },
    "Person": obj({"id": {"type": "string"}, "name": text(200)}),
    "Correction": obj({"at": TIME, "note": text(MAX_NOTE), "by": ref("Person")}),
    "Image": obj(IMAGE_FIELDS),
    "Embed": obj({"type": {"const": "embed"}, "url": EMBED_URL, "provider": PROVIDER}),
    "Media": {
        "oneOf": [ref("Image"), ref("Embed")],
        "description": "an image (caption and credit null when not given) or an embed,"
        " which pages load only when the reader asks",
    },
    "Warning": obj(
        {
            "code": {"enum": ["removed_element", "removed_attribute"]},
            "element": {"type": "string"},
            "attribute": {"type": "string"},
            "hint": {"type": "string", "description": "what to do instead"},
        },
        optional=("attribute",),
    ),
    "Retraction": obj({"at": TIME, "reason": text(MAX_REASON), "by": ref("Person")}),
    "Update": obj(
        {
            "id": UUID_TEXT,
            "story_id": UUID_TEXT,
            "title": text(MAX_TITLE),
            "body": {
                "type": "string",
                "description": "HTML, sanitized by the server with an allow-list; empty "
                "once retracted.",
            },
            "media": {
                "type": "array",
                "items": ref("Media"),
                "description": "empty once retracted",
            },
            "author": ref("Person"),
            "approved_by": {
                **nullable(ref("Person")),
                "description": "the editor who published the author's draft; null when the"
                " author posted it",
            },
            "key_event": {"type": "boolean"},
            "pinned": {"type": "boolean"},
            "status": {"enum": ["published", "retracted"]},
            "published_at": TIME,
            "updated_at": TIME,
            "revision": VERSION,
            "corrections": {"type": "array", "items": ref("Correction")},
            "retraction": nullable(ref("Retraction")),
        }
    ),
    "Draft": obj(
        {
            "id": UUID_TEXT,
            "story_id": UUID_TEXT,
            "title": text(MAX_TITLE),
            "body": {"type": "string", "description": "HTML, sanitized as an update's body"},
            "media": {"type": "array", "items": ref("Media")},
            "key_event": {"type": "boolean"},
            "pinned": {"type": "boolean"},
            "author": ref("Person"),
            "status": {"enum": list(DRAFT_STATUSES)},
            "publish_at": nullable(TIME),
            "revision": {**VERSION, "description": 'If-Match: "d<revision>"'},
            "update_id": nullable(UUID_TEXT),
            "created_at": TIME,
            "updated_at": TIME,
            "warnings": WARNINGS,
        },
        optional=("warnings",),
    ),
    "AuditEntry": obj(
        {
            "at": TIME,
            "source": {"enum": ["story", "draft", "people"]},
            "action": {
                "type": "string",
                "description": "a story event's name (update.posted, ...), draft.created,"
                " draft.edited, draft.submitted, draft.scheduled, draft.unscheduled,"
                " draft.published, draft.discarded, person.registered, person.changed,"
                " token.issued or token.revoked",
            },
            "actor": ref("Person"),
            "story_id": UUID_TEXT,
            "version": VERSION,
            "update_id": UUID_TEXT,
            "draft_id": UUID_TEXT,
            "publish_at": TIME,
            "person_id": {"type": "string"},
            "token_id": UUID_TEXT,
            "detail": {"type": "string"},
        },
        optional=(
            "story_id",
            "version",
            "update_id",
            "draft_id",
            "publish_at",
            "person_id",
            "token_id",
            "detail",
        ),
    ),
    "AuditPage": obj(
        {
            "entries": {"type": "array", "items": ref("AuditEntry")},
            "next": nullable({"type": "string"}),
        }
    ),
    "Preview": obj(
        {
            "body": {"type": "string", "description": "the body as it would be stored"},
            "media": {"type": "array", "items": ref("Media")},
            "warnings": {**WARNINGS, "description": "what the sanitizer would drop"},
        }
    ),
    "DraftList": obj({"drafts": {"type": "array", "items": ref("Draft")}}),
    "WrittenUpdate": {
        "allOf": [
            ref("Update"),
            obj(
                {
                    "story_version": {**VERSION, "description": "for ?min_version"},
                    "warnings": WARNINGS,
                },
                optional=("warnings",),
            ),
        ]
    },
    "StoryFields": obj(
        {
            "id": UUID_TEXT,
            "slug": {"type": "string", "maxLength": MAX_SLUG},
            "title": text(MAX_TITLE),
            "summary": text(MAX_SUMMARY),
            "status": {"enum": ["live", "closed"]},
            "version": VERSION,
            "created_at": TIME,
            "updated_at": TIME,
            "coverage_start": TIME,
            "coverage_end": nullable(TIME),
        }
    ),
    "KeyEvent": obj({"id": UUID_TEXT, "title": text(MAX_TITLE), "published_at": TIME}),
    "Story": {
        "allOf": [
            ref("StoryFields"),
            obj(
                {
                    "pinned": {"type": "array", "items": ref("Update")},
                    "key_events": {"type": "array", "items": ref("KeyEvent")},
                    "updates": {
                        "type": "array",
                        "items": ref("Update"),
                        "description": "the newest page, newest first",
                    },
                    "next": nullable({**UUID_TEXT, "description": "?before= for the next page"}),
                }
            ),
        ]
    },
    "ListedStory": {
        "allOf": [
            ref("StoryFields"),
            obj(
                {
                    "update_count": {"type": "integer", "minimum": 0},
                    "last_update_at": nullable(TIME),
                }
            ),
        ]
    },
    "StoryList": obj({"stories": {"type": "array", "items": ref("ListedStory")}}),
    "UpdatePage": obj(
        {"updates": {"type": "array", "items": ref("Update")}, "next": nullable(UUID_TEXT)}
    ),
    "Revision": obj(
        {
            "revision": VERSION,
            "kind": {
                "type": "string",
                "enum": ["posted", "corrected", "reverted", "retracted", "reinstated"],
            },
            "at": TIME,
            "note": {
                **nullable(text(MAX_NOTE)),
                "description": "a correction's note, or a retraction's or reinstatement's "
                "reason (plain text)",
            },
            "by": ref("Person"),
            "reverted_to": {
                **nullable(VERSION),
                "description": "a revert: the revision made current again",
            },
            "title": text(MAX_TITLE),
            "body": {"type": "string", "description": "sanitized HTML"},
            "media": {"type": "array", "items": ref("Media")},
            "diff": {
                "type": "string",
                "description": "editors: the body, with the words removed since the revision "
                "before in <del> and those added in <ins> (HTML)",
            },
            "title_diff": {
                **nullable({"type": "string"}),
                "description": "editors: the title's changes as for diff (HTML escaped), "
                "null when the title did not change",
            },
        },
        optional=("title", "body", "media", "diff", "title_diff"),
    ),
    "Revisions": obj(
        {
            "update_id": UUID_TEXT,
            "revisions": {
                "type": "array",
                "items": ref("Revision"),
                "description": "oldest first; title and body of superseded or retracted "
                "revisions for editors only",
            },
        }
    ),
    "HistoryEvent": obj(
        {
            "version": VERSION,
            "type": {"type": "string", "description": "e.g. update.posted"},
            "at": TIME,
            "actor": ref("Person"),
            "data": {"type": "object"},
        }
    ),
    "History": obj(
        {
            "events": {"type": "array", "items": ref("HistoryEvent")},
            "next": nullable({"type": "integer", "minimum": 1, "description": "?after="}),
        }
    ),
    "Status": obj({"status": {"type": "string"}}),
    # People and tokens (admins; /api/me for any token). No answer but a token's
    # creation carries its secret, and none carries its hash.
    "Me": {"allOf": [ref("Person"), obj({"role": ROLE})]},
    "PersonAccount": {
        "allOf": [
            ref("Person"),
            obj(
                {
                    "role": ROLE,
                    "active": {
                        "type": "boolean",
                        "description": "false: deactivated, every token refused",
                    },
                    "created_at": TIME,
                }
            ),
        ]
    },
    "People": obj({"people": {"type": "array", "items": ref("PersonAccount")}}),
    "Token": obj(
        {
            "id": UUID_TEXT,
            "person": ref("Person"),
            "label": text(MAX_LABEL),
            "hint": {
                "type": "string",
                "maxLength": 4,
                "description": "the secret's last four characters (empty for old tokens)",
            },
            "created_at": TIME,
            "expires_at": nullable(TIME),
            "revoked": {"type": "boolean"},
            "status": TOKEN_STATUS,
        }
    ),
    "Tokens": obj({"tokens": {"type": "array", "items": ref("Token")}}),
    "NewToken": {
        "allOf": [
            ref("Token"),
            obj(
                {
                    "secret": {
                        "type": "string",
                        "pattern": f"^{TOKEN_PREFIX}",
                        "description": "use as Authorization: Bearer <secret>. Shown in "
                        "this answer only: the server keeps a hash, no list shows it.",
                    }
                }
            ),
        ]
    },
}


def path_param(name: str, description: str) -> Schema:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string", "minLength": 1},
    }


def query(name: str, schema: Schema, description: str) -> Schema:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


def header(name: str, schema: Schema, description: str) -> Schema:
    return {
        "name": name,
        "in": "header",
        "required": False,
        "schema": schema,
        "description": description,
    }


STORY = path_param("story", "the story's id or slug")
UPDATE = path_param("update", "the update's id")
PERSON = path_param("person", "the person's id")
TOKEN = path_param("token", "the token's id (not its secret)")
MIN_VERSION = query(
    "min_version",
    {"type": "integer", "minimum": 1, "maximum": MAX_VERSION},
    "answer once this process can read at least this story version (read your writes); "
    "404 if the story has no such version",
)


def if_match(prefix: str, what: str) -> Schema:
    return header(
        "If-Match",
        {"type": "string", "pattern": f'^"{prefix}[0-9]{{1,{MAX_TAG_DIGITS}}}"$'},
        f'"{prefix}<{what}>" you edited: 409 if it is no longer current',
    )


def json_content(schema: Schema) -> dict[str, Schema]:
    return {"application/json": {"schema": schema}}


ERROR: Schema = {
    "description": 'Any error: {"error": {"code", "message"}} (DESIGN §4)',
    "content": json_content(ref("Error")),
}


def operation(
    summary: str,
    *,
    role: str | None = None,
    any_token: bool = False,
    optional_auth: bool = False,
    parameters: tuple[Schema, ...] = (),
    request: Schema | None = None,
    request_required: bool = True,
    example: Schema | None = None,
    answers: dict[str, tuple[str, Schema | None]],
) -> Schema:
    """One operation; ``answers`` maps a status to its description and JSON schema (None:
    no body). ``role`` is the least role that may call it (None: anyone; ``any_token``:
    anyone with a valid token, whatever its role). A request body is required unless
    ``request_required`` is False (then no body at all reads as ``{}``); ``example`` is
    one the server accepts (the fuzzer tries it first)."""
    responses: dict[str, Schema] = {}
    for status, (description, schema) in answers.items():
        responses[status] = {"description": description}
        if schema is not None:
            responses[status]["content"] = json_content(schema)
    responses["default"] = ERROR
    op: Schema = {"summary": summary, "parameters": list(parameters), "responses": responses}
    if role is not None:
        op["description"] = f"Needs a token with the {role} role (or above)."
        op["security"] = [{"bearer": []}]
    elif any_token:
        op["description"] = "Needs a valid token, whatever its role."
        op["security"] = [{"bearer": []}]
    elif optional_auth:
        op["security"] = [{}, {"bearer": []}]
    else:
        op["security"] = []
    if request is not None:
        content = json_content(request)
        if example is not None:
            content["application/json"]["example"] = example
        op["requestBody"] = {"required": request_required, "content": content}
    return op


def streamed(summary: str, answer: tuple[str, str], **options: Any) -> Schema:
    """An operation whose 200 is a stream of text (``answer``: its media type and
    description), not one JSON document; ``options`` as for ``operation``."""
    media_type, description = answer
    return {
        **operation(summary, answers={}, **options),
        "responses": {
            "200": {
                "description": description,
                "content": {media_type: {"schema": {"type": "string"}}},
            },
            "default": ERROR,
        },
    }


SLUG = path_param("slug", "the story's slug (or id)")


def document(summary: str, media_type: str, parameters: tuple[Schema, ...] = (SLUG,)) -> Schema:
    """A public GET whose answer is a document, not JSON of the API (pages, feeds)."""
    return {
        "get": {
            **operation(summary, parameters=parameters, answers={}),
            "responses": {
                "200": {
                    "description": f"{media_type}, with ETag and Cache-Control (public)",
                    "content": {media_type: {"schema": {"type": "string"}}},
                },
                "default": ERROR,
            },
        }
    }


PAGE_QUERY = (
    query("before", {"type": "string"}, "an update's id: the updates older than it"),
    query("key_events", {"type": "boolean"}, "only key events"),
)
STORY_BODY = ("Story", ref("Story"))
DRAFT_BODY = ("the Draft (its author's and editors' only)", ref("Draft"))
UPDATE_BODY = ("Update, and the story version that holds it", ref("WrittenUpdate"))
PERSON_BODY = ("the person (private)", ref("PersonAccount"))
TOKEN_BODY = ("the token, without its secret (private)", ref("Token"))


DRAFT = path_param("draft", "the draft's id")
DRAFT_FIELDS: dict[str, Schema] = {
    "title": text(MAX_TITLE),
    "body": text(MAX_BODY, "HTML; sanitized with an allow-list", 1),
    "media": MEDIA_INPUT,
    "key_event": {"type": "boolean", "description": "editors only"},
    "pinned": {"type": "boolean", "description": "editors only"},
}
DRAFTS_NOTE = (
    " A contributor or reporter acts on their own drafts (others' are 404 to them), an"
    " editor on any."
)


def draft_action(summary: str, role: str, request: Schema | None = None) -> Schema:
    return {
        "post": operation(
            summary + DRAFTS_NOTE, role=role, parameters=(STORY, DRAFT, if_match("d", "revision")),
            request=request, request_required=request is not None,
            answers={"200": DRAFT_BODY},
        )
    }  # fmt: skip


DRAFT_PATHS: dict[str, Schema] = {
    "/api/stories/{story}/drafts": {
        "post": operation(
            "Write a draft (with publish_at: scheduled at once, reporters and up)",
            role="contributor",
            parameters=(
                STORY,
                header(
                    "Idempotency-Key",
                    {"type": "string", "minLength": 1, "maxLength": 200},
                    "a retry with the same key returns the same draft",
                ),
            ),
            request=body_of({**DRAFT_FIELDS, "publish_at": TIME}, required=("body",)),
            answers={"201": DRAFT_BODY},
        ),
        "get": operation(
            "The story's drafts, most recently changed first: an editor's all, anyone else's own",
            role="contributor",
            parameters=(STORY, query("status", {"enum": list(DRAFT_STATUSES)}, "only these")),
            answers={"200": ("the drafts", ref("DraftList"))},
        ),
    },
    "/api/stories/{story}/drafts/{draft}": {
        "get": operation(
            "One draft." + DRAFTS_NOTE,
            role="contributor",
            parameters=(STORY, DRAFT),
            answers={"200": DRAFT_BODY},
        ),
        "patch": operation(
            "Edit a draft (not once published or discarded)." + DRAFTS_NOTE,
            role="contributor",
            parameters=(STORY, DRAFT, if_match("d", "revision")),
            request=body_of(DRAFT_FIELDS),
            answers={"200": DRAFT_BODY},
        ),
    },
    "/api/stories/{story}/drafts/{draft}/submit": draft_action(
        "Submit a draft for an editor's approval.", "contributor"
    ),
    "/api/stories/{story}/drafts/{draft}/publish": {
        "post": operation(
            "Publish a draft now: the Update it becomes, approved_by the publisher unless"
            " that is its author. Idempotent: again, or from two processes at once, the same"
            " Update and one update.posted." + DRAFTS_NOTE,
            role="reporter",
            parameters=(STORY, DRAFT),
            answers={"200": UPDATE_BODY},
        )
    },
    "/api/stories/{story}/drafts/{draft}/schedule": draft_action(
        "Schedule or reschedule: published within about a second of publish_at, exactly"
        " once, by whichever server gets there first.",
        "reporter",
        body_of({"publish_at": TIME}, required=("publish_at",)),
    ),
    "/api/stories/{story}/drafts/{draft}/unschedule": draft_action(
        "Take a scheduled draft off the schedule.", "reporter"
    ),
    "/api/stories/{story}/drafts/{draft}/discard": draft_action(
        "Discard a draft (it is kept, never published).", "contributor"
    ),
}


PATHS: dict[str, dict[str, Schema]] = {
    "/healthz": {"get": operation("Liveness", answers={"200": ("alive", ref("Status"))})},
    "/readyz": {
        "get": operation("Readiness: the store answers", answers={"200": ("ready", ref("Status"))})
    },
    "/metrics": {
        "get": {
            **operation("Prometheus metrics", answers={}),
            "responses": {
                "200": {
                    "description": "Prometheus text format",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                },
                "default": ERROR,
            },
        }
    },
    "/stories/{slug}/feed.atom": document(
        "The story's Atom 1.0 feed: one entry per update (the newest 50), ids urn:uuid:,"
        " updated moved by corrections, retractions as tombstones",
        "application/atom+xml",
    ),
    "/stories/{slug}/feed.json": document(
        "The story's JSON Feed 1.1: the same entries as the Atom feed", "application/feed+json"
    ),
    # The readers' pages (liveblog/web/pages.py): HTML; errors are HTML pages too.
    "/": document("The front page: live and recent stories", "text/html", ()),
    "/stories/{slug}": document(
        "The reader page: server-rendered, live with JavaScript (since= its version)",
        "text/html",
        (SLUG, *PAGE_QUERY),
    ),
    "/stories/{slug}/embed": document(
        "The reader page without the site's frame, for an iframe (see /embed.js)",
        "text/html",
        (SLUG, *PAGE_QUERY),
    ),
    "/stories/{slug}/updates/{update}": document(
        "One update's page (permalink, canonical, OpenGraph and Twitter card tags)",
        "text/html",
        (SLUG, path_param("update", "the update's id")),
    ),
    "/newsroom": document(
        "The newsroom console (liveblog/web/console.py): a shell whose data comes from the"
        " API with the token pasted into it; Cache-Control: no-store",
        "text/html",
        (),
    ),
    "/static/{digest}/{name}": document(
        "The pages' stylesheet and scripts; a year's Cache-Control when digest is current",
        "text/javascript",
        (path_param("digest", "the file's hash"), path_param("name", "the file's name")),
    ),
    "/embed.js": document(
        'Turns <div data-liveblog="SLUG"></div> on any site into the story\'s embed',
        "text/javascript",
        (),
    ),
    "/api/openapi.json": {
        "get": operation("This description", answers={"200": ("OpenAPI 3.1", {"type": "object"})})
    },
    "/api/stories": {
        "get": operation(
            "The stories, oldest first",
            parameters=(query("status", {"enum": ["live", "closed"]}, "only these"),),
            answers={"200": ("the stories", ref("StoryList"))},
        ),
        "post": operation(
            "Open a story",
            role="editor",
            request=body_of(
                {
                    "slug": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": MAX_SLUG,
                        "pattern": "^[a-z0-9]+(-[a-z0-9]+)*$",
                    },
                    "title": text(MAX_TITLE, min_length=1),
                    "summary": text(MAX_SUMMARY),
                },
                required=("slug", "title"),
            ),
            answers={"201": STORY_BODY},
        ),
    },
    "/api/stories/{story}": {
        "get": operation(
            "The story with its newest page of updates (ETag; If-None-Match → 304); with "
            "at_version or at, editors only, as readers saw it then",
            optional_auth=True,
            parameters=(
                STORY,
                query(
                    "at_version",
                    {"type": "integer", "minimum": 1, "maximum": MAX_VERSION},
                    "editors: the story as it was at this version",
                ),
                query(
                    "at",
                    {"type": "string", "format": "date-time"},
                    "editors: the story as it was at this moment (RFC 3339)",
                ),
                MIN_VERSION,
                header("If-None-Match", {"type": "string"}, 'e.g. "v12"'),
            ),
            answers={"200": STORY_BODY, "304": ("not modified", None)},
        ),
        "patch": operation(
            "Change the title or summary",
            role="editor",
            parameters=(STORY, if_match("v", "version")),
            request=body_of(
                {"title": text(MAX_TITLE, min_length=1), "summary": text(MAX_SUMMARY)}
            ),
            answers={"200": STORY_BODY},
        ),
    },
    "/api/stories/{story}/close": {
        "post": operation(
            "Close the story", role="editor", parameters=(STORY,), answers={"200": STORY_BODY}
        )
    },
    "/api/stories/{story}/reopen": {
        "post": operation(
            "Reopen the story", role="editor", parameters=(STORY,), answers={"200": STORY_BODY}
        )
    },
    "/api/stories/{story}/updates": {
        "get": operation(
            "Older pages of updates, newest first",
            parameters=(
                STORY,
                query("before", UUID_TEXT, "the previous page's next"),
                query(
                    "limit",
                    {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},
                    "page size",
                ),
                query("key_events", {"type": "boolean"}, "only key events"),
                MIN_VERSION,
            ),
            answers={"200": ("a page", ref("UpdatePage"))},
        ),
        "post": operation(
            "Post an update",
            role="reporter",
            parameters=(
                STORY,
                header(
                    "Idempotency-Key",
                    {"type": "string", "minLength": 1, "maxLength": 200},
                    "a retry with the same key returns the same update",
                ),
            ),
            request=body_of(
                {
                    "body": text(MAX_BODY, "HTML; sanitized with an allow-list", 1),
                    "title": text(MAX_TITLE),
                    "media": MEDIA_INPUT,
                    "key_event": {"type": "boolean", "description": "editors only"},
                    "pinned": {"type": "boolean", "description": "editors only"},
                    "publish_at": {
                        **TIME,
                        "description": "schedule the post: answered 202 with the Draft",
                    },
                },
                required=("body",),
            ),
            example={
                "title": "Bridge closed",
                "body": "<p>The old bridge is closed.</p>",
                "media": EXAMPLE_MEDIA,
            },
            answers={"201": UPDATE_BODY, "202": DRAFT_BODY},
        ),
    },
    **DRAFT_PATHS,
    "/api/stories/{story}/updates/{update}": {
        "get": operation(
            "One update (a permalink)",
            parameters=(STORY, UPDATE, MIN_VERSION),
            answers={"200": ("the Update", ref("Update"))},
        ),
        "patch": operation(
            "Pin or unpin, mark or unmark as a key event",
            role="editor",
            parameters=(STORY, UPDATE),
            request=body_of({"pinned": {"type": "boolean"}, "key_event": {"type": "boolean"}}),
            answers={"200": UPDATE_BODY},
        ),
    },
    "/api/stories/{story}/updates/{update}/corrections": {
        "post": operation(
            "Correct an update (its author, or an editor): a new revision with a public note."
            " Give title, body, media or several (at least one must change), or revert_to"
            " alone",
            role="reporter",
            parameters=(STORY, UPDATE, if_match("r", "revision")),
            request=body_of(
                {
                    "title": text(MAX_TITLE),
                    "body": text(MAX_BODY, "HTML; sanitized with an allow-list", 1),
                    "media": MEDIA_INPUT,
                    "note": text(MAX_NOTE, min_length=1),
                    "revert_to": {
                        "type": "integer",
                        "minimum": 1,
                        "description": "make this revision's title, body and media current again",
                    },
                },
                required=("note",),
            ),
            example={
                "body": "<p>The old bridge is closed to all traffic.</p>",
                "media": EXAMPLE_MEDIA[:1],
                "note": "Not only to cars",
            },
            answers={"200": UPDATE_BODY},
        ),
    },
    "/api/stories/{story}/updates/{update}/retraction": {
        "post": operation(
            "Retract an update: readers see a tombstone with the reason",
            role="editor",
            parameters=(STORY, UPDATE),
            request=body_of({"reason": text(MAX_REASON, min_length=1)}, required=("reason",)),
            answers={"200": UPDATE_BODY},
        ),
    },
    "/api/stories/{story}/updates/{update}/reinstatement": {
        "post": operation(
            "Reinstate a retracted update: it shows its last title and body again; the "
            "retraction stays in its revisions",
            role="editor",
            parameters=(STORY, UPDATE, if_match("r", "revision")),
            request=body_of({"reason": text(MAX_REASON, min_length=1)}, required=("reason",)),
            answers={"200": UPDATE_BODY},
        ),
    },
    "/api/stories/{story}/updates/{update}/revisions": {
        "get": operation(
            "Every revision of an update; old bodies for editors only (then private)",
            optional_auth=True,
            parameters=(STORY, UPDATE, MIN_VERSION),
            answers={"200": ("the revisions", ref("Revisions"))},
        ),
    },
    "/api/stories/{story}/events": {
        "get": operation(
            "The story's raw history (private), optionally filtered: every filter given "
            "must match; next is the version the next page starts after",
            role="editor",
            parameters=(
                STORY,
                query(
                    "after",
                    {"type": "integer", "minimum": 0, "maximum": MAX_VERSION},
                    "events after this version",
                ),
                query(
                    "limit",
                    {"type": "integer", "minimum": 1, "maximum": 1000},
                    "at most this many",
                ),
                query("update", UUID_TEXT, "only the events of this update"),
                query("actor", {"type": "string"}, "only the events of this person (id)"),
                query(
                    "type",
                    {"type": "string"},
                    "only events of these names, comma separated (e.g. update.corrected)",
                ),
                query("from", TIME, "only events at or after this time (RFC 3339)"),
                query("to", TIME, "only events at or before this time (RFC 3339)"),
            ),
            answers={"200": ("the events", ref("History"))},
        ),
    },
    "/api/stories/{story}/export": {
        "get": streamed(
            "The story as an export file (private): NDJSON, a header line, a "
            "story_event line per event in version order, an end line counting the "
            "records (docs/http-api.md); what liveblog import loads",
            ("application/x-ndjson", "one JSON object a line"),
            role="editor",
            parameters=(STORY,),
        ),
    },
    "/api/stories/{story}/live": {
        "get": operation(
            "The live stream (WebSocket; docs/live-protocol.md). A plain HTTP GET is 426; "
            "a handshake with an unknown query parameter is refused with 422. With replay: "
            "editors only (else closed with 4401), the story's events as they stood, paced, "
            "then replay_end and a normal close.",
            parameters=(
                STORY,
                query("since", {"type": "string"}, "the last version received: resume"),
                query(
                    "replay",
                    {"type": "string", "pattern": r"^(max|[0-9]{1,5}(\.[0-9]{1,3})?)$"},
                    "editors' replay: the original gaps / SPEED (1 to 10,000), or max",
                ),
                query(
                    "from",
                    {"type": "integer", "minimum": 1},
                    "replay: the first version sent (default 1)",
                ),
                query(
                    "token",
                    {"type": "string"},
                    "replay: the editor's token, for browsers (else Authorization)",
                ),
            ),
            answers={"101": ("switching to the WebSocket protocol", None)},
        ),
    },
    "/api/stories/{story}/live/sse": {
        "get": streamed(
            "The live stream as Server-Sent Events (id: = version)",
            ("text/event-stream", "an endless event stream"),
            parameters=(
                STORY,
                query("since", {"type": "string"}, "the last version received: resume"),
                header("Last-Event-ID", {"type": "string"}, "as since"),
            ),
        ),
    },
    "/api/audit": {
        "get": operation(
            "Every command across stories, drafts and token administration, with who and"
            " when (private). A page may hold fewer entries than limit: follow next until"
            " it is null",
            role="editor",
            parameters=(
                query("actor", {"type": "string"}, "a person's id, or operator"),
                query("from", TIME, "entries at or after this time"),
                query("to", TIME, "entries at or before this time"),
                query(
                    "after",
                    {"type": "string", "pattern": "^[0-9]{1,18}[.][0-9]{1,18}[.][0-9]{1,18}$"},
                    "the next of the page before",
                ),
                query("limit", {"type": "integer", "minimum": 1, "maximum": 500}, "page size"),
            ),
            answers={"200": ("a page of the trail", ref("AuditPage"))},
        ),
    },
    "/api/preview": {
        "post": operation(
            "A body and media as a post would store them, and what the sanitizer would drop"
            " (warnings, always present); records nothing",
            role="contributor",
            request=body_of(
                {
                    "body": text(MAX_BODY, "HTML; sanitized with an allow-list"),
                    "media": MEDIA_INPUT,
                },
                required=("body",),
            ),
            example={
                "body": "<p>Watch:</p><iframe src='https://youtu.be/x'></iframe>",
                "media": EXAMPLE_MEDIA[1:],
            },
            answers={"200": ("the preview", ref("Preview"))},
        ),
    },
    "/api/me": {
        "get": operation(
            "Who this token belongs to (private)",
            any_token=True,
            answers={"200": ("the token's person and role", ref("Me"))},
        ),
    },
    "/api/people": {
        "get": operation(
            "Every person, by name (private)",
            role="admin",
            answers={"200": ("the people", ref("People"))},
        ),
        "post": operation(
            "Register a person (409 if the name is taken, however it is spelt)",
            role="admin",
            request=body_of(
                {
                    "name": {**text(MAX_NAME, min_length=1), "pattern": "\\S"},
                    "role": ROLE,
                },
                required=("name", "role"),
            ),
            answers={"201": PERSON_BODY},
        ),
    },
    "/api/people/{person}": {
        "get": operation(
            "A person (private)", role="admin", parameters=(PERSON,), answers={"200": PERSON_BODY}
        ),
        "patch": operation(
            "Change a person's role, or (de)activate them: their tokens follow at once",
            role="admin",
            parameters=(PERSON,),
            request={
                **body_of({"role": ROLE, "active": {"type": "boolean"}}),
                "minProperties": 1,
            },
            answers={"200": PERSON_BODY},
        ),
    },
    "/api/people/{person}/tokens": {
        "post": operation(
            "Issue a token to an active person (409 if deactivated); no body: never expires",
            role="admin",
            parameters=(PERSON,),
            request=body_of(
                {
                    "label": text(MAX_LABEL, "for humans, e.g. the device"),
                    "expires_at": {
                        **TIME,
                        "description": "RFC 3339 with a time zone, in the future; not "
                        "with expires_in",
                    },
                    "expires_in": {
                        "anyOf": [
                            {"type": "string", "pattern": "^[0-9]{1,7}[dhm]$"},
                            {"type": "integer", "minimum": 1},
                        ],
                        "description": f'"30d", "12h", "90m" or seconds, at most '
                        f"{MAX_LIFETIME.days} days; not with expires_at",
                    },
                }
            ),
            request_required=False,
            answers={"201": ("the token with its secret, shown this once", ref("NewToken"))},
        ),
    },
    "/api/tokens": {
        "get": operation(
            "Every token (or one person's), oldest first, without secrets (private)",
            role="admin",
            parameters=(query("person", UUID_TEXT, "only this person's tokens"),),
            answers={"200": ("the tokens", ref("Tokens"))},
        ),
    },
    "/api/tokens/{token}": {
        "get": operation(
            "A token, without its secret (private)",
            role="admin",
            parameters=(TOKEN,),
            answers={"200": TOKEN_BODY},
        ),
        "delete": operation(
            "Revoke a token (again changes nothing): refused at once",
            role="admin",
            parameters=(TOKEN,),
            answers={"200": ("the revoked token (private)", ref("Token"))},
        ),
    },
}

# The live WebSocket is not routed (LiveblogApp answers it before routing); the plain
# HTTP route on its path only answers 426. The coverage test knows both.
WEBSOCKET_PATHS = ("/api/stories/{story}/live",)

DESCRIPTION: Schema = {
    "openapi": "3.1.0",
    "info": {
        "title": "liveblog",
        "version": "0.1.0",
        "description": "Event-sourced newsroom live blogs (DESIGN §4). Titles, summaries, "
        "notes, reasons and names are plain text that clients must escape; update bodies "
        "are HTML sanitized by the server. Answers may gain fields: ignore the unknown.",
    },
    "paths": PATHS,
    "components": {
        "schemas": SCHEMAS,
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
    },
}
