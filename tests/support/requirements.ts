/**
 * Gating of tests on real components (a program, root, a kernel feature). A test whose component is missing
 * is skipped with a loud line on stderr saying what is missing and how to get it; under CI (`CI=true`) a
 * missing component fails the run instead, because CI installs everything and a skip there would hide a gap.
 *
 * @module
 */

/** Whether `program` is an executable on PATH. */
export function onPath(program: string): boolean {
  return (Deno.env.get("PATH") ?? "").split(":").some((dir) => {
    try {
      const info = Deno.statSync(`${dir}/${program}`);
      return info.isFile && ((info.mode ?? 0) & 0o111) !== 0;
    } catch {
      return false;
    }
  });
}

/** Whether this process runs as root (network namespaces, TUN devices and netlink writes need it). */
export function isRoot(): boolean {
  return Deno.uid() === 0;
}

/**
 * Returns the `ignore` flag for `Deno.test`: true (with a warning) when a requirement is missing.
 * Each requirement is `[met, what is missing and how to get it]`.
 *
 * @example
 * ```ts
 * Deno.test({ name: "…", ignore: skipUnless("wg agreement", [onPath("wg"), "wg (apt-get install wireguard-tools)"]) }, …);
 * ```
 */
export function skipUnless(testName: string, ...requirements: [boolean, string][]): boolean {
  const missing = requirements.filter(([met]) => !met).map(([, what]) => what);
  if (missing.length === 0) return false;
  const message = `SKIPPED "${testName}": missing ${missing.join(", ")}`;
  if (Deno.env.get("CI") === "true") throw new Error(`${message}; CI must install it (.ci/run)`);
  console.error(`\n*** ${message} ***\n`);
  return true;
}

/** The Python that plays machines in the tests (Debian's, where python3-grpcio and python3-grpc-tools install). */
export const PYTHON = "/usr/bin/python3";

/** Whether {@link PYTHON} imports grpcio and grpc_tools (`apt-get install python3-grpcio python3-grpc-tools`). */
export function hasPythonGrpc(): boolean {
  return hasPythonModules("grpc, grpc_tools.protoc");
}

/** Whether {@link PYTHON} imports `modules` (comma-separated, as an `import` statement lists them). */
export function hasPythonModules(modules: string): boolean {
  try {
    const probe = new Deno.Command(PYTHON, { args: ["-c", `import ${modules}`], stderr: "null" });
    return probe.outputSync().success;
  } catch {
    return false;
  }
}
