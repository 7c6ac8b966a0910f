"""A mistake in pipeline.yaml gets an error that names the file, the field and the fix."""
import json
import shutil

from conftest import REPO


def test_config_errors_name_file_field_and_fix(inlet, tmp_path):
    pipelines = tmp_path / "pipelines"
    shutil.copytree(REPO / "pipelines", pipelines)
    path = pipelines / "asx_eod" / "pipeline.yaml"
    path.write_text(path.read_text().replace("timezone: Australia/Sydney", "timezone: Sydney"))
    result = inlet.run("--pipelines", pipelines, "pipelines", check=False)
    assert result.returncode != 0
    assert f"{path}: `time.timezone`: \"Sydney\" is not a known timezone" in result.stderr
    assert "fix: use an IANA name" in result.stderr

    path.write_text(path.read_text().replace("action: reject", "action: rejekt", 1))
    result = inlet.run("--pipelines", pipelines, "ingest", REPO / "data" / "20201202.txt", check=False)
    assert result.returncode == 2
    assert "`checks[0].action`: unknown variant `rejekt`" in result.stderr
    assert "fix: use one of the values" in result.stderr


def test_the_published_schema_matches_the_code(inlet):
    printed = json.loads(inlet.run("pipelines", "--schema").stdout)
    committed = json.loads((REPO / "pipelines" / "pipeline.schema.json").read_text())
    assert printed == committed, "regenerate with: inlet pipelines --schema > pipelines/pipeline.schema.json"
    assert "triggers" in printed["properties"]


def test_the_shipped_pipelines_are_valid(inlet):
    out = inlet.run("pipelines").stdout
    assert "all valid" in out and "a2e_buoy_ingest" in out and "asx_eod" in out
