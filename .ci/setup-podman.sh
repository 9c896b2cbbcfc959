#!/usr/bin/env bash
# Podman for the container and pod plugin tests: installs podman and runc from Debian when missing
# and writes the one configuration every podman call on this machine uses. Idempotent: run it as
# often as you like (.ci/run calls it before the tests).
#
# Why these settings (each was a failure on the CI machine):
#   - runc, not crun: the host's cgroups (v1, nested) reject crun.
#   - small default_ulimits: podman's defaults (nofile=1048576, nproc=4194304) are above the host's
#     hard limits, so runc fails with "error setting rlimit type 7/6: operation not permitted".
#   - one storage.conf for every call: podman invoked with differing storage settings hangs ~20 s in
#     each container's cleanup; never pass --root/--runroot/--storage-driver.
#   - cgroupfs and file events: there is no systemd or journald.
#   - netavark + iptables: without them `podman run` (default network) fails with "netavark: No such
#     file or directory"; catatonit builds podman's local pause image (pods, `podman kube play`).
# The machine reaches no container registry: build test images locally (.ci/build-test-images.sh).
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
  echo "setup-podman: needs root (it installs packages and writes /etc/containers)" >&2
  exit 1
fi

need=()
command -v podman >/dev/null 2>&1 || need+=(podman)
command -v runc >/dev/null 2>&1 || need+=(runc)
command -v iptables >/dev/null 2>&1 || need+=(iptables)
[ -x /usr/lib/podman/netavark ] || need+=(netavark)
[ -x /usr/libexec/podman/catatonit ] || [ -x /usr/bin/catatonit ] || need+=(catatonit)
[ -x /bin/busybox ] || need+=(busybox-static)  # the test images' userland (.ci/build-test-images.sh)
if [ ${#need[@]} -gt 0 ]; then
  echo "setup-podman: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # --no-install-recommends keeps crun, buildah and fuse-overlayfs out.
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; }
fi

write_if_changed() {  # write stdin to $1 only when the content differs (keeps mtimes stable)
  local tmp
  tmp="$(mktemp)"
  cat >"$tmp"
  if [ -f "$1" ] && cmp -s "$tmp" "$1"; then
    rm -f "$tmp"
  else
    mkdir -p "$(dirname "$1")"
    mv "$tmp" "$1"
    chmod 644 "$1"
    echo "setup-podman: wrote $1"
  fi
}

write_if_changed /etc/containers/containers.conf <<'CONF'
# Written by .ci/setup-podman.sh (see the comments there).
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF

write_if_changed /etc/containers/storage.conf <<'CONF'
# Written by .ci/setup-podman.sh: every podman call uses this one storage configuration.
[storage]
driver = "overlay"
runroot = "/run/containers/storage"
graphroot = "/var/lib/containers/storage"
CONF

if podman info --format '{{.Host.OCIRuntime.Name}} {{.Store.GraphDriverName}}' >/tmp/podman-info.$$ 2>&1; then
  echo "setup-podman: $(podman --version) ready ($(cat /tmp/podman-info.$$))"
else
  echo "setup-podman: WARNING: 'podman info' failed:" >&2
  cat /tmp/podman-info.$$ >&2
fi
rm -f /tmp/podman-info.$$
