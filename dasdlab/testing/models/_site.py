"""The small sites the service-specific machines run on."""

from __future__ import annotations

import tempfile
from pathlib import Path


def small_site(subject, root: Path, volumes=("SRC001", "TGT001"), model: str = "3390-1",
               cylinders: int = 2, settings: dict | None = None, pattern: range | None = range(15, 25)):
    """(folder, site): a new site in ``root`` with ``volumes`` on the subject's
    subsystem, ``settings`` saved in its site.json (so a reopened site has them too),
    and pattern tracks on ``pattern`` of the first volume."""
    from dasdlab.emulator.site import Site
    from dasdlab.testing.models import pattern_track

    d = Path(tempfile.mkdtemp(prefix="dlbmodel", dir=root))
    site = Site.init(d / "site")
    subject.prepare_site(site)
    if settings:
        with site.locked():
            site.reload()
            site.config["subsystems"][subject.subsystem].setdefault("settings", {}).update(settings)
            site._write_config(site.config)
        site.close()
        site = Site.open(d / "site")
    for v in volumes:
        site.add_volume(subject.subsystem, v, model, cylinders=cylinders)
    if pattern is not None:
        src = site.volume(volumes[0], writable=True)
        for t in pattern:
            src.write_track(t, pattern_track(src, t, 1))
    return d, site
