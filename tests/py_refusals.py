"""A client written outside the project: Python grpcio with stubs generated
from proto/ps.proto at run time. Against a server started with mutual TLS
and a bearer token it checks that every ParameterServer method refuses a
plaintext client, a TLS client without a client certificate and clients
with a wrong or no token, that the health service stays open, and that the
right credentials get through. Prints one line per check and ends with
"N passed, N failed"; exits 1 if any failed.

Usage: py_refusals.py --address=127.0.0.1:PORT --proto=proto/ps.proto --pki=DIR
(DIR as made by common/make_test_certs.sh)
"""
import argparse
import importlib
import os
import sys
import tempfile

import grpc
from grpc_tools import protoc

METHODS = ["Init", "Pull", "Push", "Checkpoint", "GetStats"]
HEALTH = "/grpc.health.v1.Health/Check"


def load_stubs(proto_path, out_dir):
    proto_dir, name = os.path.split(os.path.abspath(proto_path))
    rc = protoc.main(["protoc", "-I" + proto_dir, "--python_out=" + out_dir,
                      "--grpc_python_out=" + out_dir, name])
    if rc != 0:
        sys.exit("protoc failed on " + proto_path)
    sys.path.insert(0, out_dir)
    base = name[:-len(".proto")]
    return importlib.import_module(base + "_pb2"), importlib.import_module(
        base + "_pb2_grpc")


def read(pki, name):
    with open(os.path.join(pki, name), "rb") as f:
        return f.read()


def channel(address, pki, client_cert, token):
    if pki is None:
        return grpc.insecure_channel(address)
    creds = grpc.ssl_channel_credentials(
        root_certificates=read(pki, "ca.crt"),
        private_key=read(pki, client_cert + ".key") if client_cert else None,
        certificate_chain=read(pki, client_cert + ".crt") if client_cert else None)
    if token is not None:
        creds = grpc.composite_channel_credentials(
            creds, grpc.access_token_call_credentials(token))
    return grpc.secure_channel(address, creds)


def requests(pb):
    caller = pb.Caller(role=pb.Caller.WORKER, rank=0)
    return {
        "Init": pb.InitRequest(caller=caller, num_servers=1, num_workers=1,
                               mode=pb.MODE_SYNC, chunk_bytes=1024),
        "Pull": pb.PullRequest(caller=caller, keys=[0]),
        "Push": pb.PushRequest(caller=caller, step=0),
        "Checkpoint": pb.CheckpointRequest(caller=caller, name="x"),
        "GetStats": pb.StatsRequest(caller=caller),
    }


def call_code(stub, method, request):
    try:
        getattr(stub, method)(request, timeout=5)
        return grpc.StatusCode.OK
    except grpc.RpcError as e:
        return e.code()


def health_code(ch):
    check = ch.unary_unary(HEALTH, request_serializer=lambda b: b,
                           response_deserializer=lambda b: b)
    try:
        reply = check(b"", timeout=5)
        return grpc.StatusCode.OK if reply == b"\x08\x01" else None
    except grpc.RpcError as e:
        return e.code()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--address", required=True)
    ap.add_argument("--proto", required=True)
    ap.add_argument("--pki", required=True)
    a = ap.parse_args()
    pb, pb_grpc = load_stubs(a.proto, tempfile.mkdtemp())
    token = read(a.pki, "token").decode().strip()
    wrong = read(a.pki, "wrong-token").decode().strip()
    U, A = grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNAUTHENTICATED
    clients = [  # name, channel, expected code of every method
        ("plaintext", channel(a.address, None, None, None), U),
        ("TLS without client certificate",
         channel(a.address, a.pki, None, token), U),
        ("client certificate from another CA",
         channel(a.address, a.pki, "rogue-client", token), U),
        ("mTLS with a wrong token", channel(a.address, a.pki, "client", wrong), A),
        ("mTLS with no token", channel(a.address, a.pki, "client", None), A),
    ]
    passed = failed = 0
    for name, ch, want in clients:
        stub = pb_grpc.ParameterServerStub(ch)
        for method, req in requests(pb).items():
            got = call_code(stub, method, req)
            ok = got == want
            passed, failed = passed + ok, failed + (not ok)
            print(f"{'PASS' if ok else 'FAIL'} {name}: {method} -> {got.name}"
                  f" (want {want.name})")
    good = channel(a.address, a.pki, "client", token)
    no_token = channel(a.address, a.pki, "client", None)
    for name, ch in [("mTLS with no token", no_token),
                     ("mTLS with the token", good)]:
        ok = health_code(ch) == grpc.StatusCode.OK
        passed, failed = passed + ok, failed + (not ok)
        print(f"{'PASS' if ok else 'FAIL'} {name}: health Check is SERVING")
    got = call_code(pb_grpc.ParameterServerStub(good), "GetStats",
                    pb.StatsRequest(caller=pb.Caller(role=pb.Caller.ADMIN)))
    ok = got == grpc.StatusCode.OK
    passed, failed = passed + ok, failed + (not ok)
    print(f"{'PASS' if ok else 'FAIL'} mTLS with the token: GetStats -> {got.name}")
    print(f"{passed} passed, {failed} failed")
    for ch in [c for _, c, _ in clients] + [good, no_token]:
        ch.close()
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    code = main()
    # grpcio's C core threads can crash the interpreter's teardown (SIGSEGV
    # after the summary line was seen once in 10 runs, channels open): the
    # verdict is printed, so leave without tearing down.
    sys.stdout.flush()
    os._exit(code)
