/**
 * The container image, built the way CI builds it (`scripts/build-image.sh`: a debootstrap base, `podman build
 * --network none`) and run the only way this machine allows: its filesystem mounted (`podman image mount`) and its
 * entrypoint started with chroot, with the image's own environment, inside a network namespace that has nothing
 * but loopback, so whatever the entrypoint needs must be in the image. `serve` runs from the image with the image's
 * wireguard-go, and a Python grpcio client provisions through it.
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import denoJson from "../deno.json" with { type: "json" };
import { formatKey, generatePrivateKey, publicKeyOf } from "../src/keys.ts";
import { runCli } from "./support/cli.ts";
import { imageCommand, type ImageRun } from "./support/image_root.ts";
import { NetNs, run } from "./support/netns.ts";
import { hasPythonGrpc, isRoot, onPath, PYTHON, skipUnless } from "./support/requirements.ts";
import { ServeProcess } from "./support/serve_process.ts";

const BUILD = new URL("../scripts/build-image.sh", import.meta.url).pathname;
const PODMAN = new URL("../scripts/podman", import.meta.url).pathname;
const NODE_SCRIPT = new URL("./support/talos_node.py", import.meta.url).pathname;
const UUID = "0f3c5a9e-2b1d-4c7e-9f00-6a1b2c3d4e5f";
const TOKEN = "image-join-token";
const ENDPOINT = "[fd5e:2::1]:51821";

const ignore = skipUnless(
  "container image",
  [isRoot(), "root (debootstrap, Podman's storage, mounts, network namespaces)"],
  [onPath("podman"), "podman (apt-get install podman)"],
  [onPath("runc"), "runc (apt-get install runc)"],
  [onPath("debootstrap"), "debootstrap (apt-get install debootstrap)"],
  [onPath("ip"), "ip (apt-get install iproute2)"],
  [hasPythonGrpc(), "Python grpcio and grpc_tools (apt-get install python3-grpcio python3-grpc-tools)"],
);

/** Runs `args` from the image (chroot, inside `ns`) and returns what it printed and its exit code. */
async function inImage(ns: NetNs, image: ImageRun, args: string[]) {
  const [program, ...rest] = imageCommand(image);
  const { code, stdout, stderr } = await new Deno.Command("ip", {
    args: ns.wrap(program, [...rest, ...args]),
    stdin: "null",
  })
    .output();
  return { code, stdout: new TextDecoder().decode(stdout), stderr: new TextDecoder().decode(stderr) };
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test({ name: "the container image builds without network and its entrypoint runs from it", ignore }, async (t) => {
  const started = performance.now();
  const name = (await run(BUILD, [])).trim();
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  const inspect = JSON.parse(await run(PODMAN, ["image", "inspect", name]))[0];
  console.log(`image ${name}: ${(inspect.Size / 2 ** 20).toFixed(0)} MiB, built or found up to date in ${seconds} s`);
  deepEqual(inspect.Config.Entrypoint, ["/usr/local/bin/siderolink"]);

  const work = await Deno.makeTempDir({ prefix: "siderolink-image-" });
  const rootfs = (await run(PODMAN, ["image", "mount", name])).trim();
  try {
    const image: ImageRun = { rootfs, scratch: work, env: inspect.Config.Env, entrypoint: inspect.Config.Entrypoint };
    await using ns = await NetNs.create("img");

    await t.step("holds wireguard-go and wg, and no ip, compiler or package lists", () => {
      for (const path of ["usr/bin/wireguard-go", "usr/bin/wg", "usr/local/bin/deno", "app/node_modules"]) {
        ok(exists(join(rootfs, path)), `${path} is in the image`);
      }
      for (const path of ["usr/bin/ip", "usr/sbin/ip", "usr/bin/gcc", "usr/bin/cc", "usr/bin/npm"]) {
        ok(!exists(join(rootfs, path)), `${path} is not in the image`);
      }
      const lists = [...Deno.readDirSync(join(rootfs, "var/lib/apt/lists"))].map((entry) => entry.name);
      deepEqual(lists.filter((entry) => entry !== "partial" && entry !== "lock"), []);
    });

    await t.step("--version, without network", async () => {
      const result = await inImage(ns, image, ["--version"]);
      deepEqual(result, { code: 0, stdout: `${denoJson.version}\n`, stderr: "" });
    });

    await t.step("addr with a seed-style installation ID prints what the source tree prints", async () => {
      // As Sidero writes it: the base64 text of 32 random bytes.
      const installationId = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))));
      const args = ["addr", "--installation-id", installationId, UUID, "--kernel-args", "--api-endpoint", "[::1]:8081"];
      const fromImage = await inImage(ns, image, args);
      const fromSource = await runCli(args);
      equal(fromImage.code, 0, fromImage.stderr);
      equal(fromSource.code, 0, fromSource.stderr);
      equal(fromImage.stdout, fromSource.stdout);
      match(fromImage.stdout, new RegExp(`^${UUID} fd[0-9a-f:]+/64\nsiderolink\.api=grpc://\\[::1\\]:8081 `));
    });

    await t.step("serve answers a Provision call from Python grpcio", async () => {
      // The state folder and the control socket's folder are volumes, as in the Deployment; a second run of the
      // image that shares only the socket's volume asks serve for its peers, as the follower containers do.
      const state = join(work, "state");
      const control = join(work, "control");
      await Deno.mkdir(state);
      await Deno.mkdir(control);
      const volumes = { "/var/lib/siderolink": state, "/run/siderolink": control };
      const serve = await ServeProcess.start(
        ["--wireguard-backend", "userspace", "--wireguard-endpoint", ENDPOINT, "--join-token", TOKEN],
        { ns, cli: imageCommand({ ...image, volumes }) },
      );
      try {
        const nodeKey = formatKey(await publicKeyOf(generatePrivateKey()));
        const reply = JSON.parse(
          await ns.exec(PYTHON, [NODE_SCRIPT, "provision", "[::1]:8081", UUID, nodeKey, TOKEN]),
        );
        deepEqual(reply.server_endpoint, [ENDPOINT]);
        // The installation serve made is in the volume: the source tree's addr computes the same addresses from it.
        const fromState = await runCli(["addr", "--state-dir", state, UUID, "--json"]);
        equal(fromState.code, 0, fromState.stderr);
        const computed = JSON.parse(fromState.stdout);
        equal(reply.server_address, computed.server_address);
        equal(reply.node_address_prefix, computed.machines[0].address);

        // The interface is the image's wireguard-go's TUN device, configured by serve without `ip`.
        const links = JSON.parse(await ns.exec("ip", ["-j", "-6", "addr", "show", "dev", "siderolink"]));
        const addresses = links[0].addr_info as { local: string; prefixlen: number; scope: string }[];
        deepEqual(
          addresses.filter((address) => address.scope === "global").map((address) =>
            `${address.local}/${address.prefixlen}`
          ),
          [`${reply.server_address}/64`],
        );

        const peers = await inImage(ns, { ...image, volumes: { "/run/siderolink": control } }, ["peers", "--json"]);
        equal(peers.code, 0, peers.stderr);
        const listed = JSON.parse(peers.stdout);
        deepEqual(
          listed.map((peer: { publicKey: string; serverUuid: string }) => [peer.publicKey, peer.serverUuid]),
          [[nodeKey, UUID]],
          peers.stdout,
        );

        equal(await serve.stop(), 0, "SIGTERM ends serve cleanly");
        ok(![...serve.stdout, ...serve.stderr].join("\n").includes(TOKEN), "no join token in serve's output");
      } finally {
        await serve.stop("SIGKILL");
      }
    });
  } finally {
    // --force: a run killed between mount and unmount must not leave the count up for the next one.
    await run(PODMAN, ["image", "unmount", "--force", name]);
    await Deno.remove(work, { recursive: true });
  }
  // Every mount of the runs was in a mount namespace of their own; none is left in this one.
  const mounts = await Deno.readTextFile("/proc/self/mountinfo");
  ok(!mounts.includes(work), `no mount under ${work} is left`);
  ok(!(await run(PODMAN, ["image", "mount"])).includes(rootfs), "the image is unmounted");
});
