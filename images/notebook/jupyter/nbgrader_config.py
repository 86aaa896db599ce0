"""nbgrader in computehub sessions and formgrader services (installed as etc/jupyter).

The hub sets the variables: COMPUTEHUB_NBGRADER_EXCHANGE in every session (the site
file's nbgrader.exchange_root), and in a course's formgrader service also
COMPUTEHUB_NBGRADER_COURSE and COMPUTEHUB_NBGRADER_COURSE_DIR. Who takes which course
comes from the hub's course groups (computehub.extensions.nbgraderauth).
"""

import os

c = get_config()  # type: ignore[name-defined]  # noqa: F821
c.Authenticator.plugin_class = "computehub.extensions.nbgraderauth.CourseGroupsAuthPlugin"
c.Exchange.root = os.environ.get(
    "COMPUTEHUB_NBGRADER_EXCHANGE", "/srv/computehub/nbgrader/exchange"
)
c.Exchange.path_includes_course = True
c.ExchangeFactory.collect = "computehub.extensions.nbgraderexchange.OwnedCollect"
if os.environ.get("COMPUTEHUB_NBGRADER_COURSE"):
    c.CourseDirectory.course_id = os.environ["COMPUTEHUB_NBGRADER_COURSE"]
    c.CourseDirectory.root = os.environ["COMPUTEHUB_NBGRADER_COURSE_DIR"]
