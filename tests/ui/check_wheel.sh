#!/usr/bin/env bash
# Check the built wheel carries the prebuilt JupyterLab extension and enables the server
# extension on install: build the wheel (the hook builds the JS), install ONLY that wheel
# into a fresh venv with no Node on PATH, and ask Jupyter.
#
#   tests/ui/check_wheel.sh            # builds dist/ from this checkout
#   WHEEL=path/to.whl tests/ui/check_wheel.sh
#
# Exit status 0 when `jupyter labextension list` shows mesh-magics enabled OK and
# `jupyter server extension list` shows mesh_magics enabled OK.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY="${PYTHON:-python3}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
say() { printf 'check_wheel: %s\n' "$*" >&2; }

if [ -z "${WHEEL:-}" ]; then
  say "building the wheel (pip wheel --no-deps)"
  start=$SECONDS
  "$PY" -m pip wheel --quiet --no-deps -w "$WORK/dist" . >&2
  say "wheel built in $((SECONDS - start)) s"
  WHEEL="$(ls "$WORK"/dist/mesh_magics-*.whl)"
fi
say "wheel: $WHEEL"

# 1. The wheel's contents: the prebuilt extension, its install.json, the server config.
"$PY" - "$WHEEL" <<'EOF'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
data = [n for n in names if ".data/data/" in n]
need = {
    "share/jupyter/labextensions/mesh-magics/package.json",
    "share/jupyter/labextensions/mesh-magics/install.json",
    "share/jupyter/labextensions/mesh-magics/static/style.js",
    "share/jupyter/labextensions/mesh-magics/schemas/mesh-magics/plugin.json",
    "etc/jupyter/jupyter_server_config.d/mesh_magics.json",
}
have = {n.split(".data/data/", 1)[1] for n in data}
missing = sorted(need - have)
if missing:
    sys.exit(f"check_wheel: the wheel lacks {missing}")
if not any(n.startswith("share/jupyter/labextensions/mesh-magics/static/remoteEntry.") for n in have):
    sys.exit("check_wheel: the wheel lacks the extension's remoteEntry.*.js")
print(f"check_wheel: wheel contents OK ({len(have)} data files)", file=sys.stderr)
EOF

# 2. A fresh venv; PATH holds only its bin, so no Node, npm or jlpm can help.
"$PY" -m venv "$WORK/venv"
VENV_BIN="$WORK/venv/bin"
clean_env=(env -i HOME="$HOME" PATH="$VENV_BIN" LANG=C.UTF-8 JUPYTER_CONFIG_DIR="$WORK/jupyter-config"
           JUPYTER_DATA_DIR="$WORK/jupyter-data" JUPYTER_RUNTIME_DIR="$WORK/jupyter-runtime")
if "${clean_env[@]}" sh -c 'command -v node || command -v npm' >/dev/null 2>&1; then
  say "node is still reachable in the clean environment"; exit 1
fi
say "installing the wheel alone (and its dependencies from the index) without Node"
start=$SECONDS
"${clean_env[@]}" "$VENV_BIN/python" -m pip install --quiet --disable-pip-version-check "$WHEEL" >&2
say "installed in $((SECONDS - start)) s"

# 3. What Jupyter says.
strip_colours() { sed 's/\x1b\[[0-9;]*m//g'; }
labext="$("${clean_env[@]}" "$VENV_BIN/jupyter" labextension list 2>&1 | strip_colours)"
serverext="$("${clean_env[@]}" "$VENV_BIN/jupyter" server extension list 2>&1 | strip_colours)"
printf '%s\n' "$labext" | grep -E "mesh-magics" >&2 || true
printf '%s\n' "$serverext" | grep -E -A2 "mesh_magics enabled" >&2 || true
status=0
if ! printf '%s\n' "$labext" | grep -Eq "mesh-magics v[0-9][^ ]* enabled .*OK"; then
  say "FAIL: jupyter labextension list does not show mesh-magics enabled OK"; printf '%s\n' "$labext" >&2; status=1
fi
if ! printf '%s\n' "$serverext" | grep -Eq "mesh_magics enabled"; then
  say "FAIL: jupyter server extension list does not show mesh_magics enabled"; printf '%s\n' "$serverext" >&2; status=1
elif ! printf '%s\n' "$serverext" | grep -A2 "mesh_magics enabled" | grep -Eq "mesh_magics [0-9][^ ]* OK"; then
  say "FAIL: mesh_magics is enabled but does not validate"; printf '%s\n' "$serverext" >&2; status=1
fi
[ $status -eq 0 ] && say "OK: mesh-magics labextension and mesh_magics server extension enabled from the wheel alone"
exit $status
