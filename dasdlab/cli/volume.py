"""``dasdlab volume``: create, list, check, dump, copy and convert volume images."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from dasdlab.errors import DasdlabError
from dasdlab.cli.common import SF_HELP, SITE_HELP, open_volume, print_json, take_sf

app = typer.Typer(help="Create, list, check, dump, copy and convert CKD volume images.",
                  no_args_is_help=True)

SiteOpt = Annotated[Optional[Path], typer.Option("--site", help=SITE_HELP)]
Target = Annotated[str, typer.Argument(help="Image path, or a VOLSER with --site.")]
SfOpt = Annotated[Optional[str], typer.Option("--sf", help=SF_HELP)]
SfArg = Annotated[Optional[list[str]], typer.Argument(help="sf=NAME, Hercules' form of --sf.",
                                                      show_default=False)]


def _open(target: str, site, sf: str | None, sf_args: list[str] | None):
    rest, name = take_sf(list(sf_args or []), sf)
    if rest:
        raise typer.BadParameter(f"unexpected argument {rest[0]!r} (only sf=NAME may follow the image)")
    return open_volume(target, site, sf=name)


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="Image file to create.")],
    model: Annotated[str, typer.Option(help="Device model, e.g. 3390-3.")] = "3390-3",
    volser: Annotated[Optional[str], typer.Option(help="Volume serial, 1-6 characters.")] = None,
    cylinders: Annotated[Optional[int], typer.Option(help="Cylinders (default: the model's).")] = None,
    vtoc_tracks: Annotated[Optional[int], typer.Option(help="VTOC size in tracks (default: rest of cylinder 0).")] = None,
    split: Annotated[bool, typer.Option(help="Split at 2 GB into name_1, name_2... like dasdinit without -lfs.")] = False,
    null_tracks: Annotated[bool, typer.Option("--null-tracks", help="Write every free track as an empty "
                                              "(null) track, as dasdinit does, so that a Hercules guest "
                                              "can use the free space; costs about 4 KB of disk a track.")] = False,
    vtoc: Annotated[bool, typer.Option("--vtoc", help="Give the existing image PATH, made by "
                                       "dasdinit (a VOL1 label, no VTOC), an empty VTOC where "
                                       "dasdload puts one: cylinder 0 head 1, --vtoc-tracks "
                                       "tracks (default 1).")] = False,
) -> None:
    """Create a new sparse volume with a VOL1 label and an empty VTOC."""
    from dasdlab.emulator.volume import Volume

    if vtoc:
        _add_vtoc(path, vtoc_tracks)
        return
    if volser is None:
        raise typer.BadParameter("give the volume serial with --volser")

    vol = Volume.create(path, model, volser, cylinders=cylinders, vtoc_tracks=vtoc_tracks, split=split,
                        null_tracks=null_tracks)
    typer.echo(f"DLB140I volume {vol.volser} created: {vol.geometry.name}, {vol.cylinders} cylinders, "
               f"{vol.ntracks} tracks, {len(vol.files)} file(s), {path}")
    vol.close()


def _add_vtoc(path: Path, vtoc_tracks: int | None) -> None:
    from dasdlab.emulator.volume import Volume
    from dasdlab.emulator.vtoc import add_vtoc

    with Volume.open(path, writable=True) as vol:
        addr = add_vtoc(vol, vtoc_tracks or 1)
        first, stop = vol.vtoc.vtoc_tracks
        n = stop - first
        typer.echo(f"DLB836I {path}: VTOC of {n} track(s) written at CCHHR {addr} for volume "
                   f"{vol.volser}.")


@app.command("ls")
def ls(target: Target, sf_args: SfArg = None, site: SiteOpt = None, sf: SfOpt = None,
       json_: Annotated[bool, typer.Option("--json", help="JSON for programs.")] = False) -> None:
    """List the data sets of a volume, like Hercules 'dasdls -info'."""
    from dasdlab.emulator.listing import format_dasdls, list_volume

    vol = _open(target, site, sf, sf_args)
    entries = list_volume(vol)
    if json_:
        print_json([e.as_json() for e in entries])
        return
    typer.echo(f"{target}: VOLSER={vol.volser}")
    for e in entries:
        typer.echo(format_dasdls(e))


@app.command()
def info(target: Target, sf_args: SfArg = None, site: SiteOpt = None, sf: SfOpt = None,
         json_: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Show the geometry, space and VTOC summary of a volume."""
    from dasdlab.emulator.check import missing_vtoc
    from dasdlab.emulator.vtoc import read_vol1

    vol = _open(target, site, sf, sf_args)
    no_vtoc = missing_vtoc(vol)
    try:
        volser = read_vol1(vol).volser
    except DasdlabError:
        volser = None
    d = {
        "volser": volser,
        "model": vol.geometry.name,
        "cylinders": vol.cylinders,
        "heads": vol.heads,
        "tracks": vol.ntracks,
        "track_slot_bytes": vol.slot,
        "files": [str(f.path) for f in vol.files],
        "tracks_written": vol.written.count(),
    }
    if no_vtoc is None:
        vt = vol.vtoc
        d.update({
            "vtoc_tracks": list(vt.vtoc_tracks),
            "free_tracks": vt.free_tracks(),
            "free_extents": len(vt.free),
            "free_dscbs": len(vt.free_dscbs()),
            "free_space_source": vt.free_source,
            "datasets": len(vt.datasets),
        })
    else:
        d.update({"vtoc": None, "missing": str(no_vtoc)})
    if json_:
        print_json(d)
    else:
        for k, v in d.items():
            typer.echo(f"{k:>18}: {v}")
    if no_vtoc is not None:
        typer.echo(f"DLB190W no VTOC, so no data sets or free space are shown: {no_vtoc.text}", err=True)


@app.command()
def check(target: Target, sf_args: SfArg = None, site: SiteOpt = None, sf: SfOpt = None,
          json_: Annotated[bool, typer.Option("--json", help="The report as JSON (exit status as without).")] = False
          ) -> None:
    """Verify header, track formats, VTOC and extents; exit 0 only when sound.

    Example: dasdlab volume check vol1.ckd
    """
    from dasdlab.cli.progress import bar
    from dasdlab.emulator.check import check_volume

    vol = _open(target, site, sf, sf_args)
    with bar("checking tracks", "tracks") as progress:
        report = check_volume(vol, progress)
    if json_:
        from dasdlab.cli.common import print_json

        print_json({"target": target, "sound": report.sound, "tracks_checked": report.tracks_checked,
                    "datasets": len(vol.vtoc.datasets) if report.sound else None, "problems": report.problems})
        if report.problems:
            raise typer.Exit(8)
        return
    for p in report.problems:
        typer.echo(f"DLB150E {p}", err=True)
    if report.problems:
        typer.echo(f"DLB151E {target}: {len(report.problems)} problem(s) in {report.tracks_checked} "
                   "written tracks.", err=True)
        raise typer.Exit(8)
    if report.no_vtoc is not None:
        # the tracks are sound, but a volume nothing can allocate on is not: dasdls
        # also stops at the missing Format-4 DSCB ("F4DSCB record not found")
        typer.echo(f"DLB191E {report.tracks_checked} written tracks are sound, but there is no "
                   f"VTOC: {report.no_vtoc.text}", err=True)
        raise typer.Exit(8)
    typer.echo(f"DLB152I {target}: sound ({report.tracks_checked} written tracks checked, "
               f"{len(vol.vtoc.datasets)} data sets).")


@app.command("dump-track")
def dump_track(target: Target,
               where: Annotated[list[str], typer.Argument(help="[sf=NAME] CYL HEAD.")],
               site: SiteOpt = None, sf: SfOpt = None,
               raw: Annotated[bool, typer.Option(help="Write the raw slot bytes to stdout.")] = False) -> None:
    """Show one track: home address, then every record's count, key and data in hex."""
    import sys

    from dasdlab.emulator.trackdump import dump_track as dump

    rest, name = take_sf(where, sf)
    if len(rest) != 2 or not all(x.isdigit() for x in rest):
        raise typer.BadParameter("give the track as CYL HEAD (two numbers)")
    cyl, head = int(rest[0]), int(rest[1])
    vol = open_volume(target, site, sf=name)
    t = vol.track_of(cyl, head)
    if raw:
        sys.stdout.buffer.write(vol.read_track(t).tobytes())
        return
    for line in dump(vol, t):
        typer.echo(line)


@app.command()
def copy(src: Path, dst: Path) -> None:
    """Full-volume copy to a new image (sparse tracks stay holes)."""
    from dasdlab.cli.progress import bar
    from dasdlab.emulator.volcopy import copy_volume

    with bar("copying", "bytes") as progress:
        n = copy_volume(src, dst, progress)
    typer.echo(f"DLB141I copied {n} bytes of track data from {src} to {dst}.")


@app.command()
def convert(
    src: Annotated[Path, typer.Argument(help="Source image: plain CKD or compressed CCKD.")],
    dst: Annotated[Path, typer.Argument(help="New image to write (must not exist).")],
    cckd: Annotated[bool, typer.Option("--cckd", help="Write a compressed (CCKD) image; "
                                       "without it, a plain CKD image.")] = False,
    compress: Annotated[Optional[str], typer.Option(help="Track compression with --cckd: "
                                                    "zlib (default), bzip2 or none.")] = None,
    sf: Annotated[Optional[str], typer.Option("--sf", help="Shadow files of a CCKD source, "
                                              "named as Hercules' sf=, e.g. 'shadows/base_*.shd'; "
                                              "they are merged into DST (a name that matches "
                                              "no file is an error).")] = None,
) -> None:
    """Convert between plain and compressed images (like Hercules dasdcopy)."""
    from dasdlab.cli.progress import bar
    from dasdlab.emulator.convert import convert_volume
    from dasdlab.errors import ImageError

    if compress is not None and not cckd:
        raise ImageError("DLB185E", "--compress applies only to compressed output; add --cckd.")
    with bar("converting", "tracks") as progress:
        res = convert_volume(src, dst, cckd=cckd, compress=compress or "zlib", sf=sf,
                             progress=progress)
    kind = f"compressed ({compress or 'zlib'})" if cckd else "plain"
    typer.echo(f"DLB184I {src} written to {dst} as a {kind} image: {res.tracks} tracks, "
               f"{res.stored} stored as track images, {res.file_bytes} bytes.")


cckd_app = typer.Typer(help="Check, compact and byte-swap compressed (CCKD) images, like "
                            "Hercules cckdcdsk, cckdcomp and cckdswap.", no_args_is_help=True)
app.add_typer(cckd_app, name="cckd")
CckdPath = Annotated[Path, typer.Argument(help="Compressed image (CKD_C370).")]


@cckd_app.command("check")
def cckd_check(
    path: CckdPath,
    level: Annotated[int, typer.Option("--level", min=0, max=3,
                                       help="0 headers and free space, 1 also L2 tables and "
                                            "overlaps, 2 also track headers, 3 also decompress "
                                            "every track (as cckdcdsk -0..-3).")] = 1,
    repair: Annotated[bool, typer.Option("--repair", help="Rebuild the free space and header "
                                         "figures (the image is changed only with this).")] = False,
) -> None:
    """Check a compressed image, like 'cckdcdsk -LEVEL'; exit 0 only when sound."""
    from dasdlab.emulator.cckdtools import check_image

    rep = check_image(path, level, repair)
    for p in rep.problems:
        typer.echo(f"DLB895E {path}: {p}", err=True)
    for p in rep.repairable:
        sev = "I" if rep.repaired else "E"
        typer.echo(f"DLB896{sev} {path}: {p}{' (repaired)' if rep.repaired else ''}", err=True)
    if not rep.sound:
        hint = "" if rep.problems or repair else "; --repair rebuilds them"
        typer.echo(f"DLB897E {path}: {len(rep.problems) + len(rep.repairable)} problem(s) at "
                   f"level {level}{hint}.", err=True)
        raise typer.Exit(8)
    typer.echo(f"DLB898I {path}: sound at level {level}" + (" after repair." if rep.repaired else "."))


@cckd_app.command("compact")
def cckd_compact(path: CckdPath) -> None:
    """Remove the free space of a compressed image, like 'cckdcomp'."""
    from dasdlab.emulator.cckdtools import compact_image

    before, after = compact_image(path)
    typer.echo(f"DLB899I {path} compacted: {before} bytes before, {after} after.")


@cckd_app.command("swap")
def cckd_swap(path: CckdPath) -> None:
    """Rewrite a compressed image in the other byte order, like 'cckdswap'."""
    from dasdlab.emulator.cckdtools import swap_image

    order = swap_image(path)
    typer.echo(f"DLB899I {path} is now {order}-endian.")


sf_app = typer.Typer(help="Shadow files of a compressed volume: add one, remove or merge the "
                          "top one, compress it, show the stack -- Hercules' sf+, sf-, sfc and "
                          "sfd commands, offline.", no_args_is_help=True)
app.add_typer(sf_app, name="sf")
SfBase = Annotated[Path, typer.Argument(help="Compressed base image (CKD_C370).")]
SfName = Annotated[Optional[list[str]], typer.Argument(help="sf=NAME, Hercules' form of --sf.",
                                                       show_default=False)]
SfPattern = Annotated[Optional[str], typer.Option("--sf", help="Shadow file name as Hercules' "
                                                  "sf=, e.g. 'shadows/base_*.shd' (required).")]


def _sf_name(sf_args: list[str] | None, sf: str | None) -> str:
    rest, name = take_sf(list(sf_args or []), sf)
    if rest:
        raise typer.BadParameter(f"unexpected argument {rest[0]!r} (only sf=NAME may follow the image)")
    if name is None:
        raise typer.BadParameter("name the shadow files with --sf PATTERN or sf=PATTERN")
    return name


@sf_app.command("add")
def sf_add(base: SfBase, sf_args: SfName = None, sf: SfPattern = None) -> None:
    """Add a new, empty shadow file on top of the stack (Hercules 'sf+').

    Example: dasdlab volume sf add base.cckd --sf 'base_*.shd'
    """
    from dasdlab.emulator.shadowfiles import add_shadow

    new = add_shadow(base, _sf_name(sf_args, sf))
    typer.echo(f"DLB176I shadow file {new} added over {base}; the emulator writes to the top shadow.")


@sf_app.command("remove")
def sf_remove(base: SfBase, sf_args: SfName = None, sf: SfPattern = None,
              merge: Annotated[bool, typer.Option("--merge/--no-merge",
                                                  help="Merge the top shadow's tracks into the file "
                                                       "below before removing it (Hercules "
                                                       "'sf- merge', the default), or drop them "
                                                       "('sf- nomerge').")] = True) -> None:
    """Remove the top shadow file, merging it into the file below (Hercules 'sf-').

    Example: dasdlab volume sf remove base.cckd sf=base_*.shd --no-merge
    """
    from dasdlab.emulator.shadowfiles import remove_shadow

    res = remove_shadow(base, _sf_name(sf_args, sf), merge=merge)
    if res.merged_into is not None:
        typer.echo(f"DLB177I shadow file {res.removed} merged into {res.merged_into} "
                   f"({res.entries} track entries) and removed.")
    else:
        typer.echo(f"DLB177I shadow file {res.removed} removed; its changes are dropped.")


@sf_app.command("compress")
def sf_compress(base: SfBase, sf_args: SfName = None, sf: SfPattern = None) -> None:
    """Remove the free space of the top file of the stack (Hercules 'sfc').

    Example: dasdlab volume sf compress base.cckd --sf 'base_*.shd'
    """
    from dasdlab.emulator.shadowfiles import compress_top

    top, before, after = compress_top(base, _sf_name(sf_args, sf))
    typer.echo(f"DLB178I {top} compressed: {before} bytes before, {after} after.")


@sf_app.command("show")
def sf_show(base: SfBase, sf_args: SfName = None, sf: SfPattern = None,
            json_: Annotated[bool, typer.Option("--json", help="JSON for programs.")] = False) -> None:
    """List the base and its shadow files, lowest first (Hercules 'sfd').

    Example: dasdlab volume sf show base.cckd --sf 'base_*.shd'
    """
    from dasdlab.emulator.shadowfiles import show_stack

    files = show_stack(base, _sf_name(sf_args, sf))
    if json_:
        print_json([f.as_json() for f in files])
        return
    typer.echo(f"{'file':>4} {'size':>12} {'free':>12} {'tracks held':>11}  name")
    for f in files:
        typer.echo(f"{'[' + str(f.index) + ']':>4} {f.size:>12} {f.free_total:>12} {f.tracks_held:>11}  {f.path}")


@app.command("dasdls", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
def dasdls_(args: Annotated[list[str], typer.Argument(
        help="dasdls' own command line: [-info] [-hdr] [-caldt] [-refdt] [-expdt] [-dsnl[=N]] "
             "[-yroffs[=N]] IMAGE [sf=NAME] ... (options apply to the images after them).",
        metavar="[OPTIONS] IMAGE [sf=NAME]...")]) -> None:
    """List data sets exactly as Hercules 'dasdls' prints them, with every option it has.

    Example: dasdlab volume dasdls -hdr -caldt vol1.ckd
    """
    from dasdlab.cli.common import open_volume
    from dasdlab.emulator.dasdls import listing, parse_args

    try:
        req = parse_args(args)
    except ValueError as e:
        raise typer.BadParameter(f"unknown option {e}; dasdls' options are -info -hdr -caldt -refdt "
                                 "-expdt -dsnl[=N] -yroffs[=N]") from None
    if not req.images:
        raise typer.BadParameter("name at least one image")
    for i, (name, sf, opt) in enumerate(req.images):
        vol = open_volume(name, None, sf=sf)
        lines = listing(vol, name, opt)
        if i:
            typer.echo("")
        for line in lines:
            typer.echo(line)
