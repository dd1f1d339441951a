#!/usr/bin/env bash
# Build the offline install bundle of kitchen-agent for one CPU architecture, on a
# machine that reaches PyPI. The box needs nothing else: copy the folder over and run
# its scripts/install.sh as root.
#
#   scripts/build-wheelhouse.sh [--arch x86_64|aarch64] [--output DIR] [--source DIR]
#                               [--wheels-from BUNDLE] [--no-build-isolation]
#
#   --arch     the box's CPU (default: this machine's); the wheels are PyPI's manylinux
#              ones for CPython 3.11 and glibc <= 2.36 (Debian 12), so an x86_64 machine
#              builds an aarch64 bundle without emulation
#   --output   default: wheelhouse/kitchen-agent-<version>-<arch>
#   --source   the project checkout to build (default: this one)
#   --wheels-from  take the dependency wheels from an earlier bundle of the same lock and
#              architecture instead of PyPI (offline; a new agent version, same deps)
#   --no-build-isolation  build the project with this Python's setuptools instead of a
#              fresh, pinned one from PyPI (faster; tests use it)
#
# Every dependency is pinned with its sha256 in packaging/requirements.lock (pip refuses
# any other file), so two bundles of one version hold the same packages. Wheels are built
# with SOURCE_DATE_EPOCH set, so they are byte-for-byte the same too.
#
# The bundle:
#   MANIFEST            name, version, arch, python, platform, lock hash (key=value)
#   SHA256SUMS          every other file of the bundle (sha256sum -c)
#   wheels/*.whl        the project and every runtime dependency
#   tools/pip-*.whl     the pip install.sh runs (packaging/installer.lock)
#   requirements.lock   the lock it was built from
#   scripts/ systemd/ config/agent.example.yaml README.md   what install.sh puts on a box
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-python3}
PYTHON_VERSION=3.11
# Debian 12's glibc; a wheel for a newer glibc would not load on the box.
GLIBC_MINOR_MAX=36
GLIBC_MINOR_MIN=17

arch=$(uname -m)
output=""
source_dir=$HERE
isolation=()
wheels_from=""
usage() {
  sed -n '6,7p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}
while (($#)); do
  case "$1" in
    --arch) arch=${2:?--arch needs a value}; shift 2 ;;
    --output) output=${2:?--output needs a value}; shift 2 ;;
    --source) source_dir=$(cd "${2:?--source needs a value}" && pwd); shift 2 ;;
    --wheels-from) wheels_from=$(cd "${2:?--wheels-from needs a bundle}" && pwd); shift 2 ;;
    --no-build-isolation) isolation=(--no-build-isolation); shift ;;
    -h | --help) usage ;;
    *) echo "build-wheelhouse.sh: unknown argument: $1" >&2; usage ;;
  esac
done
case "$arch" in
  x86_64 | amd64) arch=x86_64 ;;
  aarch64 | arm64) arch=aarch64 ;;
  *) echo "build-wheelhouse.sh: unsupported architecture '$arch' (x86_64 or aarch64)" >&2; exit 2 ;;
esac
lock=$source_dir/packaging/requirements.lock
installer_lock=$source_dir/packaging/installer.lock
for file in "$lock" "$installer_lock"; do
  [ -f "$file" ] || { echo "build-wheelhouse.sh: no lock file at $file (scripts/lock.sh makes it)" >&2; exit 2; }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# One timestamp for every file of the project's wheel: the last commit's, else a fixed
# one; dependencies built from source get the fixed one.
DEPENDENCY_DATE_EPOCH=315532800
SOURCE_DATE_EPOCH=$(git -C "$source_dir" log -1 --format=%ct 2>/dev/null || echo "$DEPENDENCY_DATE_EPOCH")
export SOURCE_DATE_EPOCH
pip=("$PYTHON" -m pip --disable-pip-version-check)
# Build backends fetched for isolated builds are pinned too.
build=(env "PIP_CONSTRAINT=$source_dir/packaging/build-constraints.txt" "${pip[@]}" wheel -q --no-deps)

# 1. The project's own wheel (pure Python), built from a clean copy of the sources so no
#    stale build/ folder or egg-info of the checkout can leak into it.
mkdir -p "$work/src" "$work/wheels"
for item in pyproject.toml setup.cfg README.md agent; do
  [ -e "$source_dir/$item" ] && cp -a "$source_dir/$item" "$work/src/"
done
find "$work/src" -name __pycache__ -prune -exec rm -rf {} +
"${build[@]}" "${isolation[@]}" -w "$work/wheels" "$work/src"
project_wheels=("$work"/wheels/kitchen_agent-*-py3-none-any.whl)
[ -f "${project_wheels[0]}" ] || { echo "build-wheelhouse.sh: the project did not build a pure-Python wheel" >&2; exit 1; }
version=$(basename "${project_wheels[0]}" | cut -d- -f2)

# 2. Every pinned dependency for the box's platform. --no-deps because the lock already
#    holds the whole dependency closure; the hashes in it make pip refuse anything else.
platforms=()
for ((minor = GLIBC_MINOR_MAX; minor >= GLIBC_MINOR_MIN; minor--)); do
  platforms+=(--platform "manylinux_2_${minor}_${arch}")
done
platforms+=(--platform "manylinux2014_${arch}")
lock_sha256=$(sha256sum "$lock" | cut -d' ' -f1)
installer_lock_sha256=$(sha256sum "$installer_lock" | cut -d' ' -f1)
if [ -n "$wheels_from" ]; then
  manifest=$wheels_from/MANIFEST
  [ -f "$manifest" ] || { echo "build-wheelhouse.sh: $wheels_from is not a bundle (no MANIFEST)" >&2; exit 2; }
  for pair in "arch=$arch" "lock_sha256=$lock_sha256" "installer_lock_sha256=$installer_lock_sha256" \
    "python=$PYTHON_VERSION"; do
    grep -qxF "$pair" "$manifest" || {
      echo "build-wheelhouse.sh: $wheels_from was not built for $pair: cannot reuse its wheels" >&2
      exit 2
    }
  done
  (cd "$wheels_from" && sha256sum --quiet --strict -c SHA256SUMS) || {
    echo "build-wheelhouse.sh: $wheels_from is damaged (SHA256SUMS)" >&2
    exit 2
  }
  find "$wheels_from/wheels" -name '*.whl' ! -name 'kitchen_agent-*' -exec cp {} "$work/wheels/" \;
  cp -R "$wheels_from/tools" "$work/tools"
else
  "${pip[@]}" download -q --no-deps --require-hashes --only-binary=:all: -r "$installer_lock" \
    -d "$work/tools"

  "${pip[@]}" download -q --no-deps --require-hashes --prefer-binary -r "$lock" \
    -d "$work/download" "${platforms[@]}" \
    --python-version "$PYTHON_VERSION" --implementation cp --abi "cp${PYTHON_VERSION/./}"

  # 3. A dependency PyPI has only as source is built here; that is right only for pure
  #    Python, whose wheel runs on any architecture.
  for file in "$work"/download/*; do
    case "$file" in
      *.whl) cp "$file" "$work/wheels/" ;;
      *.tar.gz | *.zip)
        # Not the project's date: a dependency's wheel must not change with the project.
        SOURCE_DATE_EPOCH=$DEPENDENCY_DATE_EPOCH "${build[@]}" "${isolation[@]}" -w "$work/built" "$file"
        ;;
      *) echo "build-wheelhouse.sh: unexpected download $(basename "$file")" >&2; exit 1 ;;
    esac
  done
  for file in "$work"/built/*.whl; do
    [ -e "$file" ] || continue
    case "$file" in
      *-none-any.whl) cp "$file" "$work/wheels/" ;;
      *)
        echo "build-wheelhouse.sh: $(basename "$file") has no manylinux wheel for $arch on PyPI" \
          "and is not pure Python: it cannot be built for $arch here" >&2
        exit 1
        ;;
    esac
  done
fi

# 4. The bundle: wheels, what install.sh needs on the box, a manifest and checksums.
output=${output:-$HERE/wheelhouse/kitchen-agent-$version-$arch}
staging=$work/bundle
mkdir -p "$staging/scripts" "$staging/systemd" "$staging/config"
mv "$work/wheels" "$staging/wheels"
mv "$work/tools" "$staging/tools"
cp "$lock" "$staging/requirements.lock"
for script in install.sh uninstall.sh refresh-credentials.sh install-lib.sh; do
  cp "$source_dir/scripts/$script" "$staging/scripts/"
done
cp "$source_dir"/systemd/kitchen-agent.* "$staging/systemd/"
cp "$source_dir/config/agent.example.yaml" "$staging/config/"
cp "$source_dir/README.md" "$staging/"
{
  echo "# kitchen-agent offline install bundle (scripts/build-wheelhouse.sh)"
  echo "name=kitchen-agent"
  echo "version=$version"
  echo "arch=$arch"
  echo "python=$PYTHON_VERSION"
  echo "platform=manylinux_2_${GLIBC_MINOR_MAX}_$arch"
  echo "lock_sha256=$lock_sha256"
  echo "installer_lock_sha256=$installer_lock_sha256"
  echo "source_date_epoch=$SOURCE_DATE_EPOCH"
} >"$staging/MANIFEST"
(cd "$staging" && find . -type f -printf '%P\n' | LC_ALL=C sort | xargs -d '\n' sha256sum) \
  >"$work/SHA256SUMS"
mv "$work/SHA256SUMS" "$staging/SHA256SUMS"
find "$staging" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
chmod -R u=rwX,go=rX "$staging"

mkdir -p "$(dirname "$output")"
rm -rf "$output"
mv "$staging" "$output"
echo "wheelhouse: $output (kitchen-agent $version, $arch," \
  "$(find "$output/wheels" -name '*.whl' | wc -l) wheels)"
