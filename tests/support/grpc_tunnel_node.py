#!/usr/bin/python3
"""The node side of WireGuard over gRPC, written for the tests from the protocol's facts (PROTOCOL.md §3) and
independent of the product's code: Python grpcio, and PeerPacket {bytes Data = 2} encoded by hand (no .proto).
API is dialled as Talos dials siderolink.api (talos_node.py's open_channel): `https://HOST:PORT` is TLS, trusting
TLS_CA_FILE from the environment, else cleartext h2c.

Usage:
  grpc_tunnel_node.py relay API VIRTUAL LISTEN_PORT [RETRY_SECONDS]
      what Talos runs beside its wireguard-go: a UDP socket on 127.0.0.1:LISTEN_PORT (the node WireGuard's peer
      endpoint) relayed over /sidero.link.WireGuardOverGRPCService/CreateStream with metadata
      x-siderolink-ipv6-addr: VIRTUAL; the stream is opened again RETRY_SECONDS (default 10, as Talos) after it
      fails. One JSON line per stream on stdout: {"event": "open"} and {"event": "ended", "code", "details"}.
      SIGUSR1 makes it stop reading the stream (the server's datagrams pile up on the server), SIGUSR2 read again.
  grpc_tunnel_node.py stream API VIRTUAL MESSAGES_JSON HOLD_SECONDS [no-read]
      one stream (VIRTUAL "-": without the metadata) that sends MESSAGES_JSON, a list of {"data_hex"} (a PeerPacket)
      or {"raw_hex"} (message bytes as they are), then reads until the server ends it or HOLD_SECONDS pass:
      {"code", "details", "received"} ("code" null when still open). With no-read it reads nothing for
      HOLD_SECONDS, then reads what reaches it within 2 s.
  grpc_tunnel_node.py flood COUNT
      plays the server's WireGuard port for a flood: binds a UDP socket on 127.0.0.1, prints {"port"}, waits for one
      datagram, then sends COUNT datagrams of 1,300 bytes back to its sender, 100 every 3 ms: {"sent"}.
"""

import json
import os
import queue
import signal
import socket
import sys
import threading
import time

import grpc

from talos_node import open_channel

METHOD = "/sidero.link.WireGuardOverGRPCService/CreateStream"
METADATA_KEY = "x-siderolink-ipv6-addr"
DATA_TAG = (2 << 3) | 2  # field 2, length-delimited


def varint(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def read_varint(data, at):
    value, shift = 0, 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, at
        shift += 7


def encode_packet(datagram):
    return bytes([DATA_TAG]) + varint(len(datagram)) + datagram


def decode_packet(message):
    """Data of a PeerPacket; other fields are skipped as protobuf says."""
    at, data = 0, b""
    while at < len(message):
        key, at = read_varint(message, at)
        wire_type = key & 7
        if wire_type == 0:
            _, at = read_varint(message, at)
        elif wire_type == 2:
            length, at = read_varint(message, at)
            if key >> 3 == 2:
                data = message[at:at + length]
            at += length
        elif wire_type == 1:
            at += 8
        elif wire_type == 5:
            at += 4
        else:
            raise ValueError("unsupported wire type %d" % wire_type)
    return data


def say(**fields):
    print(json.dumps(fields), flush=True)


def open_stream(channel, virtual, requests, serialize):
    call = channel.stream_stream(METHOD, request_serializer=serialize, response_deserializer=lambda raw: raw)
    metadata = None if virtual == "-" else [(METADATA_KEY, virtual)]
    return call(requests, metadata=metadata)


def relay(api, virtual, listen_port, retry_seconds="10"):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", int(listen_port)))
    wireguard = [None]  # the node WireGuard's address, learned from its first datagram
    upward = queue.Queue(maxsize=100)  # datagrams for the server; dropped when full, as on a congested link
    reading = threading.Event()
    reading.set()
    signal.signal(signal.SIGUSR1, lambda *_: reading.clear())
    signal.signal(signal.SIGUSR2, lambda *_: reading.set())

    def from_wireguard():
        while True:
            datagram, source = sock.recvfrom(65535)
            wireguard[0] = source
            try:
                upward.put_nowait(datagram)
            except queue.Full:
                pass

    threading.Thread(target=from_wireguard, daemon=True).start()
    with open_channel(api, os.environ.get("TLS_CA_FILE")) as channel:
        while True:
            done = threading.Event()

            def requests():
                while not done.is_set():
                    try:
                        yield upward.get(timeout=0.2)
                    except queue.Empty:
                        continue

            responses = open_stream(channel, virtual, requests(), encode_packet)
            say(event="open")
            try:
                for message in responses:
                    reading.wait()
                    if wireguard[0] is not None:
                        sock.sendto(decode_packet(message), wireguard[0])
                say(event="ended", code="OK", details="")
            except grpc.RpcError as error:
                say(event="ended", code=error.code().name, details=error.details())
            done.set()
            time.sleep(float(retry_seconds))


def stream(api, virtual, messages_json, hold_seconds, mode="read"):
    messages = [bytes.fromhex(m["raw_hex"]) if "raw_hex" in m else encode_packet(bytes.fromhex(m["data_hex"]))
                for m in json.loads(messages_json)]
    finished = threading.Event()

    def requests():
        yield from messages
        finished.wait()

    received = 0
    with open_channel(api, os.environ.get("TLS_CA_FILE")) as channel:
        responses = open_stream(channel, virtual, requests(), lambda raw: raw)
        if mode == "no-read":
            # Reads nothing for HOLD_SECONDS, then takes what was held for it (for at most 2 s more).
            time.sleep(float(hold_seconds))
            hold_seconds = 2
        timer = threading.Timer(float(hold_seconds), responses.cancel)
        timer.start()
        try:
            for _ in responses:
                received += 1
            result = {"code": "OK", "details": ""}
        except grpc.RpcError as error:
            if error.code() == grpc.StatusCode.CANCELLED and not timer.is_alive():
                result = {"code": None, "details": ""}  # still open when the hold ended
            else:
                result = {"code": error.code().name, "details": error.details()}
        timer.cancel()
        finished.set()
    say(received=received, **result)


def flood(count):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    say(port=sock.getsockname()[1])
    _, relay_socket = sock.recvfrom(65535)
    datagram, sent = b"\x07" * 1300, 0
    while sent < int(count):
        for _ in range(100):
            sock.sendto(datagram, relay_socket)
        sent += 100
        time.sleep(0.003)
    say(sent=sent)


def main():
    command, args = sys.argv[1], sys.argv[2:]
    {"relay": relay, "stream": stream, "flood": flood}[command](*args)


if __name__ == "__main__":
    main()
