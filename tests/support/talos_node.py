#!/usr/bin/python3
"""Plays the Talos side of SideroLink with independent implementations: Python grpcio for the Provision API and
the event sink (stubs generated at run time by Debian's grpc_tools protoc from a copy of the project's .proto files
without proto3 `optional` labels, which that protoc predates; the wire format is the same), Python's ssl and the
h2 library (Debian python3-h2) for a Talos older than 1.9, which dials TLS without ALPN, and plain sockets for
kernel logs.

API is `siderolink.api` without the query: `https://HOST:PORT` dials TLS (trusting the PEM in the file named by
TLS_CA_FILE in the environment, else the system roots), `HOST:PORT` or `grpc://HOST:PORT` cleartext h2c.

Usage:
  talos_node.py provision API UUID PUBLIC_KEY [TOKEN] [grpc-tunnel]
                                                         -> one JSON line: the response, or {"code", "details"};
                                                            grpc-tunnel sets wireguard_over_grpc (TOKEN "" for none)
  talos_node.py provision-without-alpn API UUID PUBLIC_KEY [TOKEN]
                                                         -> the same over TLS that offers no ALPN (API https://…),
                                                            with "alpn": the protocol the server chose (null)
  talos_node.py provision-many API COUNT THREADS [TOKEN] [UUID_FILE]
                                                         -> provisions COUNT new UUIDs (random keys; the first COUNT
                                                            lines of UUID_FILE when given, TOKEN "-" for none) over
                                                            one channel from THREADS threads; one JSON line of figures
  talos_node.py provision-verify API COUNT THREADS TOKEN IFACE
                                                         -> provisions COUNT new UUIDs from THREADS threads at once;
                                                            right after each reply, `wg show IFACE allowed-ips` must
                                                            hold the machine's address; one JSON line of figures
  talos_node.py publish SINK EVENTS_JSON                 -> one JSON line per event: {"id", "code", "details"}
  talos_node.py send-logs HOST PORT RECORDS_FILE [SOURCE] -> sends the file's bytes over one TCP connection
                                                            (from SOURCE, when given)
"""

import errno
import json
import os
import re
import socket
import subprocess
import sys
import tempfile

PROTO_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "src", "proto")


def load_stubs():
    out = tempfile.mkdtemp(prefix="talos-node-")
    for name in os.listdir(PROTO_DIR):
        if name.endswith(".proto"):
            with open(os.path.join(PROTO_DIR, name)) as source:
                text = re.sub(r"^(\s*)optional ", r"\1", source.read(), flags=re.M)
            with open(os.path.join(out, name), "w") as target:
                target.write(text)
    protos = [name for name in os.listdir(out) if name.endswith(".proto")]
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I", out, "--python_out", out, "--grpc_python_out", out]
                   + protos, check=True)
    sys.path.insert(0, out)


def open_channel(api, ca_file=None, options=()):
    """A gRPC channel to API as Talos dials siderolink.api (see the usage above)."""
    import grpc
    if api.startswith("https://"):
        roots = None
        if ca_file:
            with open(ca_file, "rb") as ca:
                roots = ca.read()
        return grpc.secure_channel(api[len("https://"):], grpc.ssl_channel_credentials(roots), options=list(options))
    return grpc.insecure_channel(api.removeprefix("grpc://"), options=list(options))


def provision(api, uuid, public_key, token=None, tunnel=None):
    import grpc
    import provision_pb2
    import provision_pb2_grpc
    request = provision_pb2.ProvisionRequest(node_uuid=uuid, node_public_key=public_key, node_unique_token="",
                                             talos_version="v1.9.5")
    if token:
        request.join_token = token
    if tunnel == "grpc-tunnel":
        request.wireguard_over_grpc = True
    with open_channel(api, os.environ.get("TLS_CA_FILE")) as channel:
        stub = provision_pb2_grpc.ProvisionServiceStub(channel)
        try:
            response = stub.Provision(request, timeout=30)
        except grpc.RpcError as error:
            print(json.dumps({"code": error.code().name, "details": error.details()}))
            return
    print(json.dumps(response_fields(response)))


def response_fields(response):
    return {
        "server_endpoint": list(response.server_endpoint),
        "server_public_key": response.server_public_key,
        "node_address_prefix": response.node_address_prefix,
        "server_address": response.server_address,
        "grpc_peer_addr_port": response.grpc_peer_addr_port,
    }


def provision_without_alpn(api, uuid, public_key, token=None):
    """One Provision call as HTTP/2 over a TLS connection whose ClientHello has no ALPN extension."""
    import ssl
    import grpc
    import h2.config
    import h2.connection
    import h2.events
    import provision_pb2
    host, port = re.fullmatch(r"https://\[?(.+?)\]?:(\d+)", api).groups()
    request = provision_pb2.ProvisionRequest(node_uuid=uuid, node_public_key=public_key, node_unique_token="",
                                             talos_version="v1.8.4")
    if token:
        request.join_token = token
    body = request.SerializeToString()
    context = ssl.create_default_context(cafile=os.environ.get("TLS_CA_FILE"))  # and no set_alpn_protocols
    with socket.create_connection((host, int(port)), timeout=30) as raw, \
            context.wrap_socket(raw, server_hostname=host) as tls:
        connection = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        connection.initiate_connection()
        stream = connection.get_next_available_stream_id()
        connection.send_headers(stream, [(":method", "POST"), (":scheme", "https"), (":authority", f"{host}:{port}"),
                                         (":path", "/sidero.link.ProvisionService/Provision"),
                                         ("content-type", "application/grpc"), ("te", "trailers")])
        # A gRPC message: not compressed (0), 4-byte big-endian length, the protobuf.
        connection.send_data(stream, b"\0" + len(body).to_bytes(4, "big") + body, end_stream=True)
        tls.sendall(connection.data_to_send())
        headers, data, ended = {}, b"", False
        while not ended:
            chunk = tls.recv(65536)
            if not chunk:
                raise RuntimeError("the server closed the connection before the reply ended")
            for event in connection.receive_data(chunk):
                if isinstance(event, (h2.events.ResponseReceived, h2.events.TrailersReceived)):
                    headers.update(event.headers)
                elif isinstance(event, h2.events.DataReceived):
                    data += event.data
                    connection.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                elif isinstance(event, h2.events.StreamEnded):
                    ended = True
            tls.sendall(connection.data_to_send())
        alpn = tls.selected_alpn_protocol()
    status = int(headers.get("grpc-status", "-1"))
    if status != 0:
        code = next((c.name for c in grpc.StatusCode if c.value[0] == status), str(status))
        print(json.dumps({"code": code, "details": headers.get("grpc-message", ""), "alpn": alpn}))
        return
    print(json.dumps({**response_fields(provision_pb2.ProvisionResponse.FromString(data[5:])), "alpn": alpn}))


def provision_many(api, count, threads, token=None, uuid_file=None):
    import base64
    import concurrent.futures
    import time
    import uuid as uuids
    import grpc
    import provision_pb2
    import provision_pb2_grpc
    count, threads = int(count), int(threads)
    token = None if token == "-" else token
    if uuid_file:
        with open(uuid_file) as lines:
            fixed = [line.strip() for line in lines if line.strip()][:count]
        count = len(fixed)
    with open_channel(api, os.environ.get("TLS_CA_FILE")) as channel:
        stub = provision_pb2_grpc.ProvisionServiceStub(channel)

        def call(index):
            request = provision_pb2.ProvisionRequest(node_uuid=fixed[index] if uuid_file else str(uuids.uuid4()),
                                                     node_public_key=base64.b64encode(os.urandom(32)).decode(),
                                                     node_unique_token="", talos_version="v1.9.5")
            if token:
                request.join_token = token
            try:
                stub.Provision(request, timeout=30)
                return None
            except grpc.RpcError as error:
                return error.code().name

        started = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(threads) as pool:
            results = list(pool.map(call, range(count)))
        seconds = time.monotonic() - started
    errors = {}
    for result in results:
        if result:
            errors[result] = errors.get(result, 0) + 1
    print(json.dumps({"count": count, "seconds": seconds, "errors": errors}))


def provision_verify(api, count, threads, token, iface):
    import base64
    import concurrent.futures
    import threading
    import uuid as uuids
    import grpc
    import provision_pb2
    import provision_pb2_grpc
    count, threads = int(count), int(threads)
    start = threading.Barrier(threads)
    with open_channel(api) as channel:
        stub = provision_pb2_grpc.ProvisionServiceStub(channel)

        def call(index):
            if index < threads:
                start.wait()  # the first calls of every thread go out together
            request = provision_pb2.ProvisionRequest(node_uuid=str(uuids.uuid4()), join_token=token,
                                                     node_public_key=base64.b64encode(os.urandom(32)).decode())
            try:
                reply = stub.Provision(request, timeout=30)
            except grpc.RpcError as error:
                return {"error": error.code().name}
            address = reply.node_address_prefix.split("/")[0] + "/128"
            allowed = subprocess.run(["wg", "show", iface, "allowed-ips"], check=True, capture_output=True,
                                     text=True).stdout.split()
            return {"missing": address} if address not in allowed else {}

        with concurrent.futures.ThreadPoolExecutor(threads) as pool:
            results = list(pool.map(call, range(count)))
    print(json.dumps({"count": count, "errors": [r["error"] for r in results if "error" in r],
                      "missing": [r["missing"] for r in results if "missing" in r]}))


def event_request(event):
    """An events.EventRequest from a test's description: {"id", "type" and "payload" (a machine.<type> as JSON) or
    "type_url" and "value_hex" (raw Any bytes), "actor_id"}; without either, a request without data."""
    from google.protobuf import any_pb2, json_format
    import events_pb2
    import machine_pb2
    request = events_pb2.EventRequest(id=event["id"], actor_id=event.get("actor_id", ""))
    if "type" in event:
        message = getattr(machine_pb2, event["type"])()
        json_format.ParseDict(event.get("payload", {}), message)
        request.data.CopyFrom(any_pb2.Any(type_url="type.googleapis.com/machine." + event["type"],
                                          value=message.SerializeToString()))
    elif "type_url" in event:
        request.data.CopyFrom(any_pb2.Any(type_url=event["type_url"], value=bytes.fromhex(event["value_hex"])))
    return request


def publish(sink, events_json):
    import grpc
    import events_pb2_grpc
    with grpc.insecure_channel(sink) as channel:
        stub = events_pb2_grpc.EventSinkServiceStub(channel)
        for event in json.loads(events_json):
            try:
                stub.Publish(event_request(event), timeout=30)
                print(json.dumps({"id": event["id"], "code": "OK"}), flush=True)
            except grpc.RpcError as error:
                print(json.dumps({"id": event["id"], "code": error.code().name, "details": error.details()}), flush=True)


def send_logs(host, port, path, source_address=None):
    with open(path, "rb") as source:
        data = source.read()
    bind = (source_address, 0) if source_address else None
    with socket.create_connection((host, int(port)), timeout=10, source_address=bind) as connection:
        connection.sendall(data)
        try:
            connection.shutdown(socket.SHUT_WR)
        except OSError as error:
            # The server ended the connection after the last send: ENOTCONN here, and recv tells reset from close.
            if error.errno != errno.ENOTCONN:
                raise
        connection.settimeout(5)
        try:
            connection.recv(1)
        except (socket.timeout, ConnectionResetError):
            pass


def main():
    command, args = sys.argv[1], sys.argv[2:]
    if command == "send-logs":
        send_logs(*args)
        return
    load_stubs()
    commands = {"provision": provision, "provision-without-alpn": provision_without_alpn,
                "provision-many": provision_many, "provision-verify": provision_verify, "publish": publish}
    commands[command](*args)


if __name__ == "__main__":
    main()
