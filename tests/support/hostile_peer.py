#!/usr/bin/python3
"""A misbehaving machine for the fault tests (tests/faults/): raw sockets for the kernel-log port and the h2c
ports, Python grpcio for well-formed and malformed gRPC calls. Independent of the product's code. Every command
prints one JSON line of results on stdout.

Usage:
  hostile_peer.py send HOST PORT SOURCE FILE [CHUNK INTERVAL]
      sends FILE over one TCP connection from SOURCE ("-": any), CHUNK bytes every INTERVAL seconds (default:
      all at once), then half-closes and waits for the server to close: {"sent", "reply_hex"}
  hostile_peer.py reset HOST PORT SOURCE FILE
      sends FILE, then aborts the connection with a TCP reset: {"sent"}
  hostile_peer.py hold HOST PORT SOURCE COUNT TAG
      opens COUNT connections at once, prints {"open"}, waits for a line on stdin, then sends one record
      (msg "TAG i") on each connection i and closes them all: {"sent"}
  hostile_peer.py flood HOST PORT SOURCE SECONDS TAG [MAX]
      sends records (msg "TAG n") as fast as it can for SECONDS (or MAX records), until the server goes away:
      {"sent", "error"}
  hostile_peer.py trickle HOST PORT SOURCE COUNT INTERVAL TAG
      sends COUNT records, one every INTERVAL seconds, msg "TAG n sent=<epoch ms>": {"sent"}
  hostile_peer.py proxy LISTEN_PORT HOST PORT SOURCE
      forwards connections to [::1]:LISTEN_PORT to HOST:PORT from SOURCE (so a gRPC client's calls come from a
      machine's address); prints {"listening"} and runs until killed
  hostile_peer.py provision API REQUESTS_FILE THREADS
      REQUESTS_FILE: a JSON list of ProvisionRequest fields; makes the calls THREADS at a time on one channel:
      {"results": [{"code", "details"} or {"code": "OK", reply fields}]} in request order
  hostile_peer.py publish SINK EVENTS_FILE
      EVENTS_FILE: one JSON object per line: {"id", "type", "payload"} (a machine.* event), {"id", "type_url",
      "value_hex"}, {"id"} (no data) or {"raw_hex"} (request bytes sent as they are); calls on one channel:
      {"codes": {code: count}, "failures": [first few non-OK]}
  hostile_peer.py cut-call API UUID PUBLIC_KEY TOKEN HOW
      a Provision call over a raw HTTP/2 connection that the client abandons: HOW=partial sends half the request
      message and closes; HOW=complete sends all of it and closes without reading the answer; HOW=answered
      (the control case) sends all of it and reads for 2 s: {"sent", "reply_bytes"}
"""

import concurrent.futures
import json
import os
import resource
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

BOOT_MS = 1_780_000_000_000  # a fixed boot time, so every record of a run belongs to one boot


def record(msg):
    """A Talos record without seq, so that records on concurrent connections are never taken for replays."""
    return json.dumps({"facility": "kern", "msg": msg + "\n", "priority": "info", "talos-level": "info"}) + "\n"


def connect(host, port, source):
    bind = None if source == "-" else (source, 0)
    return socket.create_connection((host, int(port)), timeout=30, source_address=bind)


def drain(connection, seconds=10):
    """Reads until the server closes (or the time is up); returns what it sent."""
    connection.settimeout(seconds)
    received = b""
    try:
        while True:
            chunk = connection.recv(65536)
            if not chunk:
                break
            received += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    return received


def send(host, port, source, path, chunk=None, interval=None):
    with open(path, "rb") as file:
        data = file.read()
    with connect(host, port, source) as connection:
        if chunk is None:
            connection.sendall(data)
        else:
            for offset in range(0, len(data), int(chunk)):
                connection.sendall(data[offset:offset + int(chunk)])
                time.sleep(float(interval))
        try:
            connection.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        reply = drain(connection)
    print(json.dumps({"sent": len(data), "reply_hex": reply[:256].hex()}))


def reset(host, port, source, path):
    with open(path, "rb") as file:
        data = file.read()
    connection = connect(host, port, source)
    connection.sendall(data)
    time.sleep(0.2)
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    connection.close()
    print(json.dumps({"sent": len(data)}))


def hold(host, port, source, count, tag):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, int(count) + 64)), hard))
    connections = [connect(host, port, source) for _ in range(int(count))]
    print(json.dumps({"open": len(connections)}), flush=True)
    sys.stdin.readline()
    for index, connection in enumerate(connections):
        connection.sendall(record(f"{tag} {index}").encode())
    for connection in connections:
        connection.shutdown(socket.SHUT_WR)
    for connection in connections:
        drain(connection, 5)
        connection.close()
    print(json.dumps({"sent": len(connections)}))


def flood(host, port, source, seconds, tag, most=None):
    sent = 0
    error = None
    deadline = time.monotonic() + float(seconds)
    limit = int(most) if most else float("inf")
    with connect(host, port, source) as connection:
        try:
            while time.monotonic() < deadline and sent < limit:
                batch = "".join(record(f"{tag} {sent + i}") for i in range(1000))
                connection.sendall(batch.encode())
                sent += 1000
            connection.shutdown(socket.SHUT_WR)
            drain(connection)
        except OSError as failure:
            error = str(failure)
    print(json.dumps({"sent": sent, "error": error}))


def trickle(host, port, source, count, interval, tag):
    with connect(host, port, source) as connection:
        for n in range(int(count)):
            connection.sendall(record(f"{tag} {n} sent={int(time.time() * 1000)}").encode())
            time.sleep(float(interval))
        connection.shutdown(socket.SHUT_WR)
        drain(connection)
    print(json.dumps({"sent": int(count)}))


def proxy(listen_port, host, port, source):
    listener = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("::1", int(listen_port)))
    listener.listen(64)
    print(json.dumps({"listening": int(listen_port)}), flush=True)

    def pipe(source_socket, target_socket):
        try:
            while True:
                data = source_socket.recv(65536)
                if not data:
                    break
                target_socket.sendall(data)
            target_socket.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    while True:
        client, _ = listener.accept()
        upstream = connect(host, port, source)
        upstream.settimeout(None)
        # Without it, Nagle's algorithm and delayed ACKs hold each small gRPC frame back for ~40 ms.
        for end in (client, upstream):
            end.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for a, b in ((client, upstream), (upstream, client)):
            threading.Thread(target=pipe, args=(a, b), daemon=True).start()


def provision(api, requests_file, threads):
    from talos_node import load_stubs
    load_stubs()
    import grpc
    import provision_pb2
    import provision_pb2_grpc
    with open(requests_file) as file:
        requests = json.load(file)
    with grpc.insecure_channel(api, options=[("grpc.max_send_message_length", 64 << 20)]) as channel:
        stub = provision_pb2_grpc.ProvisionServiceStub(channel)

        def call(fields):
            try:
                reply = stub.Provision(provision_pb2.ProvisionRequest(**fields), timeout=60)
            except grpc.RpcError as error:
                return {"code": error.code().name, "details": error.details()}
            return {"code": "OK", "server_endpoint": reply.server_endpoint[-1],
                    "server_public_key": reply.server_public_key,
                    "node_address_prefix": reply.node_address_prefix, "server_address": reply.server_address}

        with concurrent.futures.ThreadPoolExecutor(int(threads)) as pool:
            results = list(pool.map(call, requests))
    print(json.dumps({"results": results}))


def publish(sink, events_file):
    from talos_node import event_request, load_stubs
    load_stubs()
    import grpc
    codes = {}
    failures = []
    with grpc.insecure_channel(sink) as channel:
        call = channel.unary_unary("/events.EventSinkService/Publish")
        with open(events_file) as file:
            for text in file:
                event = json.loads(text)
                if "raw_hex" in event:
                    body = bytes.fromhex(event["raw_hex"])
                else:
                    body = event_request(event).SerializeToString()
                try:
                    call(body, timeout=10)
                    code = "OK"
                except grpc.RpcError as error:
                    code = error.code().name
                    if len(failures) < 10:
                        failures.append({"event": event.get("id", "raw"), "code": code, "details": error.details()})
                codes[code] = codes.get(code, 0) + 1
    print(json.dumps({"codes": codes, "failures": failures}))


def hpack_literal(name, value):
    """An HPACK literal header field without indexing, new name, no Huffman coding (RFC 7541 §6.2.2)."""
    def string(text):
        data = text.encode()
        assert len(data) < 127
        return bytes([len(data)]) + data
    return b"\x00" + string(name) + string(value)


def frame(kind, flags, stream, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def cut_call(api, uuid, public_key, token, how):
    from talos_node import load_stubs
    load_stubs()
    import provision_pb2
    message = provision_pb2.ProvisionRequest(node_uuid=uuid, node_public_key=public_key, join_token=token,
                                             talos_version="v1.9.5").SerializeToString()
    body = b"\x00" + struct.pack(">I", len(message)) + message
    headers = b"".join(hpack_literal(name, value) for name, value in [
        (":method", "POST"), (":scheme", "http"), (":path", "/sidero.link.ProvisionService/Provision"),
        (":authority", "siderolink"), ("content-type", "application/grpc"), ("te", "trailers")])
    data = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(4, 0, 0, b"") + frame(1, 4, 1, headers)
    data += frame(0, 0, 1, body[:len(body) // 2]) if how == "partial" else frame(0, 1, 1, body)
    host, port = api.rsplit(":", 1)
    connection = connect(host.strip("[]"), port, "-")
    connection.sendall(data)
    reply = drain(connection, 2) if how == "answered" else b""
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    connection.close()
    print(json.dumps({"sent": len(data), "reply_bytes": len(reply)}))


COMMANDS = {"send": send, "reset": reset, "hold": hold, "flood": flood, "trickle": trickle, "proxy": proxy,
            "provision": provision, "publish": publish, "cut-call": cut_call}

if __name__ == "__main__":
    COMMANDS[sys.argv[1]](*sys.argv[2:])
