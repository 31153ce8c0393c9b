"""Human-readable dump of one track (the role of Hercules ``dasdlist``)."""

from __future__ import annotations

from typing import Iterator

from dasdlab.emulator import trackfmt
from dasdlab.emulator.geometry import decode_cchh


def hexdump(data: bytes, indent: str = "    ", width: int = 32) -> Iterator[str]:
    for i in range(0, len(data), width):
        chunk = data[i : i + width]
        text = chunk.decode("cp037", errors="replace")
        text = "".join(c if c.isprintable() and ord(c) < 128 else "." for c in text)
        yield f"{indent}+{i:04X} {chunk.hex(' ', 4).upper():<{width * 2 + width // 4}} {text}"


def dump_track(vol, t: int) -> Iterator[str]:
    cyl, head = divmod(t, vol.heads)
    if not vol.is_written(t):
        yield f"track {t} (CCHH {cyl},{head}): never written (unformatted)"
        return
    img = vol.read_track(t)
    ha = decode_cchh(img[1:5].tobytes())
    yield f"track {t} (CCHH {cyl},{head}): HA bin={img[0]} CCHH={ha[0]},{ha[1]}"
    for rec in trackfmt.parse_track(img, where=f"track {t}"):
        kind = " EOF" if rec.is_eof else ""
        yield f"  R{rec.r} CCHH={rec.cyl},{rec.head} KL={rec.keylen} DL={rec.datalen} at +{rec.offset}{kind}"
        if rec.keylen:
            yield "   key:"
            yield from hexdump(img[rec.key_offset : rec.data_offset].tobytes())
        if rec.datalen:
            yield from hexdump(img[rec.data_offset : rec.end].tobytes())
