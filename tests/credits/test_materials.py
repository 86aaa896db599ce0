"""A course's materials: the repository URL and branch checks, and the nbgitpuller link."""

from __future__ import annotations

from datetime import date
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from computehub.credits.courses import repository_folder, validate_branch, validate_repository
from computehub.credits.errors import ConflictError
from computehub.credits.ledger import Ledger
from computehub.credits.service.pulllink import LinkError, hub_of_request, pull_link

GOOD_URLS = [
    ("https://git.example.org/ml/intro-ml.git", "intro-ml"),
    ("https://github.com/prof/course/", "course"),
    ("http://127.0.0.1:9418/materials.git", "materials"),
    ("git://127.0.0.1:9418/materials", "materials"),
    ("HTTPS://git.example.org/a/b%20c.git", "b%20c"),
]
BAD_URLS = [
    ("", "1 to 500"),
    ("https://" + "a" * 500, "1 to 500"),
    ("file:///srv/course.git", "starts with"),
    ("ssh://git@example.org/course.git", "starts with"),
    ("/srv/course.git", "starts with"),
    ("git@github.com:prof/course.git", "starts with"),
    ("https://prof:secret@git.example.org/course.git", "no user name or password"),
    ("https://token@git.example.org/course.git", "no user name or password"),
    ("https://git.example.org/my course.git", "no spaces"),
    ("https://git.example.org/course.git\n", "no spaces"),
    ("https://git.example.org/c\x00.git", "no spaces"),
    ("https:///course.git", "names no host"),
    ("https://git.example.org:port/course.git", "is not a URL"),
    ("https://git.example.org/course.git#main", "#fragment"),
    ("https://git.example.org/", "must end with the repository's name"),
    ("https://git.example.org/..", "must end with the repository's name"),
    ("https://git.example.org/.git", "must end with the repository's name"),
]


@pytest.mark.parametrize(("url", "folder"), GOOD_URLS)
def test_good_repository_urls(url: str, folder: str) -> None:
    assert validate_repository(url) == url
    assert repository_folder(url) == folder


@pytest.mark.parametrize(("url", "why"), BAD_URLS)
def test_bad_repository_urls_are_refused(url: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        validate_repository(url)


@pytest.mark.parametrize("branch", ["main", "spring-2026", "release/v1.2", "a_b"])
def test_good_branches(branch: str) -> None:
    assert validate_branch(branch) == branch


@pytest.mark.parametrize(
    "branch",
    ["", "-x", "/main", "main/", "a..b", "a b", "a;rm", "x.lock", ".hidden", "a//b", "b" * 201],
)
def test_bad_branches_are_refused(branch: str) -> None:
    with pytest.raises(ValueError, match="not a branch name"):
        validate_branch(branch)


LINKS = [
    # hub, repository, path, branch, expected link
    (
        "https://hub.example.org",
        "https://git.example.org/ml/intro-ml.git",
        "week1/intro.ipynb",
        "main",
        "https://hub.example.org/hub/user-redirect/git-pull?"
        "repo=https%3A%2F%2Fgit.example.org%2Fml%2Fintro-ml.git&branch=main"
        "&targetpath=intro-ml&urlpath=lab%2Ftree%2Fintro-ml%2Fweek1%2Fintro.ipynb",
    ),
    (
        "https://hub.example.org/base/",
        "https://git.example.org/ml/intro-ml",
        "",
        None,
        "https://hub.example.org/base/hub/user-redirect/git-pull?"
        "repo=https%3A%2F%2Fgit.example.org%2Fml%2Fintro-ml"
        "&targetpath=intro-ml&urlpath=lab%2Ftree%2Fintro-ml",
    ),
    (
        # A space, '#', '?', '&' and non-ASCII in a name are encoded twice: once in the
        # path JupyterLab opens, once as the query's value.
        "http://127.0.0.1:8000",
        "git://127.0.0.1/m.git",
        "Week 1/a#b?c&d=é.ipynb",
        None,
        "http://127.0.0.1:8000/hub/user-redirect/git-pull?repo=git%3A%2F%2F127.0.0.1%2Fm.git"
        "&targetpath=m&urlpath=lab%2Ftree%2Fm%2FWeek%25201%2Fa%2523b%253Fc%2526d%253D%25C3%25A9"
        ".ipynb",
    ),
    (
        "https://hub.example.org",
        "https://git.example.org/c.git",
        "nb//x.ipynb/ ",
        "release/v1",
        "https://hub.example.org/hub/user-redirect/git-pull?repo=https%3A%2F%2Fgit.example.org"
        "%2Fc.git&branch=release%2Fv1&targetpath=c&urlpath=lab%2Ftree%2Fc%2Fnb%2Fx.ipynb",
    ),
]


@pytest.mark.parametrize(("hub", "repository", "path", "branch", "expected"), LINKS)
def test_pull_links(
    hub: str, repository: str, path: str, branch: str | None, expected: str
) -> None:
    link = pull_link(hub, repository, path, branch)
    assert link == expected
    query = parse_qs(urlsplit(link).query)
    assert query["repo"] == [repository]
    assert unquote(query["urlpath"][0]).startswith(f"lab/tree/{query['targetpath'][0]}")


def test_the_decoded_path_is_the_file() -> None:
    link = pull_link("https://h.example", "https://g.example/c.git", "Week 1/a#b?c&d=é.ipynb")
    urlpath = parse_qs(urlsplit(link).query)["urlpath"][0]
    assert unquote(urlpath) == "lab/tree/c/Week 1/a#b?c&d=é.ipynb"


@pytest.mark.parametrize(
    ("hub", "path", "why"),
    [
        ("https://hub.example.org", "../secret.ipynb", "'..'"),
        ("https://hub.example.org", "a/./b", "'..'"),
        ("https://hub.example.org", "/etc/passwd", "no leading '/'"),
        ("https://hub.example.org", "a\\b", "backslash"),
        ("https://hub.example.org", "a\nb", "control"),
        ("https://hub.example.org", "x" * 1001, "at most 1000"),
        ("javascript:alert(1)", "a", "hub's address"),
        ("hub.example.org", "a", "hub's address"),
        ("https://hub.example.org/?x=1", "a", "hub's address"),
        ("https://u:p@hub.example.org", "a", "hub's address"),
    ],
)
def test_links_refused(hub: str, path: str, why: str) -> None:
    with pytest.raises(LinkError, match=why):
        pull_link(hub, "https://git.example.org/c.git", path)


@pytest.mark.parametrize(
    ("protocol", "forwarded", "prefix", "expected"),
    [
        ("http", None, "/hub/", "http://h:8000"),
        ("http", "https", "/base/hub/", "https://h:8000/base"),
        ("http", "https, http", "/hub/", "https://h:8000"),
        ("https", "gopher", "/hub/", "http://h:8000"),
    ],
)
def test_hub_of_request(protocol: str, forwarded: str | None, prefix: str, expected: str) -> None:
    assert hub_of_request(protocol, forwarded, "h:8000", prefix) == expected


def test_the_ledger_keeps_a_course_repository(ledger: Ledger) -> None:
    ledger.create_course("c1", "Course", date(2026, 1, 5), date(2026, 6, 30), actor="op")
    assert ledger.course("c1").repository is None
    done = ledger.set_course_repository(
        "c1", "https://git.example.org/c1.git", actor="prof", branch="main"
    )
    assert (done.repository, done.branch) == ("https://git.example.org/c1.git", "main")
    with pytest.raises(ValueError, match="no user name or password"):
        ledger.set_course_repository("c1", "https://a:b@git.example.org/x.git", actor="prof")
    with pytest.raises(ValueError, match="a branch needs a repository"):
        ledger.set_course_repository("c1", None, actor="prof", branch="main")
    assert ledger.course("c1").repository == "https://git.example.org/c1.git"
    cleared = ledger.set_course_repository("c1", None, actor="prof")
    assert (cleared.repository, cleared.branch) == (None, None)
    ledger.archive_course("c1", actor="op")
    with pytest.raises(ConflictError, match="archived"):
        ledger.set_course_repository("c1", "https://git.example.org/c1.git", actor="prof")
