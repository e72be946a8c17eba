#!/usr/bin/env bash
# Builds the C++ gRPC Ping server into OUT_DIR (system libgrpc++, protoc, grpc_cpp_plugin).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:?usage: build.sh OUT_DIR}
mkdir -p "$out"
if [ "$out/grpc-ping-server" -nt "$here/server.cc" ] && [ "$out/grpc-ping-server" -nt "$here/ping.proto" ]; then
  exit 0
fi
protoc -I "$here" --cpp_out="$out" --grpc_out="$out" \
  --plugin=protoc-gen-grpc="$(command -v grpc_cpp_plugin)" "$here/ping.proto"
g++ -O2 -std=c++17 -I "$out" -o "$out/grpc-ping-server" "$here/server.cc" \
  "$out/ping.pb.cc" "$out/ping.grpc.pb.cc" $(pkg-config --cflags --libs grpc++ protobuf) -lpthread
