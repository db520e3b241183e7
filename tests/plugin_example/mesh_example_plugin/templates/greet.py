# mesh-template: greet
# summary: greet from a worker, showing the plugin's worker setup ran there
# magic: --name greet
# param who: "world" | whom to greet
# param times: 1 | how many greetings
#
# The example plugin's template.
import os

for _ in range(times):
    print(f"hello {who}", flush=True)
os.environ.get("MESH_EXAMPLE_PRELOAD", "no preload")
