"""Track runs: the ``[start, stop)`` lists that name a copy's domain on a volume.

A copy service names the tracks it covers as runs of absolute track numbers, in the
order of the data (a data set's extents in extent order, ``vtoc.DatasetEntry.
track_list``), or one run for a whole volume.  This module checks such lists against a
volume and tells whether two lists share a track.  The facts are only geometry: a
track number is valid when ``0 <= t < tracks on the volume`` (``docs/domain.md`` §3.1).

Errors are raised as :class:`~dasdlab.errors.CopyServiceError` with the message id the
calling service passes, so each service keeps its own id range.
"""

from __future__ import annotations

from collections.abc import Iterable

from dasdlab.errors import CopyServiceError

Runs = list[tuple[int, int]]


def normalize(runs: Iterable[Iterable[int]] | None, ntracks: int, what: str, msgid: str) -> Runs:
    """``runs`` as a list of int pairs, checked: each non-empty, inside the volume, and no
    two sharing a track.  ``None`` means the whole volume."""
    if runs is None:
        return [(0, int(ntracks))]
    out: Runs = []
    for run in runs:
        try:
            a, b = (int(x) for x in run)
        except (TypeError, ValueError):
            raise CopyServiceError(msgid, f"{what}: {run!r} is not a [start, stop) pair of track numbers.") from None
        if not 0 <= a < b <= ntracks:
            raise CopyServiceError(
                msgid,
                f"{what}: tracks [{a}, {b}) are not a non-empty run inside the volume's "
                f"0..{ntracks - 1}.",
            )
        out.append((a, b))
    if not out:
        raise CopyServiceError(msgid, f"{what}: no tracks given.")
    srt = sorted(out)
    for (a0, b0), (a1, b1) in zip(srt, srt[1:]):
        if a1 < b0:
            raise CopyServiceError(msgid, f"{what}: runs [{a0}, {b0}) and [{a1}, {b1}) overlap.")
    return out


def total(runs: Runs) -> int:
    return sum(b - a for a, b in runs)


def first_overlap(x: Runs, y: Runs) -> tuple[int, int] | None:
    """The first shared ``[start, stop)`` of two run lists, or None when disjoint."""
    xs, ys = sorted(x), sorted(y)
    i = j = 0
    while i < len(xs) and j < len(ys):
        lo = max(xs[i][0], ys[j][0])
        hi = min(xs[i][1], ys[j][1])
        if lo < hi:
            return lo, hi
        if xs[i][1] <= ys[j][1]:
            i += 1
        else:
            j += 1
    return None
