"""Runs a command as this interpreter's only child and prints its peak
resident memory last on stderr, as `peak_rss_kib=N`."""
import resource
import subprocess
import sys

completed = subprocess.run(sys.argv[1:])
sys.stderr.flush()
print(f"peak_rss_kib={resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}", file=sys.stderr)
sys.exit(completed.returncode)
