"""nbgitpuller links: a course repository's file, opened in JupyterLab in the student's home.

A pure function of the course's repository, a path in it and the hub: the link goes
to the hub's ``user-redirect``, which sends the student to their own server's
``git-pull`` (nbgitpuller), which clones or updates the repository in their home and
then opens ``lab/tree/<folder>/<path>``.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode, urlsplit

from computehub.credits.courses import repository_folder
from computehub.i18n import _
from computehub.i18n.catalog import isolate

#: The longest path in the repository a link may open.
PATH_MAX = 1000


class LinkError(ValueError):
    """A link can't be made: a sentence that says why."""


def clean_path(path: str) -> list[str]:
    """The parts of a path in the repository (``""``: the repository's folder).

    Raises:
        LinkError: absolute, with ``.`` or ``..`` parts, a backslash or a control
            character, or too long.
    """
    path = path.strip()
    if len(path) > PATH_MAX:
        raise LinkError(
            _("a path in the repository has at most {count} characters").format(count=PATH_MAX)
        )
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in path) or "\\" in path:
        raise LinkError(_("a path in the repository has no backslash or control characters"))
    if path.startswith("/"):
        raise LinkError(_("a path in the repository is relative to it: no leading '/'"))
    parts = [part for part in path.split("/") if part != ""]
    if any(part in (".", "..") for part in parts):
        raise LinkError(_("a path in the repository has no '.' or '..' parts"))
    return parts


def hub_base(hub_url: str) -> str:
    """The hub's address without a trailing ``/`` (``https://hub.example.org[/prefix]``).

    Raises:
        LinkError: not an http(s) URL with a host, or with a query or fragment.
    """
    hub_url = hub_url.strip()
    try:
        parts = urlsplit(hub_url)
    except ValueError:
        raise LinkError(
            _("{address} is not a hub's address").format(address=isolate(repr(hub_url)))
        ) from None
    if (
        parts.scheme not in ("https", "http")
        or not parts.hostname
        or parts.query
        or parts.fragment
        or "@" in parts.netloc
        or any(c.isspace() for c in hub_url)
    ):
        raise LinkError(
            _("a hub's address is {form} (or {other}), not {address}").format(
                form=isolate("https://host[/prefix]"),
                other=isolate("http://"),
                address=isolate(repr(hub_url)),
            )
        )
    return hub_url.rstrip("/")


def pull_link(hub_url: str, repository: str, path: str = "", branch: str | None = None) -> str:
    """The nbgitpuller link that pulls ``repository`` and opens ``path`` in JupyterLab.

    Args:
        hub_url: the hub the students log in to (``https://hub.example.org``).
        repository: the course's repository URL (already validated when it was stored).
        path: a file or folder in the repository; empty for the repository's folder.
        branch: the branch to pull; ``None``: the repository's default branch.

    Raises:
        LinkError: a bad hub address or path.
    """
    base = hub_base(hub_url)
    try:
        folder = repository_folder(repository)
    except ValueError as err:
        raise LinkError(str(err)) from None
    parts = [folder, *clean_path(path)]
    urlpath = "lab/tree/" + "/".join(quote(part, safe="") for part in parts)
    query: list[tuple[str, str]] = [("repo", repository)]
    if branch:
        query.append(("branch", branch))
    query += [("targetpath", folder), ("urlpath", urlpath)]
    return f"{base}/hub/user-redirect/git-pull?{urlencode(query, quote_via=quote, safe='')}"


def hub_of_request(protocol: str, forwarded: str | None, host: str, hub_prefix: str) -> str:
    """The address of the hub that serves a page: ``https://host`` plus the hub's base URL.

    Args:
        protocol: the request's own scheme.
        forwarded: the proxy's ``X-Forwarded-Proto``, if it sent one.
        host: the request's ``Host``.
        hub_prefix: the hub's prefix (``/hub/`` or ``/base/hub/``).
    """
    first = (forwarded or protocol).split(",")[0].strip().lower()
    protocol = "https" if first == "https" else "http"
    base = hub_prefix.rstrip("/")
    base = base[: -len("/hub")] if base.endswith("/hub") else base
    return f"{protocol}://{host}{base}"
