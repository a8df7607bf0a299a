/**
 * Hostile input on the Provision API (h2c) and on the control socket of a real serve, and the modes of the files
 * serve leaves on disk. Requests come from Python grpcio and raw sockets (`hostile_peer.py`) inside serve's
 * namespace. At the end: serve still provisions and answers `peers`, no address was given twice, the device's
 * peers are exactly the stored records, and no output holds the private key or the join token.
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { formatKey, generatePrivateKey, publicKeyOf } from "../../src/keys.ts";
import { FaultServe, faultTestIgnore, PYTHON } from "../support/fault_serve.ts";

async function newKey(): Promise<string> {
  return formatKey(await publicKeyOf(generatePrivateKey()));
}

Deno.test({
  name: "Provision API and control socket under attack: nothing crashes, the state stays consistent",
  ignore: faultTestIgnore("Provision API faults"),
}, async (t) => {
  await using fault = await FaultServe.start("prov");
  const serve = fault.serve;
  const [apiHost, apiPort] = [fault.api.slice(1, fault.api.lastIndexOf("]")), fault.api.split(":").at(-1)!];
  const rawSend = async (data: string | Uint8Array) =>
    await fault.peer<{ reply_hex: string }>(["send", apiHost, apiPort, "-", await fault.file(data)]);

  await t.step(
    "HTTP/1.1, garbage, and garbage after the HTTP/2 preface: the connection closes, serve lives",
    async () => {
      const http1 = await rawSend("POST /sidero.link.ProvisionService/Provision HTTP/1.1\r\nHost: x\r\n\r\n");
      console.log(`HTTP/1.1 request answered with ${http1.reply_hex.length / 2} bytes, then closed`);
      await rawSend(crypto.getRandomValues(new Uint8Array(4096)));
      const preface = new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
      await rawSend(new Uint8Array([...preface, ...crypto.getRandomValues(new Uint8Array(4096))]));
      await fault.assertAlive();
    },
  );

  await t.step("malformed requests get clear errors naming the field", async () => {
    const before = fault.storedMachines().length;
    const good = await fault.request(crypto.randomUUID());
    const results = await fault.provision([
      { ...good, node_uuid: "u".repeat(1024 * 1024) },
      { ...good, node_uuid: "not-a-uuid" },
      { ...good, node_uuid: "" },
      { ...good, node_public_key: new Uint8Array(31).toBase64() },
      { ...good, node_public_key: new Uint8Array(33).toBase64() },
      { ...good, node_public_key: "not base64!" },
      { ...good, join_token: "wrong" },
      { ...good, join_token: undefined },
      { ...good, node_uuid: "u".repeat(5 * 1024 * 1024) },
    ].map((request) => Object.fromEntries(Object.entries(request).filter(([, value]) => value !== undefined))));
    const [huge, invalid, empty, short, long, notBase64, wrong, missing, tooBig] = results;
    for (const result of [huge, invalid, empty]) {
      equal(result.code, "INVALID_ARGUMENT");
      match(result.details, /^node_uuid: malformed server UUID/);
      ok(result.details.length < 200, `the details stay short: ${result.details.length} characters`);
    }
    for (const result of [short, long, notBase64]) {
      equal(result.code, "INVALID_ARGUMENT");
      match(result.details, /^node_public_key/);
    }
    for (const result of [wrong, missing]) {
      deepEqual(result, { code: "PERMISSION_DENIED", details: "invalid join token" });
    }
    equal(tooBig.code, "RESOURCE_EXHAUSTED");
    ok(serve.stderr.every((line) => line.length < 8192), "no diagnostic line carries a huge request");
    equal(fault.storedMachines().length, before, "nothing was recorded");
  });

  await t.step("200 concurrent provisions of 200 machines, 50 concurrent of one: consistent", async () => {
    const many = await Promise.all(Array.from({ length: 200 }, () => fault.request(crypto.randomUUID())));
    const one = crypto.randomUUID();
    const same = await Promise.all(Array.from({ length: 50 }, async () => fault.request(one, await newKey())));
    const before = fault.storedMachines().length;
    const started = Date.now();
    const results = await fault.provision([...many, ...same], 250);
    console.log(`250 concurrent provisions answered in ${Date.now() - started} ms (including the client's start)`);
    ok(results.every((result) => result.code === "OK"), JSON.stringify(results.find((r) => r.code !== "OK")));
    const addresses = results.slice(0, 200).map((result) => result.node_address_prefix);
    equal(new Set(addresses).size, 200, "no address given twice");
    const oneAddress = results[200].node_address_prefix;
    ok(results.slice(200).every((result) => result.node_address_prefix === oneAddress), "one machine, one address");
    ok(!addresses.includes(oneAddress));
    const stored = fault.storedMachines();
    equal(stored.length, before + 201);
    equal(new Set(stored.map((machine) => machine.address)).size, stored.length);
    const record = stored.find((machine) => machine.uuid === one)!;
    ok(same.some((request) => request.node_public_key === record.public_key), "the last key of the one machine");
    await fault.assertPeersMatchRecords();
  });

  await t.step("clients that abandon a call halfway or before the answer", async () => {
    const partial = crypto.randomUUID();
    const complete = crypto.randomUUID();
    const answered = crypto.randomUUID();
    const token = fault.secrets().token!;
    await fault.peer(["cut-call", fault.api, partial, await newKey(), token, "partial"]);
    await fault.peer(["cut-call", fault.api, complete, await newKey(), token, "complete"]);
    // The same raw request, read to the end: proof that the request the other two cut short is well-formed.
    await fault.peer(["cut-call", fault.api, answered, await newKey(), token, "answered"]);
    const uuids = fault.storedMachines().map((machine) => machine.uuid);
    ok(uuids.includes(answered), "the raw request provisions when its client waits");
    ok(!uuids.includes(partial), "half a request provisions nothing");
    console.log(`a complete request whose client left at once was ${uuids.includes(complete) ? "" : "not "}recorded`);
    await fault.assertPeersMatchRecords();
    await fault.assertAlive();
  });

  await t.step("control socket: mode 0660, closed to other users, errors for unknown paths and bodies", async () => {
    const info = await Deno.stat(fault.socket);
    ok(info.isSocket);
    equal(info.mode! & 0o777, 0o660);
    const asNobody = await new Deno.Command("setpriv", {
      args: [
        "--reuid=nobody",
        "--regid=nogroup",
        "--clear-groups",
        PYTHON,
        "-c",
        `import socket; socket.socket(socket.AF_UNIX).connect(${JSON.stringify(fault.socket)})`,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    equal(asNobody.success, false, "nobody connected to the control socket");
    match(new TextDecoder().decode(asNobody.stderr), /PermissionError/);

    const unknown = await fault.control("/v1/secrets");
    equal(unknown.status, 404);
    match(unknown.body, /no such path \/v1\/secrets/);
    const post = await fault.control("/v1/peers", { method: "POST", body: "x".repeat(16 * 1024 * 1024) });
    equal(post.status, 413);
    const chunked = await fault.control("/v1/peers", {
      method: "POST",
      body: new Blob(["y".repeat(1024 * 1024)]).stream(),
    });
    equal(chunked.status, 413);
    const badQuery = await fault.control("/v1/logs?tail=-5&level=loud");
    ok(badQuery.status >= 400 && badQuery.status < 500, `a bad query: ${badQuery.status} ${badQuery.body}`);
    // Bytes that are no HTTP at all.
    const conn = await Deno.connect({ transport: "unix", path: fault.socket });
    await conn.write(crypto.getRandomValues(new Uint8Array(8192)));
    const reply = new Uint8Array(1024);
    await conn.read(reply).catch(() => null);
    conn.close();
    await fault.assertAlive();
  });

  await t.step("state folder 0700, every state file 0600", async () => {
    equal((await Deno.stat(fault.stateDir)).mode! & 0o777, 0o700);
    const files = [];
    for await (const entry of Deno.readDir(fault.stateDir)) files.push(entry.name);
    ok(files.includes("state.db") && files.includes("state.db-wal"), files.join(" "));
    for (const name of files) {
      equal((await Deno.stat(join(fault.stateDir, name))).mode! & 0o777, 0o600, name);
    }
  });

  await t.step("no secret in any output", () => {
    fault.assertNoSecrets();
  });
});
