#!/usr/bin/env bash
# Install the Debian packages that the real integration tests use, when we can (root + apt-get).
# Never fails the build: a test whose tool is still missing skips with a loud reason.
set -u
want=(chromium dcmtk orthanc orthanc-dicomweb postgresql)
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v storescu >/dev/null 2>&1 || missing+=(dcmtk)
command -v Orthanc >/dev/null 2>&1 || missing+=(orthanc)
ls /usr/share/orthanc/plugins/libOrthancDicomWeb.so >/dev/null 2>&1 || missing+=(orthanc-dicomweb)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "system-packages: not root or no apt-get; missing ${missing[*]} (their tests will skip)" >&2
  exit 0
fi
echo "system-packages: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null 2>&1 || true
for pkg in "${missing[@]}"; do
  apt-get install -y -qq --no-install-recommends "$pkg" >/dev/null 2>&1 \
    || echo "system-packages: could not install $pkg (its tests will skip)" >&2
done
# Orthanc and PostgreSQL must not run as system services here: tests start their own.
for svc in orthanc postgresql; do
  (service "$svc" stop >/dev/null 2>&1 || true)
done
exit 0
