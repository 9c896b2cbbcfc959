#!/usr/bin/env bash
# Builds the container images the tests use, with no registry: root filesystems assembled from this
# machine's files and loaded with `podman import` (or `docker import`).
#
#   localhost/flyte-busybox:test  Debian's busybox-static as /bin/* (sh, cat, wc, sleep, tail...).
#   localhost/flyte-python:test   the interpreter $PYTHON (default: python3) at its own prefix, with
#                                 its stdlib, the shared libraries it loads, busybox for /bin/sh, and
#                                 the packages named in $FLYTE_IMAGE_PACKAGES copied from $PYTHON's
#                                 environment (default: cloudpickle and flyte with its runtime deps).
#                                 `python3`/`python` are on PATH; the packages live in /opt/flyte/site
#                                 (on PYTHONPATH). Same Python minor version as the host, so cloudpickled
#                                 functions load in it.
#
# Usage: .ci/build-test-images.sh [busybox] [python]     (default: both)
# An image is rebuilt only when what it is made from changed (a `flyte.fingerprint` label); FORCE=1
# rebuilds anyway. FLYTE_CONTAINER_RUNTIME=docker uses docker instead of podman.
# Needs /bin/busybox (busybox-static; .ci/setup-podman.sh installs it).
set -euo pipefail

RT="${FLYTE_CONTAINER_RUNTIME:-podman}"
PY="${PYTHON:-python3}"
BUSYBOX="${BUSYBOX:-/bin/busybox}"
BUSYBOX_IMAGE="${BUSYBOX_IMAGE:-localhost/flyte-busybox:test}"
PYTHON_IMAGE="${PYTHON_IMAGE:-localhost/flyte-python:test}"
PACKAGES="${FLYTE_IMAGE_PACKAGES:-cloudpickle flyte pydantic pydantic_core annotated_types typing_extensions typing_inspection pluggy}"
BUILDER_VERSION=2  # bump when the way images are assembled changes

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(busybox python)

work="$(mktemp -d /tmp/flyte-image-build.XXXXXX)"
trap 'rm -rf "$work"' EXIT

fingerprint_of() {  # the label of an existing image, or nothing
  "$RT" image inspect --format '{{index .Labels "flyte.fingerprint"}}' "$1" 2>/dev/null || true
}

add_busybox() {  # $1: rootfs. busybox and one link per applet in /bin.
  local root="$1"
  mkdir -p "$root/bin" "$root/tmp" "$root/etc" "$root/proc" "$root/sys" "$root/dev" "$root/var"
  chmod 1777 "$root/tmp"
  cp "$BUSYBOX" "$root/bin/busybox"
  local applet
  for applet in $("$BUSYBOX" --list); do
    [ "$applet" = busybox ] || [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
}

import_rootfs() {  # $1: rootfs, $2: image, $3: fingerprint, $4: PATH, $5...: more --change lines
  local root="$1" image="$2" fp="$3" path="$4" old
  shift 4
  local changes=()
  local c
  for c in "$@"; do changes+=(--change "$c"); done
  old="$("$RT" image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)"
  tar -C "$root" -cf "$work/rootfs.tar" .
  if ! "$RT" import \
    --change "ENV PATH=$path" \
    --change 'CMD ["/bin/sh"]' \
    --change "LABEL flyte.fingerprint=$fp" \
    "${changes[@]}" \
    "$work/rootfs.tar" "$image" >"$work/import.log" 2>&1; then
    cat "$work/import.log" >&2
    exit 1
  fi
  rm -f "$work/rootfs.tar"
  [ -z "$old" ] || "$RT" rmi "$old" >/dev/null 2>&1 || true  # the replaced build, now untagged
  echo "build-test-images: built $image"
}

build_busybox() {
  [ -x "$BUSYBOX" ] || { echo "build-test-images: $BUSYBOX is missing (apt-get install busybox-static)" >&2; exit 1; }
  local fp
  fp="v$BUILDER_VERSION-$(sha256sum "$BUSYBOX" | cut -c1-16)"
  if [ "${FORCE:-0}" != 1 ] && [ "$(fingerprint_of "$BUSYBOX_IMAGE")" = "$fp" ]; then
    echo "build-test-images: $BUSYBOX_IMAGE is up to date"
    return
  fi
  local root="$work/busybox"
  add_busybox "$root"
  import_rootfs "$root" "$BUSYBOX_IMAGE" "$fp" /bin
}

build_python() {
  # What to copy, computed by the interpreter itself: its prefix, binary, stdlib, and the packages.
  "$PY" - "$work/plan" $PACKAGES <<'PYEOF'
import hashlib, importlib, os, sys, sysconfig

plan_path, names = sys.argv[1], sys.argv[2:]
stdlib = sysconfig.get_paths()["stdlib"]
dynload = os.path.join(stdlib, "lib-dynload")
exe = os.path.realpath(sys.executable if sys.prefix == sys.base_prefix else
                       os.path.join(sys.base_prefix, "bin", f"python{sys.version_info[0]}.{sys.version_info[1]}"))
if not os.path.exists(exe):
    exe = os.path.realpath(sys._base_executable)
version = f"{sys.version_info[0]}.{sys.version_info[1]}"
fp = hashlib.sha256(f"{exe}|{sys.version}".encode())
lines = [f"EXE {exe}", f"STDLIB {stdlib}", f"DYNLOAD {dynload}", f"VERSION {version}"]
for name in names:
    try:
        mod = importlib.import_module(name)
    except ImportError:
        if name in ("cloudpickle", "flyte"):  # an image without them cannot run a task
            sys.exit(f"build-test-images: {name} is not importable by {sys.executable}; set PYTHON to "
                     "an interpreter that has flyte installed (e.g. PYTHON=.venv/bin/python)")
        print(f"build-test-images: {name} is not installed for {sys.executable}; left out", file=sys.stderr)
        continue
    path = os.path.dirname(mod.__file__) if os.path.basename(mod.__file__) == "__init__.py" else mod.__file__
    lines.append(f"PKG {path}")
    for root, dirs, files in os.walk(path) if os.path.isdir(path) else [("", [], [path])]:
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for f in sorted(files):
            if not f.endswith(".pyc"):
                st = os.stat(os.path.join(root, f))
                fp.update(f"{root}/{f}|{st.st_size}|{st.st_mtime_ns}".encode())
lines.append(f"FINGERPRINT {fp.hexdigest()[:16]}")
with open(plan_path, "w") as out:
    out.write("\n".join(lines) + "\n")
PYEOF
  local exe stdlib dynload site version fp
  exe="$(awk '$1=="EXE"{print $2}' "$work/plan")"
  stdlib="$(awk '$1=="STDLIB"{print $2}' "$work/plan")"
  dynload="$(awk '$1=="DYNLOAD"{print $2}' "$work/plan")"
  local site=/opt/flyte/site  # on PYTHONPATH: works whatever site directories the interpreter has
  version="$(awk '$1=="VERSION"{print $2}' "$work/plan")"
  fp="v$BUILDER_VERSION-$(awk '$1=="FINGERPRINT"{print $2}' "$work/plan")-$(sha256sum "$BUSYBOX" | cut -c1-8)"
  if [ "${FORCE:-0}" != 1 ] && [ "$(fingerprint_of "$PYTHON_IMAGE")" = "$fp" ]; then
    echo "build-test-images: $PYTHON_IMAGE is up to date"
    return
  fi
  local root="$work/python"
  add_busybox "$root"
  # The interpreter at its own path (its RUNPATH and prefix stay valid), linked from /usr/local/bin.
  mkdir -p "$root$(dirname "$exe")" "$root/usr/local/bin" "$root$stdlib" "$root$site"
  cp "$exe" "$root$exe"
  ln -s "$exe" "$root/usr/local/bin/python3"
  ln -s "$exe" "$root/usr/local/bin/python$version"
  ln -s "$exe" "$root/usr/local/bin/python"
  # The stdlib without tests, tkinter/idle, site-packages and the static library.
  tar -C "$stdlib" \
    --exclude=./site-packages --exclude=./dist-packages --exclude=./test --exclude=./idlelib \
    --exclude=./tkinter --exclude=./turtledemo --exclude=./ensurepip --exclude=./lib2to3 \
    --exclude='./config-*' --exclude='./lib-dynload/_tkinter*' --exclude='./lib-dynload/_test*' \
    -cf - . | tar -C "$root$stdlib" -xf -
  if [ "$dynload" != "$stdlib/lib-dynload" ] && [ -d "$dynload" ]; then
    mkdir -p "$root$dynload" && cp -a "$dynload/." "$root$dynload/"
  fi
  # The packages.
  local pkg
  while read -r pkg; do
    cp -a "$pkg" "$root$site/"
  done < <(awk '$1=="PKG"{print $2}' "$work/plan")
  find "$root$site" -name '*.pyc' -delete
  # Every shared library the binary and the extension modules load (ldd), at the same paths.
  local libs
  libs="$work/libs"
  : >"$libs"
  while read -r so; do
    ldd "$so" 2>/dev/null | awk '/=>/ && $3 ~ /^\// {print $3} !/=>/ && $1 ~ /^\// {print $1}' >>"$libs" || true
  done < <(printf '%s\n' "$exe"; find "$root" -name '*.so*' -type f)
  local lib
  for lib in $(sort -u "$libs"); do
    [ -e "$root$lib" ] && continue
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
  import_rootfs "$root" "$PYTHON_IMAGE" "$fp" /usr/local/bin:/bin "ENV PYTHONPATH=$site"
}

for t in "${targets[@]}"; do
  case "$t" in
    busybox) build_busybox ;;
    python) build_python ;;
    *) echo "build-test-images: unknown image '$t' (busybox, python)" >&2; exit 2 ;;
  esac
done
