"""One example command line for every ``dasdlab`` command, shown at the end of its
``--help`` (as the epilog) unless its docstring already has an ``Example:``.

They follow the README's walk-through (an image ``vol1.ckd``, a site ``mysite`` with
volumes IMS001 and BKP001, the database HDAMDB01 of ``fixtures/dbd/hdamdb01.dbd``), so
that one can be tried after the other.  ``tests/cli/test_conventions.py`` checks that
every command has one and that it parses against the command's own options.
"""

from __future__ import annotations

#: command path (without ``dasdlab``) -> example command line
EXAMPLES: dict[str, str] = {
    "dss": "dasdlab dss --site mysite 'COPY DATASET(INCLUDE(MY.DATA)) RENAMEU((MY.DATA,MY.BKUP)) FR(PREF)'",
    "lab": "dasdlab lab --script fixtures/lessons/flashcopy-nocopy.lab --site lab-site",
    "version": "dasdlab version",
    "fixtures path": "dasdlab fixtures path",
    "fixtures list": "dasdlab fixtures list",
    "fixtures copy": "dasdlab fixtures copy .",
    "volume init": "dasdlab volume init vol1.ckd --model 3390-3 --volser VOL001",
    "volume ls": "dasdlab volume ls vol1.ckd --dasdls",
    "volume info": "dasdlab volume info vol1.ckd --json",
    "volume dump-track": "dasdlab volume dump-track vol1.ckd 0 1",
    "volume copy": "dasdlab volume copy vol1.ckd vol2.ckd",
    "volume convert": "dasdlab volume convert vol1.ckd vol1.cckd --cckd --compress zlib",
    "volume cckd check": "dasdlab volume cckd check vol1.cckd --level 3",
    "volume cckd compact": "dasdlab volume cckd compact vol1.cckd",
    "volume cckd swap": "dasdlab volume cckd swap vol1.cckd",
    "dataset alloc": "dasdlab dataset alloc vol1.ckd MY.CARDS --recfm FB --lrecl 80 --blksize 3120 --tracks 15",
    "dataset write": "dasdlab dataset write vol1.ckd MY.CARDS --from cards.bin",
    "dataset read": "dasdlab dataset read vol1.ckd MY.CARDS --to -",
    "dataset delete": "dasdlab dataset delete vol1.ckd MY.CARDS",
    "pds list": "dasdlab pds list vol1.ckd MY.LIB --json",
    "pds read": "dasdlab pds read vol1.ckd MY.LIB HELLO --ascii",
    "pds write": "dasdlab pds write vol1.ckd MY.LIB HELLO --from hello.txt --ascii",
    "pds delete": "dasdlab pds delete vol1.ckd MY.LIB HELLO",
    "pds rename": "dasdlab pds rename vol1.ckd MY.LIB HELLO GREET",
    "site init": "dasdlab site init mysite",
    "site add-volume": "dasdlab site add-volume mysite DS8K1 IMS001 --model 3390-3",
    "site add-service": "dasdlab site add-service mysite DS8K1 eagercopy",
    "site ls": "dasdlab site ls mysite",
    "flashcopy establish": "dasdlab flashcopy establish --site mysite IMS001 BKP001 --mode NOCOPY",
    "flashcopy query": "dasdlab flashcopy query --site mysite --map",
    "flashcopy withdraw": "dasdlab flashcopy withdraw --site mysite FC0001",
    "flashcopy drain": "dasdlab flashcopy drain --site mysite FC0001",
    "snap volume": "dasdlab snap volume --site mysite RVA001 RVA002",
    "snap dataset": "dasdlab snap dataset --site mysite MY.DATA --to-volser RVA002 --new-name MY.SNAP",
    "snap query": "dasdlab snap query --site mysite --json",
    "snap release": "dasdlab snap release --site mysite SN0001",
    "snap pool": "dasdlab snap pool --site mysite",
    "snap export": "dasdlab snap export --site mysite RVA002 rva002.ckd",
    "clone create": "dasdlab clone create --site mysite VMX001 VMX002",
    "clone activate": "dasdlab clone activate --site mysite TF0001",
    "clone recreate": "dasdlab clone recreate --site mysite TF0001",
    "clone restore": "dasdlab clone restore --site mysite TF0001",
    "clone terminate": "dasdlab clone terminate --site mysite TF0001",
    "clone drain": "dasdlab clone drain --site mysite TF0001",
    "clone query": "dasdlab clone query --site mysite --json",
    "cc query": "dasdlab cc query --site mysite --json",
    "cc purge": "dasdlab cc purge --site mysite",
    "services list": "dasdlab services list --json",
    "services test": "dasdlab services test flashcopy --check lifecycle",
    "db define": "dasdlab db define --site mysite fixtures/dbd/hdamdb01.dbd",
    "db load": "dasdlab db load --site mysite HDAMDB01 --size 4MiB --seed 1",
    "db verify": "dasdlab db verify --site mysite HDAMDB01",
    "db damage": "dasdlab db damage --site mysite HDAMDB01 --ddn HDAMDD01 --blocks 5",
    "recon list": "dasdlab recon list --site mysite --json",
    "recon init-cagrp": "dasdlab recon init-cagrp CAGDEMO HDAMDB01.HDAMDD01 --site mysite",
    "recon init-dbdsgrp": "dasdlab recon init-dbdsgrp DBGDEMO HDAMDB01.HDAMDD01 --site mysite",
    "recon change-accum": "dasdlab recon change-accum CAGDEMO --site mysite",
    "recon notify-uic": "dasdlab recon notify-uic HDAMDB01 HDAMDD01 MY.FCCOPY --site mysite --concurrent",
    "recon notify-recov": "dasdlab recon notify-recov HDAMDB01 HDAMDD01 --site mysite",
    "recon genjcl-recov": "dasdlab recon genjcl-recov HDAMDB01 --ddn HDAMDD01 --site mysite",
    "ims": "dasdlab ims --site mysite '/DBR DB HDAMDB01'",
    "bench teach": "dasdlab bench teach --results outage-out --method dump-cc --frames 4",
    "bench explore": "dasdlab bench explore --results outage-out",
    "bench plot-sweep": "dasdlab bench plot-sweep --results sweeps/ci --to sweep.png",
}


def example_of(path: str) -> str | None:
    return EXAMPLES.get(path)


def attach(app) -> None:
    """Give every command of the typer ``app`` without an ``Example:`` in its docstring
    the example of :data:`EXAMPLES` as its epilog."""

    def visit(t, prefix: str) -> None:
        for c in t.registered_commands:
            name = c.name or c.callback.__name__.replace("_", "-")
            _give(c, f"{prefix}{name}".strip())
        for g in t.registered_groups:
            sub = g.typer_instance
            path = f"{prefix}{g.name}".strip()
            if sub.registered_callback is not None and getattr(sub.registered_callback, "invoke_without_command", False):
                _give(sub.registered_callback, path, group=g)
            visit(sub, path + " ")

    visit(app, "")


def _give(info, path: str, group=None) -> None:
    doc = (info.callback.__doc__ or "") if info.callback else ""
    ex = EXAMPLES.get(path)
    if "Example:" in doc or ex is None:
        return
    target = group if group is not None else info
    target.epilog = f"Example: {ex}"
