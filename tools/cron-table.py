#!/usr/bin/python3
"""Generate fixtures/cron/next-runs.tsv: expected next runs of cron schedules.

tests/unit/sched/test_cron.c reads the table and checks pitr_cron_next
against every row. The expected values come from implementations that are
not pgpitr's:

  croniter  python3-croniter (Debian), where its semantics equal robfig/cron
            v1.2.0's (what CloudNativePG uses): the robfig spec is rewritten
            in croniter's order (seconds last) and, for zones, only rows whose
            interval crosses no UTC-offset change are kept (croniter and
            robfig treat DST changes differently). Besides chosen schedules,
            150 are drawn with a fixed seed; on those the oracle below must
            give the same answer or generation fails.
  oracle    a brute-force search below (day by day, then the matching
            hours/minutes/seconds) that implements robfig v1.2.0's day rule
            literally, for UTC rows where croniter differs: a day field
            written '*' or '?' with a step ("*/10") keeps robfig v1.2.0's
            star bit, so day-of-month AND day-of-week (croniter: OR); robfig
            weekdays stop at 6 (croniter also takes 7).
  robfig    rows taken from robfig/cron's own test suite (spec_test.go, v3,
            the release that added zones) for DST changes, converted to UTC.
  hand      traced by hand through robfig's Next (spec.go): the reason is in
            the last column.

Run with Debian's python (/usr/bin/python3; a pyenv python on PATH may lack
croniter). `tools/cron-table.py` rewrites the file; `tools/cron-table.py
--check` regenerates it in memory and fails when the committed file differs
(make unit runs that).
"""
import random
import sys
from datetime import datetime, timedelta, timezone

try:
    from zoneinfo import ZoneInfo
    from croniter import croniter
except ImportError as e:  # pragma: no cover
    sys.exit("cron-table.py: %s (needs Debian's python3-croniter; run /usr/bin/python3)" % e)

OUT = "fixtures/cron/next-runs.tsv"
UTC = timezone.utc


def iso(dt):
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(s):
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


# ---- robfig v1.2.0 fields, for the oracle -----------------------------------
BOUNDS = [(0, 59, None), (0, 59, None), (0, 23, None), (1, 31, None),
          (1, 12, "jan feb mar apr may jun jul aug sep oct nov dec".split()),
          (0, 6, "sun mon tue wed thu fri sat".split())]
STAR = "star"


def value(s, names, lo):
    if names and s.lower() in names:
        return names.index(s.lower()) + lo
    return int(s)


def field(text, i):
    lo, hi, names = BOUNDS[i]
    bits, star = set(), False
    for rng in text.split(","):
        parts = rng.split("/")
        step = int(parts[1]) if len(parts) == 2 else 1
        lh = parts[0].split("-")
        if lh[0] in ("*", "?"):
            a, b, star = lo, hi, True
        else:
            a = value(lh[0], names, lo)
            b = value(lh[1], names, lo) if len(lh) == 2 else a
            if len(lh) == 1 and len(parts) == 2:
                b = hi
        assert lo <= a <= b <= hi and step > 0, text
        bits.update(range(a, b + 1, step))
    return bits, star


def oracle(spec, after):
    """robfig v1.2.0 Next in UTC by brute force (6 fields, seconds first)."""
    f = [field(x, i) for i, x in enumerate(spec.split())]
    start = after + timedelta(seconds=1)
    limit = start.year + 5
    day = start.replace(hour=0, minute=0, second=0)
    while day.year <= limit:
        dom_ok = day.day in f[3][0]
        dow_ok = (day.isoweekday() % 7) in f[5][0]
        ok = (dom_ok and dow_ok) if (f[3][1] or f[5][1]) else (dom_ok or dow_ok)
        if day.month in f[4][0] and ok:
            for h in sorted(f[2][0]):
                for m in sorted(f[1][0]):
                    for s in sorted(f[0][0]):
                        t = day.replace(hour=h, minute=m, second=s)
                        if t >= start:
                            return t
        day += timedelta(days=1)
    return None


# ---- croniter ----------------------------------------------------------------
def croniter_next(spec, tz, after):
    """spec: robfig 6 fields, 5 standard fields or a descriptor."""
    f = ["*" if x == "?" else x for x in spec.split()]  # robfig: '?' is '*'
    if spec.startswith("@"):
        expr = spec
    elif len(f) == 6:
        expr = " ".join(f[1:] + f[:1])  # croniter takes seconds last
    else:
        expr = " ".join(f)
    start = after.astimezone(ZoneInfo(tz)) if tz != "-" else after
    nxt = croniter(expr, start).get_next(datetime)
    return nxt


# References (UTC).
TIMES = [
    "2012-07-09T23:35:51Z",  # a Monday, late evening
    "2023-12-31T23:59:59Z",  # last second of a year
    "2024-02-28T12:00:00Z",  # before a leap day
    "2026-12-03T04:00:00Z",
]

# Six-field robfig specs whose meaning croniter shares.
SIX = [
    "0 0 0 * * *",  # daily midnight (CNPG docs' example)
    "0 0/15 * * * *",
    "15/35 20-35/15 * * * *",
    "15/35 20-35/15 1/2 * * *",
    "0 30 8 * * MON-FRI",
    "0 30 8 ? Jul Sun",
    "0 0 12 1,15 * *",
    "0 0 0 1,15 * Sun",  # dom and dow restricted: OR
    "0 0 0 13 * FRI",  # Friday or the 13th (OR)
    "0 0 0 29 2 *",  # leap day
    "0 0 0 29 FEB ?",
    "0 0 0 31 * *",  # months with 31 days
    "0 0 0 30 * *",
    "0 0 4 * * sun",
    "0 0 0 * Feb Mon",
    "30 59 23 31 DEC *",
    "0 0 0 1 jan-mar,oct *",
    "0 0 0 1 1 *",
    "59 59 23 * * *",
    "*/20 * * * * *",
    "0 */7 */5 * * *",
    "0 5-10/2 3 * * tue,thu",
    "0 0 6 * * 1-5",
    "0 0 6 * * 0",
    "0 0 0 1 JUN *",
    "0 15 10 15 * ?",
]

# Five-field standard cron (minute first; pgpitr's reading) and descriptors.
FIVE = [
    "0 0 * * *",
    "0 7 * * *",
    "*/5 * * * *",
    "30 2 * * 1-5",
    "0 0 1 * *",
    "0 0 1,15 * 3",
    "0 0 29 2 *",
    "15 14 1 * *",
    "@yearly",
    "@annually",
    "@monthly",
    "@weekly",
    "@daily",
    "@midnight",
    "@hourly",
]

# Zones away from their DST changes (rows crossing one are dropped).
ZONED = [
    ("Europe/Berlin", "0 30 2 * * *", "2024-07-01T00:00:00Z"),
    ("Europe/Berlin", "0 0 0 * * *", "2024-07-01T12:00:00Z"),
    ("Europe/Berlin", "0 0 0 * * *", "2024-01-15T12:00:00Z"),
    ("America/New_York", "0 0 3 * * *", "2024-07-01T12:00:00Z"),
    ("America/New_York", "0 0 0 1 * *", "2024-01-15T12:00:00Z"),
    ("Asia/Kolkata", "0 0 0 * * *", "2024-07-01T12:00:00Z"),
    ("Asia/Kathmandu", "0 0 9 * * MON", "2024-07-01T12:00:00Z"),
    ("Australia/Sydney", "0 0 2 * * *", "2024-07-01T12:00:00Z"),
    ("Australia/Lord_Howe", "0 0 2 * * *", "2024-01-01T12:00:00Z"),
    ("Pacific/Chatham", "0 45 12 * * *", "2024-06-01T00:00:00Z"),
    ("Europe/Berlin", "0 0 * * *", "2030-06-01T12:00:00Z"),
    ("America/New_York", "@daily", "2040-08-01T12:00:00Z"),
]

# Rows where croniter and robfig differ: the oracle decides (UTC).
ORACLE = [
    ("0 0 0 */5 Apr,Aug,Oct Mon", "2012-07-09T23:35:00Z",
     "v1.2.0 star bit on '*/5': dom AND dow (croniter ORs them; robfig v1.2.0 spec_test has Aug 6)"),
    ("0 * * */10 * Sun", "2012-07-14T23:59:59Z",
     "'*/10' keeps the star bit in v1.2.0: Sunday AND day 1,11,21,31"),
    ("0 * * */2 * Sun", "2012-07-14T23:59:59Z", "star bit: Sunday AND an odd day"),
    ("0 0 0 ?/2 * MON", "2024-02-28T12:00:00Z", "'?/2' is '*/2' with the star bit"),
    ("0 0 0 * Feb Mon/2", "2012-07-09T23:35:00Z", "'Mon/2' is Mon-Sat step 2 (robfig spec_test: Fri Feb 1 2013)"),
    ("0 0 0 1-31 * 1", "2024-02-28T12:00:00Z", "'1-31' is no star: OR with Monday (croniter folds a full range into '*')"),
    ("0 0 0 * * 0-6", "2024-02-28T12:00:00Z", "'0-6' is no star, but dom '*' is: AND"),
    ("0 0 0 13 * 0-6", "2024-02-28T12:00:00Z", "'13' and '0-6' both without star: OR, so every day"),
]

# From robfig/cron spec_test.go (v3) TestNext, converted to UTC.
ROBFIG = [
    ("TZ=America/New_York 0 30 2 11 Mar ?", "2012-03-11T05:00:00Z", "2013-03-11T06:30:00Z", "02:30 does not exist on 2012-03-11: next year"),
    ("TZ=America/New_York 0 0 * * * ?", "2012-03-11T05:00:00Z", "2012-03-11T06:00:00Z", "hourly before the gap"),
    ("TZ=America/New_York 0 0 * * * ?", "2012-03-11T06:00:00Z", "2012-03-11T07:00:00Z", "hourly: 01:00 EST then 03:00 EDT"),
    ("CRON_TZ=America/New_York 0 0 * * * ?", "2012-03-11T07:00:00Z", "2012-03-11T08:00:00Z", "CRON_TZ= prefix"),
    ("TZ=America/New_York 0 0 1 * * ?", "2012-03-11T06:00:00Z", "2012-03-12T05:00:00Z", "1am nightly across the gap"),
    ("TZ=America/New_York 0 0 2 * * ?", "2012-03-11T05:00:00Z", "2012-03-12T06:00:00Z", "2am nightly: skipped on the gap day"),
    ("TZ=America/New_York 0 30 2 04 Nov ?", "2012-11-04T04:00:00Z", "2012-11-04T07:30:00Z", "fall back: 02:30 EST"),
    ("TZ=America/New_York 0 30 1 04 Nov ?", "2012-11-04T05:45:00Z", "2012-11-04T06:30:00Z", "fall back: 01:30 again, in EST"),
    ("TZ=America/New_York 0 0 * * * ?", "2012-11-04T05:00:00Z", "2012-11-04T06:00:00Z", "hourly: 01:00 EDT then 01:00 EST"),
    ("TZ=America/New_York 0 0 1 * * ?", "2012-11-04T04:00:00Z", "2012-11-04T05:00:00Z", "1am nightly runs twice: 01:00 EDT"),
    ("TZ=America/New_York 0 0 1 * * ?", "2012-11-04T05:00:00Z", "2012-11-04T06:00:00Z", "1am nightly runs twice: 01:00 EST"),
    ("TZ=America/New_York 0 0 1 * * ?", "2012-11-04T06:00:00Z", "2012-11-05T06:00:00Z", "then the next day"),
    ("TZ=America/New_York 0 0 2 * * ?", "2012-11-04T04:00:00Z", "2012-11-04T07:00:00Z", "2am nightly on the repeat day"),
    ("TZ=America/New_York 0 0 3 * * ?", "2012-11-04T08:00:00Z", "2012-11-05T08:00:00Z", "3am nightly"),
    ("TZ=America/New_York 0 0 3 3 * ?", "2012-11-04T04:00:00Z", "2012-12-03T08:00:00Z", "monthly"),
    ("TZ=America/Sao_Paulo 0 0 9 10 * ?", "2018-10-17T09:00:00Z", "2018-11-10T11:00:00Z", "DST at midnight (robfig issue 157)"),
    ("TZ=America/Sao_Paulo 0 0 9 22 * ?", "2018-02-14T10:00:00Z", "2018-02-22T12:00:00Z", "DST at midnight (robfig issue 157)"),
    ("0 0 0 30 Feb ?", "2012-07-09T23:35:00Z", "none", "never: 5-year limit, zero time"),
    ("0 0 0 31 Apr ?", "2012-07-09T23:35:00Z", "none", "never: 5-year limit, zero time"),
    ("0 0 0 29 Feb ?", "2012-07-09T23:35:00Z", "2016-02-29T00:00:00Z", "leap year"),
]

# Traced by hand through robfig's Next; default zone given as 3rd item.
HAND = [
    ("TZ=Europe/Berlin 0 30 2 * * *", "-", "2024-03-30T12:00:00Z", "2024-04-01T00:30:00Z",
     "02:30 does not exist on 2024-03-31 (CET->CEST at 01:00Z): that day is skipped, as robfig's 2am NY row"),
    ("TZ=Europe/Berlin 0 0 * * * *", "-", "2024-03-31T00:30:00Z", "2024-03-31T01:00:00Z",
     "hourly: 01:00 CET is followed by 03:00 CEST, one real hour later"),
    ("TZ=Europe/Berlin 0 30 2 * * *", "-", "2024-10-26T12:00:00Z", "2024-10-27T00:30:00Z",
     "fall back: first 02:30 (CEST)"),
    ("TZ=Europe/Berlin 0 30 2 * * *", "-", "2024-10-27T00:30:00Z", "2024-10-27T01:30:00Z",
     "fall back: robfig runs the repeated 02:30 again (CET), as its NY '1am runs twice' rows"),
    ("TZ=Europe/Berlin 0 30 2 * * *", "-", "2024-10-27T01:30:00Z", "2024-10-28T01:30:00Z",
     "then the next day, 02:30 CET"),
    ("TZ=Europe/Berlin 0 0 0 * * *", "-", "2024-03-30T23:00:00Z", "2024-03-31T22:00:00Z",
     "daily midnight across spring forward: 00:00 CEST"),
    ("0 0 0 * * *", "Europe/Berlin", "2024-10-26T22:00:00Z", "2024-10-27T23:00:00Z",
     "default zone (no prefix): midnight CET after fall back"),
    ("0 30 2 * * *", "America/New_York", "2024-03-10T05:00:00Z", "2024-03-11T06:30:00Z",
     "default zone: 02:30 skipped on the gap day"),
    ("TZ=UTC 0 0 0 * * *", "Europe/Berlin", "2024-03-30T12:00:00Z", "2024-03-31T00:00:00Z",
     "the prefix wins over the default zone"),
    ("TZ=Australia/Lord_Howe 0 0 * * * *", "-", "2024-10-05T14:30:00Z", "2024-10-05T16:00:00Z",
     "30-minute spring forward (02:00 +10:30 -> 02:30 +11): after 01:00 the next minute 0 is 03:00"),
    ("TZ=Australia/Lord_Howe 0 0 * * * *", "-", "2024-04-06T14:00:00Z", "2024-04-06T15:30:00Z",
     "30-minute fall back (02:00 +11 -> 01:30 +10:30): after 01:00 the next minute 0 is 02:00 +10:30"),
    ("@every 1h30m", "-", "2024-03-30T12:00:00Z", "2024-03-30T13:30:00Z", "constant delay from 'after'"),
    ("@every 20s", "-", "2024-03-30T12:00:07Z", "2024-03-30T12:00:27Z", "not aligned to a grid"),
    ("@every 1.5h", "-", "2024-03-30T12:00:00Z", "2024-03-30T13:30:00Z", "Go duration with a fraction"),
    ("@every 90s", "-", "2024-03-30T12:00:00Z", "2024-03-30T12:01:30Z", "seconds above 60"),
    ("@every 1500ms", "-", "2024-03-30T12:00:00Z", "2024-03-30T12:00:01Z", "fractions of a second dropped"),
    ("@every 100ms", "-", "2024-03-30T12:00:00Z", "2024-03-30T12:00:01Z", "below a second: 1 s"),
    ("TZ=Europe/Berlin @every 1h", "-", "2024-03-31T00:30:00Z", "2024-03-31T01:30:00Z", "@every ignores zones"),
    ("TZ=Europe/Berlin @daily", "-", "2024-03-30T23:30:00Z", "2024-03-31T22:00:00Z", "descriptor in a zone"),
    ("0 0 0 29 2 1", "-", "2024-02-28T12:00:00Z", "2024-02-29T00:00:00Z", "Feb 29 OR Monday: Thursday 29th"),
    ("0 0 0 29 2 1", "-", "2024-02-29T00:00:00Z", "2025-02-03T00:00:00Z", "then the next Monday of February"),
    ("0 0 0 29 2 *", "-", "2096-03-01T00:00:00Z", "none", "2100 is no leap year: nothing within 5 years"),
    ("0 0 0 29 2 *", "-", "2095-03-01T00:00:00Z", "2096-02-29T00:00:00Z", "2096 is"),
    ("0 0 0 29 2 *", "-", "2024-02-29T00:00:00Z", "2028-02-29T00:00:00Z", "next leap day"),
    ("0 0 0 31 2,4,6,9,11 *", "-", "2024-02-28T12:00:00Z", "none", "never: 5-year limit"),
]


def random_specs(n):
    """Six-field specs drawn with a fixed seed, avoiding the two places where
    croniter and robfig v1.2.0 differ (a stepped '*' in a day field while the
    other day field is restricted; a day field's full set written as numbers,
    which croniter folds into '*'; weekday "N/S", which croniter runs to 7)."""
    rnd = random.Random(13)

    def part(i, allow_star_step):
        lo, hi, names = BOUNDS[i]
        kind = rnd.choice(["n", "n", "range", "rstep", "nstep", "list", "star", "sstep"])
        if kind == "sstep" and not allow_star_step:
            kind = "n"
        if kind == "nstep" and i in (3, 5):
            kind = "rstep"  # croniter runs weekday "N/S" up to 7 and folds full sets into '*'
        a = rnd.randint(lo, hi)
        b = rnd.randint(a, hi)
        if i in (3, 5) and a == lo and b == hi:
            b = hi - 1 if hi - 1 >= a else a
        step = rnd.randint(1, max(1, (hi - lo) // 2))
        name = lambda v: names[v - lo].upper() if names and rnd.random() < 0.5 else str(v)
        if kind == "n":
            return name(a)
        if kind == "range":
            return "%s-%s" % (name(a), name(b))
        if kind == "rstep":
            return "%s-%s/%d" % (name(a), name(b), step)
        if kind == "nstep":
            return "%s/%d" % (name(a), step)
        if kind == "list":
            vals = sorted(set(rnd.randint(lo, hi) for _ in range(3)))
            return ",".join(name(v) for v in vals)
        if kind == "star":
            return "*"
        return "*/%d" % step

    out = []
    while len(out) < n:
        f = [part(i, True) for i in range(6)]
        if f[3].startswith("*/") and f[5] != "*":
            f[3] = "*"
        if f[5].startswith("*/") and f[3] != "*":
            f[5] = "*"
        out.append(" ".join(f))
    return out


def rows():
    out = []
    for spec in random_specs(150):
        for t in (TIMES[0], TIMES[2]):
            after = parse_iso(t)
            try:
                nxt = croniter_next(spec, "-", after)
            except Exception:  # croniter gives up on a date that never comes
                continue
            if nxt.year > after.year + 5:
                continue  # beyond robfig's five-year search
            ref = oracle(spec, after)
            if ref != nxt:
                sys.exit("cron-table.py: croniter and the oracle disagree on '%s' after %s: %s, %s"
                         % (spec, t, nxt, ref))
            out.append(("croniter", spec, "-", iso(after), iso(nxt), "random; the oracle agrees"))
    for spec in SIX + FIVE:
        for t in TIMES:
            after = parse_iso(t)
            for _ in range(2):
                nxt = croniter_next(spec, "-", after)
                out.append(("croniter", spec, "-", iso(after), iso(nxt), ""))
                after = nxt
    # Zones without DST and with offsets that are not whole hours.
    for k, spec in enumerate(random_specs(40)):
        zone = ("Asia/Kolkata", "Asia/Kathmandu")[k % 2]
        after = parse_iso(TIMES[3])
        try:
            nxt = croniter_next(spec, zone, after)
        except Exception:
            continue
        if nxt.year > after.year + 5:
            continue
        out.append(("croniter", spec, zone, iso(after), iso(nxt), "random, zone without DST"))
    for zone, spec, t in ZONED:
        after = parse_iso(t)
        for _ in range(3):
            nxt = croniter_next(spec, zone, after)
            z = ZoneInfo(zone)
            if after.astimezone(z).utcoffset() != nxt.astimezone(z).utcoffset():
                break  # crosses a DST change: croniter's rules differ from robfig's
            out.append(("croniter", spec, zone, iso(after), iso(nxt), ""))
            after = nxt.astimezone(UTC)
    for spec, t, why in ORACLE:
        after = parse_iso(t)
        for _ in range(2):
            nxt = oracle(spec, after)
            out.append(("oracle", spec, "-", iso(after), iso(nxt) if nxt else "none", why))
            if nxt is None:
                break
            after = nxt
    for spec, t, exp, why in ROBFIG:
        out.append(("robfig", spec, "-", t, exp, why))
    for spec, zone, t, exp, why in HAND:
        out.append(("hand", spec, zone, t, exp, why))
    return out


def render():
    lines = [
        "# Expected next runs of cron schedules (robfig/cron v1.2.0 semantics, as CloudNativePG).",
        "# Generated by tools/cron-table.py; do not edit (make unit checks it is current).",
        "# source\tspec\tdefault_tz\tafter\texpected_next\twhy",
    ]
    for r in rows():
        lines.append("\t".join(r))
    return "\n".join(lines) + "\n"


def main():
    text = render()
    if len(sys.argv) > 1 and sys.argv[1] == "--check":
        try:
            with open(OUT, encoding="utf-8") as f:
                old = f.read()
        except FileNotFoundError:
            old = ""
        if old != text:
            sys.exit("%s is out of date: run tools/cron-table.py and commit the result" % OUT)
        print("%s: %d rows, current" % (OUT, text.count("\n") - 3))
        return
    with open(OUT, "w", encoding="utf-8") as f:
        f.write(text)
    print("%s: %d rows" % (OUT, text.count("\n") - 3))


if __name__ == "__main__":
    main()
