"""`inlet reprocess` after a pipeline's definition changed: the pipeline's
inputs in done/ run again, their new rows replace the old ones, and the
tables end as one clean run with the new definition leaves them. Other
pipelines' inputs are left alone."""
import shutil

from conftest import REPO, Inlet


def counts(inlet, pipelines, tables):
    return {t: inlet.query(f"SELECT count(*) AS n FROM {t}")[0]["n"] for t in tables} | {
        "asx_rejects_by_check": sorted(
            (r["check_name"], r["n"]) for r in inlet.query("SELECT check_name, count(*) AS n FROM asx_eod_rejects GROUP BY 1")
        )
    }


def test_reprocess_after_a_changed_check_equals_one_clean_run(inlet, inlet_bin, tmp_path):
    pipelines = tmp_path / "pipelines"
    shutil.copytree(REPO / "pipelines", pipelines)
    tables = ["asx_eod", "asx_eod_rejects", "a2e_buoy_wind"]
    inlet.run("--pipelines", pipelines, "ingest", REPO / "data")
    before = counts(inlet, pipelines, tables)
    buoy_done = inlet.keys("input", "done/buoy")

    # Volumes under 100,000 shares are now rejected.
    definition = pipelines / "asx_eod" / "pipeline.yaml"
    text = definition.read_text()
    changed = text.replace("{ check: fail_min, columns: [volume], value: 0, action: reject }", "{ check: fail_min, columns: [volume], value: 100000, action: reject }")
    assert changed != text
    definition.write_text(changed)

    listed = inlet.run("--pipelines", pipelines, "reprocess", "asx_eod", "--dry-run").stdout
    assert listed.splitlines() == ["20201202.txt", "asx_eod_20201201.csv", "asx_eod_20201203.csv", "3 inputs would be processed again"], listed
    out = inlet.run("--pipelines", pipelines, "reprocess", "asx_eod").stdout
    assert "3 inputs: 3 loaded, 0 failed" in out, out
    after = counts(inlet, pipelines, tables)

    clean = Inlet(inlet_bin, tmp_path / "clean", REPO)
    clean.run("--pipelines", pipelines, "ingest", REPO / "data")
    assert after == counts(clean, pipelines, tables), "reprocessed tables equal one clean run's"
    assert after["asx_eod"] < before["asx_eod"] and after["asx_eod"] + after["asx_eod_rejects"] == before["asx_eod"] + before["asx_eod_rejects"]
    assert ("fail_min", after["asx_eod_rejects"] - before["asx_eod_rejects"] + dict(before["asx_rejects_by_check"])["fail_min"]) in after["asx_rejects_by_check"]
    assert inlet.keys("input", "done/buoy") == buoy_done and not inlet.keys("input", "in/")

    # Reprocessing again changes nothing; an unknown pipeline is named with the real ones.
    inlet.run("--pipelines", pipelines, "reprocess", "asx_eod")
    assert counts(inlet, pipelines, tables) == after
    unknown = inlet.run("--pipelines", pipelines, "reprocess", "asx", check=False)
    assert unknown.returncode != 0 and "asx_eod" in unknown.stderr, unknown.stderr
