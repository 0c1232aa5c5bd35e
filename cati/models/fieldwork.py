"""Running totals for the supervisor's dashboard, so a refresh reads a few hundred rows instead of
the whole sample.

``case_tallies`` counts a study's cases per (phase, tier, zone, block reason, current outcome,
AAPOR code, attempts). Database triggers keep it up to date whatever changes a case — the scheduler, the
sample import, bulk blocks, a supervisor — in the same transaction as the change (see migrations
0005 and 0006): SQLite with row triggers that fire only when one of the counted columns changed,
PostgreSQL with statement triggers over transition tables, so a COPY of a million cases costs one
aggregate and a claim (which changes no counted key) writes nothing.

The key columns are normalised so that the table stays small:

* ``phase``: ``open`` (ready or claimed), ``blocked``, ``final``; ``test`` for test cases, which
  no figure counts.
* ``tier`` and ``zone_id`` only for open cases (-1 and 0 otherwise): "callable now" needs the
  fresh cases per calling zone, nothing else needs them.
* ``block_kind`` only for blocked cases ("" otherwise): why cases are held back (migration 0006).
* ``attempts`` capped at 99.

Claims are not counted here (ready and claimed are both ``open``), so the draw's hot path never
touches a tally row; the few claimed cases are counted through the draw index when needed.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Index, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from .interview import Interview
from .meta import Base

#: Attempts above this are counted in this bucket.
ATTEMPTS_CAP = 99


class CaseTally(Base):
    __tablename__ = "case_tallies"

    study_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    phase: Mapped[str] = mapped_column(String(8), primary_key=True)
    tier: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    zone_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    block_kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(32), primary_key=True)
    aapor: Mapped[str] = mapped_column(String(8), primary_key=True)
    attempts: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    n: Mapped[int] = mapped_column(BigInteger, default=0)


#: Completes per day read (study, status, ended_at) from the index alone.
Index("ix_interviews_study_id_status_ended_at", Interview.study_id, Interview.status, Interview.ended_at)
