#!/usr/bin/env bash
# Makes a throwaway PKI for tests in DIR with openssl: ca.{crt,key};
# server.{crt,key} for 127.0.0.1 and localhost; client.{crt,key} signed by
# ca; rogue-ca and rogue-client signed by it; token and wrong-token (mode 600).
# Usage: make_test_certs.sh DIR
set -euo pipefail
cd "$1"
ca() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$1.key" -out "$1.crt" -days 2 -subj "/CN=$1" 2>/dev/null
}
leaf() {  # name, signing ca, extensions
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$1.key" -out "$1.csr" -subj "/CN=$1" 2>/dev/null
  printf '%b' "$3" >"$1.ext"
  openssl x509 -req -in "$1.csr" -CA "$2.crt" -CAkey "$2.key" \
    -CAcreateserial -out "$1.crt" -days 2 -extfile "$1.ext" 2>/dev/null
}
ca ca
ca rogue-ca
leaf server ca "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth"
leaf client ca "extendedKeyUsage=clientAuth"
leaf rogue-client rogue-ca "extendedKeyUsage=clientAuth"
umask 077
openssl rand -hex 32 >token
openssl rand -hex 32 >wrong-token
chmod 600 ./*.key token wrong-token
