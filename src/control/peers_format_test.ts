import { equal } from "node:assert/strict";
import type { PeersReport } from "./peers.ts";
import { formatPeers } from "./peers_format.ts";

// The output of `peers` as the CLI formatted it before the daemon did (captured from that code, byte for byte).
const NOW = new Date("2026-11-26T10:00:00.000Z");
const REPORT: PeersReport = {
  interface: {
    name: "siderolink",
    backend: "userspace",
    publicKey: "Y2Lj6k0QnCuu4Rz/6aoc4T2oQWmGTlJrZrHsNcnrlD0=",
    listenPort: 51821,
  },
  peers: [
    {
      serverUuid: "11111111-1111-4111-8111-111111111111",
      namespace: "default",
      cluster: "prod",
      metalMachine: "m1",
      machine: "prod-cp-1",
      address: "fdae:41e4:649b:9303:2a07:9c7:5b08:aef7",
      publicKey: "2SeZ8mYG7uJWY0a3MQXRqHZxzHw1s4YK8QQmNrCw7Ec=",
      endpoint: "[fd5e:2::7]:51820",
      transport: "udp",
      lastHandshake: "2026-11-26T09:59:57.123Z",
      receiveBytes: 1536,
      transmitBytes: 3355443,
      persistentKeepalive: 25,
      allowedIPs: [
        "fdae:41e4:649b:9303:2a07:9c7:5b08:aef7/128",
      ],
      state: "up",
    },
    {
      serverUuid: "22222222-2222-4222-8222-222222222222",
      cluster: "lab",
      address: "fdae:41e4:649b:9303::2",
      publicKey: "qf3b2hx6m0Ot3N/5jRIFR3yCzOvb7vW0r7VjU9uTb3A=",
      endpoint: "127.0.0.1:41234",
      transport: "grpc",
      lastHandshake: "2026-11-26T09:54:58.000Z",
      receiveBytes: 512,
      transmitBytes: 0,
      persistentKeepalive: 0,
      allowedIPs: [
        "fdae:41e4:649b:9303::2/128",
      ],
      state: "down",
    },
    {
      serverUuid: "33333333-3333-4333-8333-333333333333",
      machine: "old",
      address: "fdae:41e4:649b:9303::3",
      publicKey: "hRt6GkM1M0v1q4b2c9vP2sD8nLJvNQ0bT7Uo0l6mWkY=",
      endpoint: "[fd5e:2::9]:51820",
      transport: "udp",
      lastHandshake: "2025-10-20T06:58:59.000Z",
      receiveBytes: 5497558138887,
      transmitBytes: 3221225472,
      persistentKeepalive: 0,
      allowedIPs: [
        "fdae:41e4:649b:9303::3/128",
      ],
      state: "down",
    },
    {
      publicKey: "7Qk3f9m9uJ8wz6r5XgXx2bqH3m0Q0aH+u7lVb5b2sHI=",
      receiveBytes: 0,
      transmitBytes: 0,
      persistentKeepalive: 0,
      allowedIPs: [
        "10.0.0.0/8",
        "fd00::/64",
      ],
      state: "never",
    },
    {
      publicKey: "0yGdVZ3o4J2q0t0m2h7x8yH3m0Q0aH+u7lVb5b2sHI=",
      receiveBytes: 1023,
      transmitBytes: 1024,
      persistentKeepalive: 0,
      allowedIPs: [],
      state: "never",
    },
  ],
};

/** The lines of a text, each ending in a newline. */
const lines = (...texts: string[]) => texts.map((text) => `${text}\n`).join("");

Deno.test("peers --json: the array of peers, indented by two", () => {
  equal(formatPeers(REPORT, "json", NOW, false), `${JSON.stringify(REPORT.peers, null, 2)}\n`);
  equal(formatPeers({ ...REPORT, peers: [] }, "json", NOW, false), "[]\n");
});

Deno.test("peers --dump: wg show dump columns plus the server UUID; nothing for no peers", () => {
  equal(
    formatPeers(REPORT, "dump", NOW, false),
    lines(...[
      "2SeZ8mYG7uJWY0a3MQXRqHZxzHw1s4YK8QQmNrCw7Ec=\t(none)\t[fd5e:2::7]:51820\tfdae:41e4:649b:9303:2a07:9c7:5b08:aef7/128\t1795687197\t1536\t3355443\t25\t11111111-1111-4111-8111-111111111111",
      "qf3b2hx6m0Ot3N/5jRIFR3yCzOvb7vW0r7VjU9uTb3A=\t(none)\t127.0.0.1:41234\tfdae:41e4:649b:9303::2/128\t1795686898\t512\t0\toff\t22222222-2222-4222-8222-222222222222",
      "hRt6GkM1M0v1q4b2c9vP2sD8nLJvNQ0bT7Uo0l6mWkY=\t(none)\t[fd5e:2::9]:51820\tfdae:41e4:649b:9303::3/128\t1760943539\t5497558138887\t3221225472\toff\t33333333-3333-4333-8333-333333333333",
      "7Qk3f9m9uJ8wz6r5XgXx2bqH3m0Q0aH+u7lVb5b2sHI=\t(none)\t(none)\t10.0.0.0/8,fd00::/64\t0\t0\t0\toff\tunknown",
      "0yGdVZ3o4J2q0t0m2h7x8yH3m0Q0aH+u7lVb5b2sHI=\t(none)\t(none)\t(none)\t0\t1023\t1024\toff\tunknown",
    ]),
  );
  equal(formatPeers({ ...REPORT, peers: [] }, "dump", NOW, false), "");
});

Deno.test("peers table: heading, columns padded to the widest cell, ages from now, colours on request", () => {
  equal(
    formatPeers(REPORT, "table", NOW, false),
    lines(...[
      "interface siderolink (userspace), listening on 51821, public key Y2Lj6k0QnCuu4Rz/6aoc4T2oQWmGTlJrZrHsNcnrlD0=, 5 peers",
      "SERVER UUID                           MACHINE    CLUSTER  ADDRESS                                 PUBLIC KEY   ENDPOINT           TRANSPORT  LATEST HANDSHAKE                                  RX / TX              STATE",
      "11111111-1111-4111-8111-111111111111  prod-cp-1  prod     fdae:41e4:649b:9303:2a07:9c7:5b08:aef7  2SeZ8mYG7u…  [fd5e:2::7]:51820  udp        2 seconds ago                                     1.50 KiB / 3.20 MiB  up",
      "22222222-2222-4222-8222-222222222222             lab      fdae:41e4:649b:9303::2                  qf3b2hx6m0…  127.0.0.1:41234    grpc       5 minutes, 2 seconds ago                          512 B / 0 B          down",
      "33333333-3333-4333-8333-333333333333  old                 fdae:41e4:649b:9303::3                  hRt6GkM1M0…  [fd5e:2::9]:51820  udp        1 year, 37 days, 3 hours, 1 minute, 1 second ago  5.00 TiB / 3.00 GiB  down",
      "unknown                                                   10.0.0.0/8,fd00::/64                    7Qk3f9m9uJ…                                never                                             0 B / 0 B            never",
      "unknown                                                                                           0yGdVZ3o4J…                                never                                             1023 B / 1.00 KiB    never",
    ]),
  );
  equal(
    formatPeers(REPORT, "table", NOW, true),
    lines(...[
      "interface siderolink (userspace), listening on 51821, public key Y2Lj6k0QnCuu4Rz/6aoc4T2oQWmGTlJrZrHsNcnrlD0=, 5 peers",
      "SERVER UUID                           MACHINE    CLUSTER  ADDRESS                                 PUBLIC KEY   ENDPOINT           TRANSPORT  LATEST HANDSHAKE                                  RX / TX              STATE",
      "11111111-1111-4111-8111-111111111111  prod-cp-1  prod     fdae:41e4:649b:9303:2a07:9c7:5b08:aef7  2SeZ8mYG7u…  [fd5e:2::7]:51820  udp        2 seconds ago                                     1.50 KiB / 3.20 MiB  \x1b[32mup\x1b[0m",
      "22222222-2222-4222-8222-222222222222             lab      fdae:41e4:649b:9303::2                  qf3b2hx6m0…  127.0.0.1:41234    grpc       5 minutes, 2 seconds ago                          512 B / 0 B          \x1b[31mdown\x1b[0m",
      "33333333-3333-4333-8333-333333333333  old                 fdae:41e4:649b:9303::3                  hRt6GkM1M0…  [fd5e:2::9]:51820  udp        1 year, 37 days, 3 hours, 1 minute, 1 second ago  5.00 TiB / 3.00 GiB  \x1b[31mdown\x1b[0m",
      "unknown                                                   10.0.0.0/8,fd00::/64                    7Qk3f9m9uJ…                                never                                             0 B / 0 B            \x1b[33mnever\x1b[0m",
      "unknown                                                                                           0yGdVZ3o4J…                                never                                             1023 B / 1.00 KiB    \x1b[33mnever\x1b[0m",
    ]),
  );
  const empty: PeersReport = { interface: { name: "sl", backend: "kernel", listenPort: 1 }, peers: [] };
  equal(
    formatPeers(empty, "table", NOW, false),
    lines(...[
      "interface sl (kernel), listening on 1, public key (none), 0 peers",
      "SERVER UUID  MACHINE  CLUSTER  ADDRESS  PUBLIC KEY  ENDPOINT  TRANSPORT  LATEST HANDSHAKE  RX / TX  STATE",
    ]),
  );
});
