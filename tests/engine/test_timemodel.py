"""Device profiles: every figure has a source, costs scale as documented, TOML profiles."""

import math

import pytest

from dasdlab.engine.timemodel import PROFILES, ProfileError, get_profile, load_profiles


def test_every_figure_names_its_source():
    numeric = [f for f in PROFILES["ds8000-ficon16"].as_dict() if f not in ("name", "description", "subsystem_kind", "sources")]
    for p in PROFILES.values():
        for f in numeric:
            assert p.sources.get(f), f"{p.name}.{f} has no source"


def test_required_profiles_exist_and_order_services():
    assert {"3390-3990", "ds8000-ficon16", "rva-escon", "symmetrix-ficon8"} <= set(PROFILES)
    ds8 = PROFILES["ds8000-ficon16"]
    # documented ordering (docs/domain.md §4.2): CC ~ virtual CC > FlashCopy establish
    assert ds8.cc_session_init_s > ds8.flashcopy_establish_s
    assert ds8.vcc_flash_s > ds8.flashcopy_establish_s
    assert PROFILES["rva-escon"].snapshot_s < PROFILES["rva-escon"].vcc_flash_s
    for p in PROFILES.values():  # every method can be priced under every profile
        assert all(math.isfinite(v) and v > 0 for k, v in p.as_dict().items()
                   if isinstance(v, float)), p.name


def test_scaled_profile_scales_sequential_costs_only():
    p = PROFILES["ds8000-ficon16"]
    q = p.scaled(64)
    assert q.read_tracks_s(100) == pytest.approx(64 * p.read_tracks_s(100))
    assert q.flashcopy_establish_s == p.flashcopy_establish_s
    assert q.background_tracks_per_s() == pytest.approx(p.background_tracks_per_s() / 64)


def test_sequential_cost_scales_with_tracks():
    p = PROFILES["3390-3990"]
    # one 56,664-byte track per 14.2 ms revolution: about 4 MB/s (docs/limits.md B2)
    per_track = (p.read_tracks_s(15000) - p.read_tracks_s(0)) / 15000
    assert 0.014 < per_track < 0.0155
    assert p.read_tracks_s(2000) == pytest.approx(2 * p.read_tracks_s(1000), rel=1e-9)


def test_user_profiles_from_toml(tmp_path):
    f = tmp_path / "p.toml"
    f.write_text('[profiles.fast]\nbase = "ds8000-ficon16"\nseq_read_mb_s = 800\n'
                 'description = "twice the read rate"\n')
    prof = load_profiles(f)["fast"]
    assert prof.seq_read_mb_s == 800 and prof.flashcopy_establish_s == PROFILES["ds8000-ficon16"].flashcopy_establish_s
    assert "p.toml" in prof.sources["seq_read_mb_s"]
    assert get_profile("fast", load_profiles(f)).name == "fast"


@pytest.mark.parametrize("text,msgid", [
    ("[profiles.x]\nbogus = 1\n", "DLB703E"),
    ("[profiles.x]\nseq_read_mb_s = -3\n", "DLB704E"),
    ("not toml ===", "DLB702E"),
    ("[other]\n", "DLB702E"),
])
def test_bad_profiles(tmp_path, text, msgid):
    f = tmp_path / "bad.toml"
    f.write_text(text)
    with pytest.raises(ProfileError) as e:
        load_profiles(f)
    assert e.value.msgid == msgid
    with pytest.raises(ProfileError) as e:
        get_profile("nope")
    assert e.value.msgid == "DLB700E"


def test_device_profile_sources_are_keys_or_assumptions():
    """Every profile figure names a source key of docs/sources.md or says assumption; the
    Concurrent Copy initialisation, the DS8000 background copy and the log apply rate,
    which have no public figure, are marked assumptions."""
    import re
    from pathlib import Path

    keys = set(re.findall(r"^\| (S\d+) \|", (Path(__file__).resolve().parents[2] / "docs" / "sources.md")
                          .read_text(), re.M))
    for p in PROFILES.values():
        for f, src in p.sources.items():
            cited = set(re.findall(r"\bS\d+\b", src))
            assert cited <= keys, (p.name, f, cited - keys)
            assert cited or src.startswith("assumption"), (p.name, f, src)
            assert ".md" not in src, (p.name, f, src)
        for f in ("cc_session_init_s", "log_apply_records_s"):
            assert p.sources[f].startswith("assumption"), (p.name, f)
    assert PROFILES["ds8000-ficon16"].sources["background_copy_mb_s"].startswith("assumption")
    assert "SVC" not in PROFILES["ds8000-ficon16"].sources["background_copy_mb_s"]
    assert PROFILES["3390-3990"].sources["seq_read_mb_s"].startswith("S86")
