"""Matching ``/api/stories/{story}…`` paths by hand, for the paths answered before routing."""

from __future__ import annotations

from starlette.types import Scope

STORIES_PREFIX = "/api/stories/"


def story_ref_in(scope: Scope, suffix: str = "") -> str | None:
    """The ``{story}`` of ``/api/stories/{story}<suffix>``, as the Starlette route matches it.

    None for any other path. The mount's ``root_path`` is left out, as Starlette does.
    """
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    if not (path.startswith(STORIES_PREFIX) and path.endswith(suffix)):
        return None
    ref = path[len(STORIES_PREFIX) : len(path) - len(suffix)]
    return ref if ref and "/" not in ref else None
