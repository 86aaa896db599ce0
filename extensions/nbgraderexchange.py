"""nbgrader's collect, taking a submission only from the person it names.

A course's ``inbound`` folder is writable by everyone (mode 2733): a student can put
a folder named ``bob+ps1+<later time>`` there. nbgrader's own collect then only logs
"cheating attempt?" and takes it as bob's latest submission, hiding bob's real one.
:class:`OwnedCollect` leaves out every submission not owned (as a Unix file) by the
person its name gives, before it chooses each student's latest, and logs each one.
"""

from __future__ import annotations

import glob
import os
import pwd
from collections import defaultdict
from typing import Any

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.exchange.default.collect import ExchangeCollect
from nbgrader.utils import check_mode


def owner_of(path: str) -> str | None:
    """The login name owning ``path``; None if its uid has no name or it is gone."""
    try:
        return pwd.getpwuid(os.stat(path).st_uid).pw_name
    except (KeyError, OSError):
        return None


class OwnedCollect(ExchangeCollect):  # type: ignore[misc]
    """Collect only submissions whose folder belongs to the student it is named for."""

    def init_src(self) -> None:
        """nbgrader 0.9's ``init_src``, on the submissions their students own."""
        course = self.coursedir.course_id
        if course == "":
            self.fail("No course id specified. Re-run with --course flag.")
        self.course_path = os.path.join(self.root, course)
        self.inbound_path = os.path.join(self.course_path, "inbound")
        if not os.path.isdir(self.inbound_path):
            self.fail(f"Course not found: {self.inbound_path}")
        if not check_mode(self.inbound_path, read=True, execute=True):
            self.fail(f"You don't have read permissions for the directory: {self.inbound_path}")
        student = self.coursedir.student_id or "*"
        pattern = os.path.join(self.inbound_path, f"{student}+{self.coursedir.assignment_id}+*")
        by_student: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for path in glob.glob(pattern):
            record: dict[str, Any] = self._path_to_record(path)
            owner = owner_of(path)
            if owner != record["username"]:
                self.log.warning(
                    "Left out %s: it is named for %s but belongs to %s",
                    record["filename"],
                    record["username"],
                    owner or "an unknown account",
                )
                continue
            by_student[record["username"]].append(record)

        with Gradebook(self.coursedir.db_url, course) as gb:
            try:
                self.duedate = gb.find_assignment(self.coursedir.assignment_id).duedate
            except MissingEntry:
                self.duedate = None
        self.src_records = []
        for records in by_student.values():
            latest_first = self._sort_by_timestamp(records)
            if self.duedate is not None and self.before_duedate:
                on_time = [r for r in latest_first if r["timestamp"] <= self.duedate]
                latest_first = on_time or latest_first
            self.src_records.append(latest_first[0])
