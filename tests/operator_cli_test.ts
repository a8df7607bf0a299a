/**
 * `peers` and `logs` against a real serve: serve runs in a test namespace with the userspace backend; three
 * machines provision through the real API (Python grpcio) and send real kernel records over TCP from their own
 * SideroLink addresses, which the test adds to the namespace's `lo` so that no tunnel is needed per machine.
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { formatKey, generatePrivateKey, publicKeyOf } from "../src/keys.ts";
import { NetNs } from "./support/netns.ts";
import { isRoot, onPath, skipUnless } from "./support/requirements.ts";
import { cliArgs, runCli } from "./support/cli.ts";
import { ServeProcess } from "./support/serve_process.ts";
import { dmesgRecords, jsonLines, type TalosRecord } from "./support/talos_records.ts";

const PYTHON = "/usr/bin/python3";
const NODE_SCRIPT = new URL("./support/talos_node.py", import.meta.url).pathname;
const MACHINES = [
  { uuid: "11111111-1111-4111-8111-111111111111", cluster: "prod", machine: "prod-cp-1" },
  { uuid: "22222222-2222-4222-8222-222222222222", cluster: "prod", machine: "prod-worker-1" },
  { uuid: "33333333-3333-4333-8333-333333333333", cluster: "lab", machine: "lab-1" },
];

const ignore = skipUnless(
  "peers and logs against a real serve",
  [isRoot(), "root (network namespaces, TUN devices)"],
  [onPath("wireguard-go"), "wireguard-go (apt-get install wireguard-go)"],
  [onPath("ip"), "ip (apt-get install iproute2)"],
  [onPath("dmesg"), "dmesg (util-linux)"],
);

/** The records a machine sends, with levels spread so the level filter has something to do. */
function recordsOf(base: TalosRecord[], index: number): TalosRecord[] {
  const levels = [["err", "error"], ["warning", "warn"], ["info", "info"], ["debug", "debug"]];
  return base.map((record, seq) => {
    const [priority, level] = levels[(seq + index) % levels.length];
    return { ...record, priority, "talos-level": level, msg: `m${index} ${record.msg}` };
  });
}

Deno.test(
  { name: "peers and logs read a real serve: every format, filters, follow, daemon down, --direct", ignore },
  async () => {
    const work = await Deno.makeTempDir({ prefix: "siderolink-cli-" });
    const socket = join(work, "control.sock");
    const stateDir = join(work, "state");
    const iface = `slc${Deno.pid % 100000}`;
    const inventory = join(work, "inventory.yaml");
    await Deno.writeTextFile(
      inventory,
      MACHINES.map((m) => `- uuid: ${m.uuid}\n  cluster: ${m.cluster}\n  machine: ${m.machine}\n`).join(""),
    );
    await using ns = await NetNs.create("cli");
    await ns.exec("ip", ["-6", "addr", "add", "fd5e:2::1/64", "dev", "lo", "nodad"]);
    const args = [
      "--state-dir",
      stateDir,
      "--wireguard-endpoint",
      "[fd5e:2::1]:51821",
      "--wireguard-backend",
      "userspace",
      "--interface",
      iface,
      "--api-listen",
      "[fd5e:2::1]:8081",
      "--control-socket",
      socket,
      "--no-join-token",
      "--inventory",
      inventory,
    ];
    const serve = await ServeProcess.start(args, { ns });
    try {
      const server = JSON.parse(
        serve.stderr.find((line) => line.includes("serving"))!,
      ).properties.settings.serverAddress;
      const base = (await dmesgRecords(Date.UTC(2026, 10, 26, 9, 0, 0))).slice(0, 40);
      const addresses: string[] = [];
      for (const [index, machine] of MACHINES.entries()) {
        const key = formatKey(await publicKeyOf(generatePrivateKey()));
        const reply = JSON.parse(
          await ns.exec(PYTHON, [NODE_SCRIPT, "provision", "[fd5e:2::1]:8081", machine.uuid, key]),
        );
        const address = (reply.node_address_prefix as string).replace("/64", "");
        addresses.push(address);
        await ns.exec("ip", ["-6", "addr", "add", `${address}/128`, "dev", "lo", "nodad"]);
        const file = join(work, `records-${index}.jsonl`);
        await Deno.writeTextFile(file, jsonLines(recordsOf(base, index)));
        await ns.exec(PYTHON, [NODE_SCRIPT, "send-logs", server, "4001", file, address]);
      }
      await serve.waitFor(() => serve.stdout.length >= 3 * base.length, 20_000, "all log lines");
      const printedBy = (uuid: string) => serve.stdout.filter((line) => line.includes(`"server_uuid":"${uuid}"`));

      // peers: JSON with full values, the dump form, the table.
      const peersJson = await runCli(["peers", "--json", "--control-socket", socket]);
      equal(peersJson.code, 0, peersJson.stderr);
      const peers = JSON.parse(peersJson.stdout);
      deepEqual(peers.map((peer: { serverUuid: string }) => peer.serverUuid).sort(), MACHINES.map((m) => m.uuid));
      for (const peer of peers) {
        equal(peer.state, "never");
        deepEqual(peer.allowedIPs, [`${peer.address}/128`]);
        equal(peer.machine, MACHINES.find((m) => m.uuid === peer.serverUuid)!.machine);
      }
      const dump = await runCli(["peers", "--dump", "--control-socket", socket]);
      const dumpRows = dump.stdout.trim().split("\n").map((line) => line.split("\t"));
      equal(dumpRows.length, 3);
      for (const row of dumpRows) {
        equal(row.length, 9);
        deepEqual(row.slice(1, 3), ["(none)", "(none)"]);
        deepEqual(row.slice(4, 8), ["0", "0", "0", "off"]);
      }
      const wgDump = (await ns.exec("wg", ["show", iface, "dump"])).trim().split("\n").slice(1).map((line) =>
        line.split("\t").slice(0, 4).join("\t")
      ).sort();
      deepEqual(dumpRows.map((row) => row.slice(0, 4).join("\t")).sort(), wgDump, "the dump columns agree with wg");
      const tableOut = await runCli(["peers", "--control-socket", socket]);
      match(tableOut.stdout, new RegExp(`^interface ${iface} \\(userspace\\), listening on 51821`));
      match(tableOut.stdout, /SERVER UUID\s+MACHINE\s+CLUSTER\s+ADDRESS/);
      for (const machine of MACHINES) {
        match(tableOut.stdout, new RegExp(`${machine.uuid}\\s+${machine.machine}\\s+${machine.cluster}`));
      }
      equal(tableOut.stdout.includes("\x1b["), false, "no colour when not on a terminal");

      // logs: json is byte-for-byte what serve printed; filters; dmesg format; tail.
      const [first, second, third] = MACHINES;
      const json = await runCli(["logs", first.uuid.toUpperCase(), "--control-socket", socket]);
      equal(json.code, 0, json.stderr);
      deepEqual(json.stdout.trim().split("\n"), printedBy(first.uuid));
      const prod = await runCli(["logs", "--cluster", "prod", "--control-socket", socket]);
      deepEqual(prod.stdout.trim().split("\n").sort(), [...printedBy(first.uuid), ...printedBy(second.uuid)].sort());
      const lab = await runCli(["logs", "--machine", "lab-1", "--level", "warn", "--control-socket", socket]);
      const labLines = lab.stdout.trim().split("\n").map((line) => JSON.parse(line));
      ok(labLines.length > 0);
      ok(labLines.every((line) => line.server_uuid === third.uuid && ["error", "warn"].includes(line["talos-level"])));
      equal(labLines.length, printedBy(third.uuid).filter((line) => /"talos-level":"(error|warn)"/.test(line)).length);
      const tail = await runCli(["logs", second.uuid, "--tail", "5", "--control-socket", socket]);
      deepEqual(tail.stdout.trim().split("\n"), printedBy(second.uuid).slice(-5));
      const dmesg = await runCli(["logs", first.uuid, "--tail", "3", "--format", "dmesg", "--control-socket", socket]);
      const expectedDmesg = printedBy(first.uuid).slice(-3).map((line) => JSON.parse(line)).flatMap((record) =>
        (record.msg as string).replace(/\n$/, "").split("\n").map((text) =>
          `[${String(Math.floor(record.clock / 1e6)).padStart(5)}.${
            String(record.clock % 1e6).padStart(6, "0")
          }] ${record.facility}: ${text}`
        )
      );
      deepEqual(dmesg.stdout.trim().split("\n"), expectedDmesg);
      // --since by record time, --namespace (no machine has one: nothing), pretty with the machine's name.
      const firstLines = printedBy(first.uuid).map((line) => JSON.parse(line));
      const since = firstLines[20]["talos-time"] as string;
      const fromSince = await runCli(["logs", first.uuid, "--since", since, "--control-socket", socket]);
      deepEqual(
        fromSince.stdout.trim().split("\n"),
        printedBy(first.uuid).filter((_, i) => Date.parse(firstLines[i]["talos-time"]) >= Date.parse(since)),
      );
      const none = await runCli(["logs", "--namespace", "default", "--control-socket", socket]);
      deepEqual([none.code, none.stdout], [0, ""]);
      const pretty = await runCli([
        "logs",
        third.uuid,
        "--tail",
        "2",
        "--format",
        "pretty",
        "--control-socket",
        socket,
      ]);
      const prettyLines = pretty.stdout.trim().split("\n");
      equal(prettyLines.length, 2);
      for (const [i, line] of prettyLines.entries()) {
        const record = JSON.parse(printedBy(third.uuid).at(i - 2)!);
        ok(line.includes("lab-1") && line.includes((record.msg as string).trim()), line);
        equal(line.includes("\x1b["), false, "no colour off a terminal");
      }

      // logs --follow: a new line arrives while following.
      const follower = new Deno.Command(Deno.execPath(), {
        args: cliArgs(["logs", third.uuid, "-f", "--tail", "0", "--control-socket", socket]),
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      try {
        await new Promise((resolve) => setTimeout(resolve, 1500));
        const late = { ...base[0], seq: 10_000, msg: "late line\n" };
        const file = join(work, "late.jsonl");
        await Deno.writeTextFile(file, jsonLines([late]));
        await ns.exec(PYTHON, [NODE_SCRIPT, "send-logs", server, "4001", file, addresses[2]]);
        const reader = follower.stdout.pipeThrough(new TextDecoderStream()).getReader();
        let seen = "";
        const deadline = Date.now() + 10_000;
        while (!seen.includes("late line") && Date.now() < deadline) {
          const { value, done } = await Promise.race([
            reader.read(),
            new Promise<{ value: undefined; done: true }>((resolve) =>
              setTimeout(() => resolve({ value: undefined, done: true }), 10_000)
            ),
          ]);
          if (done) break;
          seen += value;
        }
        const followed = seen.trim().split("\n");
        equal(followed.length, 1, seen);
        equal(followed[0], serve.stdout.find((line) => line.includes("late line")));
        reader.releaseLock();
      } finally {
        follower.kill("SIGTERM");
        await follower.output().catch(() => {});
      }

      // The daemon down: one line naming the socket, exit 1. --direct still reads the device and the store.
      equal(await serve.stop(), 0);
      for (const command of ["peers", "logs"]) {
        const down = await runCli([command, "--control-socket", socket]);
        equal(down.code, 1, command);
        equal(down.stderr.trim().split("\n").length, 1, down.stderr);
        match(down.stderr, new RegExp(`cannot reach the daemon at ${socket}.*is serve running`));
      }
      const direct = await ns.exec(
        Deno.execPath(),
        cliArgs([
          "peers",
          "--direct",
          "--json",
          "--state-dir",
          stateDir,
          "--interface",
          iface,
          "--wireguard-backend",
          "userspace",
        ]),
      );
      deepEqual(
        JSON.parse(direct).map((peer: { serverUuid: string }) => peer.serverUuid).sort(),
        MACHINES.map((m) => m.uuid),
      );
    } finally {
      await serve.stop("SIGKILL");
      await Deno.remove(work, { recursive: true });
    }
  },
);
