# Shared by scripts/run, scripts/test and scripts/check: make .venv and install into it.
# Usage: source scripts/_venv.sh EXTRAS   (EXTRAS: "" for the server, "dev" for tests)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# Two scripts started at once on a fresh clone (say ./scripts/run and ./scripts/test)
# would both create and install into .venv; the second waits for the first instead.
exec 9>"$root/.venv.lock"
flock 9
python="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "Creating .venv with $("$python" --version)" >&2
  "$python" -m venv .venv
fi
spec="."
[ -n "${1:-}" ] && spec=".[$1]"
# Reinstall only when pyproject.toml changed since the last install, so reruns are fast.
stamp=".venv/.installed-${1:-base}"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "Installing liveblog ${1:+with [$1] }into .venv" >&2
  log=.venv/install.log
  if ! { .venv/bin/python -m pip install --disable-pip-version-check --upgrade pip &&
         .venv/bin/python -m pip install --disable-pip-version-check -e "$spec"; } >"$log" 2>&1; then
    cat "$log" >&2
    echo "Installing into .venv failed (log above, also in $log)" >&2
    exit 1
  fi
  touch "$stamp"
fi
# Let go of the lock: the caller goes on to run for a long time.
flock -u 9
exec 9>&-
