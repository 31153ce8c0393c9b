"""Sites: subsystems, volumes through the catalog, one volume instance per process."""

import numpy as np

from dasdlab.emulator.site import Site


def test_read_only_instance_is_upgraded_in_place(site):
    other = Site.open(site.path)
    ro = other.volume("DSK001")
    assert ro.read_only
    rw = other.volume("DSK001", writable=True)
    assert rw is ro and not ro.read_only
    rw.format_track(300, [(1, b"", b"x")])
    assert ro.is_written(300)


def test_catalog_and_allocation(site):
    site.allocate("A.B.C", "DSK001", lrecl=80, blksize=800, primary=2)
    again = Site.open(site.path)
    assert again.catalog.lookup("A.B.C") == "DSK001"
    assert again.dataset_volume("A.B.C").vtoc.get("A.B.C").tracks(15) == 2
    site.delete_dataset("A.B.C")
    assert Site.open(site.path).catalog.find("A.B.C") is None


def test_site_errors(tmp_path, site):
    import pytest

    from dasdlab.errors import DasdlabError

    for fn, msgid in [(lambda: Site.open(tmp_path), "DLB301E"), (lambda: site.subsystem("NOPE"), "DLB303E"),
                      (lambda: site.volume("NOPE"), "DLB304E"),
                      (lambda: site.add_volume("DS8K1", "DSK001"), "DLB305E"),
                      (lambda: Site.init(site.path), "DLB300E")]:
        with pytest.raises(DasdlabError) as e:
            fn()
        assert e.value.msgid == msgid


def test_stale_target_slot_is_not_written_when_redirected(site):
    site.add_volume("DS8K1", "TGT001", "3390-1")
    tgt = site.volume("TGT001", writable=True)
    tgt.format_track(500, [(1, b"", b"old target data")])
    fc = site.subsystem("DS8K1").service("flashcopy")
    fc.establish("DSK001", "TGT001", mode="NOCOPY")
    # the source never wrote track 500: the point-in-time target track is unformatted
    assert not tgt.is_written(500)
    assert not np.asarray(tgt.read_track(500)).any()
