"""The CLI explains itself: `inlet explain` says where files would go from
their names alone, and `inlet completions` gives each shell a script that
completes inlet's commands."""
import subprocess

from conftest import REPO


def test_explain_names_pipeline_table_location_and_partition_or_why_not(inlet):
    result = inlet.run(
        "explain",
        "buoy.z05.00.20210115.000000.wind.csv",
        "in/solar_dni_20240115_03UT.txt",
        "buoy.z06.00.20210115.000000.zip",
        "notes.xyz",
        "unknown.csv",
        check=False,
    )
    assert result.returncode == 1, "two of the names would end in failed/"
    blocks = {}
    for line in result.stdout.splitlines()[1:]:
        if line.startswith("in/"):
            key = line
            blocks[key] = []
        else:
            blocks[key].append(line.strip())
    assert result.stdout.startswith("pipelines from pipelines"), result.stdout

    wind = blocks["in/buoy.z05.00.20210115.000000.wind.csv"]
    assert "pipeline   a2e_buoy_ingest (pipelines/a2e_buoy_ingest/pipeline.yaml)" in wind, wind
    assert "table      a2e_buoy_wind" in wind and "location   humboldt" in wind, wind
    assert any(l.startswith("partition  location=humboldt/year=<year of each row's") for l in wind), wind
    assert "captured   kind = wind" in wind, wind

    grid = blocks["in/solar_dni_20240115_03UT.txt"]
    assert "table      bom_radiation" in grid, grid
    assert "captured   radiation_type = dni" in grid and "captured   hour_utc = 20240115_03" in grid, grid

    assert blocks["in/buoy.z06.00.20210115.000000.zip"] == ["an archive: it is expanded, and each member is routed by its own name"]
    assert "neither an archive" in blocks["in/notes.xyz"][0], blocks["in/notes.xyz"]
    assert "no pipeline's trigger matches" in blocks["in/unknown.csv"][0], blocks["in/unknown.csv"]

    # What explain says is what ingest does.
    inlet.run("ingest", REPO / "data" / "solar_dni_20240115_03UT.txt")
    assert any(k.startswith("bom_radiation/year=2024/month=01/day=15/hour=03/") for k in inlet.keys("output")), inlet.keys("output")


def test_completions_complete_commands_in_bash_and_print_for_zsh_and_fish(inlet):
    bash = inlet.run("completions", "bash").stdout
    script = (
        f"source /dev/stdin <<'SCRIPT'\n{bash}\nSCRIPT\n"
        "COMP_WORDS=(inlet ex); COMP_CWORD=1; COMP_LINE='inlet ex'; COMP_POINT=8; _inlet inlet ex inlet; "
        "printf '%s\\n' \"${COMPREPLY[@]}\"\n"
    )
    completed = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30)
    assert completed.stdout.split() == ["explain"], (completed.stdout, completed.stderr)
    for shell, marker in (("zsh", "#compdef inlet"), ("fish", "complete -c inlet")):
        out = inlet.run("completions", shell).stdout
        assert marker in out and "backfill" in out, out[:300]
