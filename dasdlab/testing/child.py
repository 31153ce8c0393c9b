"""A second ``dasdlab`` process for the conformance kit: ``python -m dasdlab.testing.child
SPEC SITE``.

It reads one JSON command per line on stdin and answers one JSON line on stdout, so the
kit can make a real other process open a site, look at a relationship, write, establish
or withdraw at the moment it chooses.  ``loop`` writes and ticks until the process is
killed (the kill -9 harness).  A refused operation answers ``{"refused": "DLBnnnE ..."}``.
"""

from __future__ import annotations

import json
import random
import sys
import time
import traceback

import numpy as np

from dasdlab.errors import DasdlabError


def main(argv: list[str]) -> int:
    from dasdlab.emulator.site import Site
    from dasdlab.testing import scenario
    from dasdlab.testing.subject import resolve
    from dasdlab.testing.truth import VOLUMES, stream_track

    spec, path = argv
    subject = resolve(spec)
    site = None

    def reply(obj) -> None:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    for line in sys.stdin:
        cmd = json.loads(line)
        op = cmd["op"]
        try:
            if op == "open":
                site = Site.open(path)
                subject.service(site)
                site.volume(VOLUMES[0], writable=True)
                site.volume(VOLUMES[1], writable=True)
                reply({"ok": True})
            elif op == "state":
                reply({"state": subject.state(site, cmd["rid"]), "message": subject.message(site, cmd["rid"])})
            elif op == "write":
                src = site.volume(VOLUMES[0], writable=True)
                images = {t: stream_track(src, t, cmd["seed"]) for t in cmd["tracks"]}
                for _ in range(cmd.get("repeat", 1)):
                    for t, img in images.items():
                        src.write_track(t, img)
                reply({"ok": True})
            elif op == "establish":
                src = site.volume(VOLUMES[0], writable=True)
                sr, dr, _p, _r = scenario.domain(subject, src, cmd["level"])
                target = VOLUMES[1] if subject.traits.reader == "target" else None
                rid = subject.establish(site, VOLUMES[0], target, sr, dr, cmd.get("background"))
                reply({"rid": rid})
            elif op == "withdraw":
                subject.withdraw(site, cmd["rid"])
                reply({"ok": True})
            elif op == "close":
                site.close()
                site = None
                reply({"ok": True})
                return 0
            elif op == "loop":
                reply({"ready": True})
                _loop(site, subject, cmd)
            else:
                reply({"error": f"unknown op {op}"})
        except DasdlabError as e:
            reply({"refused": str(e), "msgid": e.msgid})
        except Exception as e:  # noqa: BLE001 - the kit reports it as a failed check
            reply({"error": f"{type(e).__name__}: {e}", "trace": traceback.format_exc(limit=4)})
    return 0


def _loop(site, subject, cmd) -> None:
    """Write the source (whole tracks, record updates in batches) and run the
    background copy in small modeled-time steps, until killed."""
    from dasdlab.testing.truth import VOLUMES, stream_track

    rng = random.Random(cmd["seed"])
    tracks = cmd["tracks"]
    src = site.volume(VOLUMES[0], writable=True)
    version = cmd["seed"] * 1000
    now = 0.0
    while True:
        version += 1
        op = rng.random()
        if op < 0.45:
            t = rng.choice(tracks)
            src.write_track(t, stream_track(src, t, version))
        elif op < 0.7:
            ts = np.array(sorted(rng.sample(tracks, 3)), np.int64)
            written = [bool(src.is_written(int(t))) for t in ts]
            if all(written):
                src.write_many(ts, np.full(3, 120, np.int64), np.full((3, 16), version % 251, np.uint8))
        else:
            now += 0.01
            subject.tick(site, now)
        time.sleep(0.0005)


if __name__ == "__main__":  # pragma: no cover - run as a child process
    sys.exit(main(sys.argv[1:]))
