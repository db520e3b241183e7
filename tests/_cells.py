"""Cell sources shared by the failure tests (real processes: the cell really kills its worker)."""

# The cell kills its own worker process the first time it runs (a marker file
# tells the attempts apart), like a worker lost to the OOM killer mid-run.
KILL_ONCE = """
import os, time
marker = {marker!r}
print('attempt on pid', os.getpid(), flush=True)
if not os.path.exists(marker):
    open(marker, 'w').close()
    time.sleep(0.3)
    os._exit(1)
print('survived')
"""
