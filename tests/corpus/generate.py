"""The corpus cases too large, or with keys too long, to keep as files: each
function returns the case's (key, bytes), made the same way every time."""
import io
import zipfile

ASX_ROW = b"AAA,20201201,1,2,0.5,1.5,100\n"
FOLDER = "f" * 250


def csv_10mb_line():
    """A record of 10 MiB (one enormous ticker) between two ordinary ones."""
    return "asx_eod_long_line.csv", ASX_ROW + b"T" * (10 << 20) + b",20201201,1,2,0.5,1.5,100\n" + ASX_ROW


def csv_100k_columns():
    """A header of 100,003 names and one record as wide."""
    names = ["DataTimeStamp", "Latitude", "Longitude"] + [f"c{i}" for i in range(100_000)]
    values = ["2021-01-15 00:00:00", "40.8", "-124.1"] + ["1"] * 100_000
    return "buoy.z05.00.20210115.000000.wide.csv", (",".join(names) + "\n" + ",".join(values) + "\n").encode()


def zip_bomb():
    """100 MiB of zeros in about 100 KiB: past the 200x expansion limit."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("asx_eod_zeros.csv", b"0" * (100 << 20))
    return "asx_eod_bomb.zip", out.getvalue()


def _key_of_1024_bytes(name_start, name_end):
    """`<four folders of 250 bytes>/<name>`: 1,024 bytes with `in/` (S3's
    limit), each folder and the name within a local file system's 255."""
    folders = "/".join([FOLDER] * 4) + "/"
    padding = 1024 - len("in/") - len(folders) - len(name_start) - len(name_end)
    key = folders + name_start + "n" * padding + name_end
    assert len(("in/" + key).encode()) == 1024
    return key


def key_1024_bytes_loaded():
    return _key_of_1024_bytes("asx_eod_", ".csv"), ASX_ROW


def key_1024_bytes_failed():
    return _key_of_1024_bytes("", ".unknown"), b"no pipeline reads this"
