"""ISO 8601 UTC timestamps for what is written once per request or more (log lines, the
envelope's metadata), without a datetime each time."""

from __future__ import annotations

import time

_second: tuple[int, str] = (-1, "")


def utc_timestamp(created: float, *, milliseconds: bool = False) -> str:
    """``created`` (seconds since the epoch) as datetime writes it in UTC with
    isoformat(timespec="microseconds"), or "milliseconds", and a Z; the date and time of
    day made once per second."""
    global _second
    whole = int(created)
    micros = round((created - whole) * 1_000_000)  # as datetime.fromtimestamp rounds
    if micros == 1_000_000:
        whole, micros = whole + 1, 0
    second = _second  # read once: another thread may move it on meanwhile
    if second[0] != whole:
        second = _second = (whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)))
    fraction = f"{micros // 1000:03d}" if milliseconds else f"{micros:06d}"  # isoformat truncates
    return f"{second[1]}.{fraction}Z"


def utc_now_iso() -> str:
    """Now, to the millisecond, as the API writes times it makes itself."""
    return utc_timestamp(time.time(), milliseconds=True)
