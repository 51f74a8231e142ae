"""The contributor role (DESIGN §3): below a reporter, for freelancers and stringers.
A contributor's token is a valid token, and no route that publishes or changes a story
accepts it; on each backend, the app in this process. The command that issues one runs
as a process of its own (``liveblog token create --role contributor``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from liveblog.people import Role
from tests.e2e.server import create_token
from tests.helpers import Api, auth, bearer, issue_token
from tests.integration.in_process import in_process_api

SLUG = "stringers"


def test_a_contributor_ranks_below_a_reporter() -> None:
    assert [role.value for role in Role] == ["contributor", "reporter", "editor", "admin"]
    assert Role.REPORTER.includes(Role.CONTRIBUTOR)
    assert not Role.CONTRIBUTOR.includes(Role.REPORTER)
    assert Role.parse("role", "contributor") is Role.CONTRIBUTOR


class ContributorSuite:
    """The suite; each subclass supplies the ``database_url`` fixture."""

    @pytest.fixture
    async def api(self, database_url: str) -> AsyncIterator[Api]:
        async with in_process_api(database_url) as api:
            await api.open_story(SLUG)
            yield api

    async def test_a_contributor_may_read_and_say_who_they_are_and_publish_nothing(
        self, api: Api, database_url: str
    ) -> None:
        token = issue_token(database_url, "Cleo Stringer", "contributor")
        posted = await api.post(SLUG, "<p>Filed by staff.</p>")
        update = f"/api/stories/{SLUG}/updates/{posted['id']}"

        me = await api.http.get("/api/me", headers=bearer(token))
        assert me.status_code == 200
        assert (me.json()["name"], me.json()["role"]) == ("Cleo Stringer", "contributor")
        assert (await api.http.get(f"/api/stories/{SLUG}")).status_code == 200
        writes = [
            ("POST", f"/api/stories/{SLUG}/updates", {"body": "<p>From the field.</p>"}),
            ("POST", f"{update}/corrections", {"body": "<p>x</p>", "note": "n"}),
            ("POST", f"{update}/retraction", {"reason": "r"}),
            ("PATCH", update, {"pinned": True}),
            ("POST", "/api/stories", {"slug": "mine", "title": "Mine"}),
            ("PATCH", f"/api/stories/{SLUG}", {"title": "Retitled"}),
            ("GET", "/api/people", None),
        ]
        for method, path, body in writes:
            response = await api.http.request(method, path, json=body, headers=auth(token))
            assert response.status_code == 403, (method, path, response.text)
            assert response.json()["error"]["code"] == "forbidden"
        assert (await api.story(SLUG))["version"] == 2  # opened, the staff post


class TestContributorsOnSQLite(ContributorSuite):
    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url

    async def test_the_command_issues_a_contributors_token(
        self, api: Api, database_url: str
    ) -> None:
        token = create_token(database_url, "Dara Stringer", "contributor")
        me = await api.http.get("/api/me", headers=bearer(token))
        assert me.json()["role"] == "contributor"


@pytest.mark.postgres
class TestContributorsOnPostgreSQL(ContributorSuite):
    @pytest.fixture
    def database_url(self, fresh_postgres_url: str) -> str:
        return fresh_postgres_url
