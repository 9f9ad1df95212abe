#!/usr/bin/env bash
# Make local certificates for TLS and mutual TLS between the collector and the sidecar:
#   ca.pem                       a private CA (its key stays beside it: keep the directory private)
#   collector.pem, collector-key.pem   the collector: server (return receiver) and client (to the sidecar)
#   sidecar.pem, sidecar-key.pem       the sidecar: server (OTLP) and client (to the return receiver)
# Both leaf certificates name localhost and 127.0.0.1; pass other names as arguments, e.g.
#   scripts/make-certs.sh DIR sidecar.internal 10.0.0.5
# Usage: scripts/make-certs.sh [DIR] [NAME ...]   (DIR defaults to ~/.local/state/vigil/certs)
# Existing files are kept; delete the directory to start over.
set -euo pipefail

dir=${1:-$HOME/.local/state/vigil/certs}
shift || true
mkdir -p "$dir"
chmod 700 "$dir"
cd "$dir"

san="DNS:localhost,IP:127.0.0.1,IP:::1"
for name in "$@"; do
  if [[ $name =~ ^[0-9.]+$ || $name == *:* ]]; then san+=",IP:$name"; else san+=",DNS:$name"; fi
done

if [[ ! -f ca.pem ]]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 825 \
    -subj "/CN=Vigil local CA" -keyout ca-key.pem -out ca.pem \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
fi

for leaf in collector sidecar; do
  [[ -f $leaf.pem ]] && continue
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=vigil-$leaf" \
    -keyout "$leaf-key.pem" -out "$leaf.csr" 2>/dev/null
  openssl x509 -req -in "$leaf.csr" -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 397 \
    -out "$leaf.pem" -extfile <(printf '%s\n' \
      "subjectAltName=$san" \
      "basicConstraints=critical,CA:FALSE" \
      "keyUsage=critical,digitalSignature" \
      "extendedKeyUsage=serverAuth,clientAuth") 2>/dev/null
  rm -f "$leaf.csr"
done
chmod 600 ./*-key.pem
echo "$dir"
