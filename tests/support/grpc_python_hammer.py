#!/usr/bin/python3
"""Hammers the Provision API with Python grpcio (Debian python3-grpcio), a gRPC implementation independent of
grpc-js: CONNECTIONS times in a row it opens a channel on a new TCP connection, makes CALLS Provision calls (16 in
flight) and closes the channel. Stubs come from talos_node.load_stubs (protoc at run time).

Usage: grpc_python_hammer.py HOST:PORT CALLS CONNECTIONS
With TLS_CA_FILE in the environment it dials TLS, trusting only that CA's PEM.
Prints one JSON line: {"calls": answered, "failed": n, "peers": [distinct peers the server reported], "seconds": the
time from the first connection to the last reply}.
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from talos_node import load_stubs, open_channel  # noqa: E402

IN_FLIGHT = 16


def main():
    target, calls, connections = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    load_stubs()
    import grpc
    import provision_pb2
    import provision_pb2_grpc
    done = failed = 0
    peers = set()
    ca_file = os.environ.get("TLS_CA_FILE")
    api = f"https://{target}" if ca_file else target
    started = time.monotonic()
    for connection in range(connections):
        # A local subchannel pool: otherwise grpcio would share one TCP connection between the channels.
        channel = open_channel(api, ca_file, [("grpc.use_local_subchannel_pool", 1)])
        stub = provision_pb2_grpc.ProvisionServiceStub(channel)
        pending = []

        def settle(uuid, future):
            nonlocal done, failed
            try:
                reply = future.result()
                if list(reply.server_endpoint) != [uuid]:
                    raise RuntimeError(f"reply to {uuid} names {list(reply.server_endpoint)}")
                peers.add(reply.grpc_peer_addr_port)
                done += 1
            except Exception as error:  # grpc.RpcError or a wrong reply: counted, and named on stderr
                failed += 1
                print(f"{uuid}: {error}", file=sys.stderr)

        for call in range(calls):
            uuid = f"py-{connection}-{call}"
            request = provision_pb2.ProvisionRequest(node_uuid=uuid, node_public_key="", talos_version="v1.9.5")
            pending.append((uuid, stub.Provision.future(request, timeout=10)))
            if len(pending) >= IN_FLIGHT:
                settle(*pending.pop(0))
        for uuid, future in pending:
            settle(uuid, future)
        channel.close()
    seconds = time.monotonic() - started
    print(json.dumps({"calls": done, "failed": failed, "peers": sorted(peers), "seconds": seconds}))


if __name__ == "__main__":
    main()
