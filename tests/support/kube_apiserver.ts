/**
 * A real Kubernetes control plane for tests: Debian's etcd and a kube-apiserver 1.20.2 (built by
 * `scripts/install-kube-tools.sh`) on loopback inside a network namespace the test made, with token and
 * client-certificate authentication, RBAC on, and the test CRDs of `kubernetes/crds.yaml` established.
 * Everything (etcd data, certificates, kubeconfigs, logs) lives in a fresh temporary folder that goes away with
 * the processes on dispose (`await using`), also when start-up fails.
 *
 * @module
 */

import { stringify } from "yaml";
import { join } from "node:path";
import type { NetNs } from "./netns.ts";
import { onPath } from "./requirements.ts";

/** Where `scripts/install-kube-tools.sh` puts kube-apiserver and kubectl. */
export const KUBE_TOOLS_BIN = `${Deno.env.get("SIDEROLINK_TOOLS") ?? "/opt/siderolink-tools"}/kubernetes/bin`;
/** The kube-apiserver the harness runs. */
export const KUBE_APISERVER = `${KUBE_TOOLS_BIN}/kube-apiserver`;
/** The kubectl built beside it (same version, so no skew warnings). */
export const KUBECTL = `${KUBE_TOOLS_BIN}/kubectl`;

function isExecutable(path: string): boolean {
  try {
    const info = Deno.statSync(path);
    return info.isFile && ((info.mode ?? 0) & 0o111) !== 0;
  } catch {
    return false;
  }
}

/** Whether etcd, kube-apiserver and kubectl are installed (versions are checked by the install script). */
export const KUBE_TOOLS_INSTALLED = onPath("etcd") && isExecutable(KUBE_APISERVER) && isExecutable(KUBECTL);

/**
 * The requirement tuple for `skipUnless` (tests/support/requirements.ts): a test without the tools skips loudly
 * outside CI and fails under CI.
 */
export const KUBE_TOOLS_REQUIREMENT: [boolean, string] = [
  KUBE_TOOLS_INSTALLED,
  `etcd, ${KUBE_APISERVER} and ${KUBECTL} (run scripts/install-kube-tools.sh as root; the first build takes minutes)`,
];

/** The service account the deployment runs as, and the user name the apiserver gives its token. */
export const SERVICE_ACCOUNT = {
  namespace: "sidero-system",
  name: "siderolink",
  user: "system:serviceaccount:sidero-system:siderolink",
  groups: ["system:serviceaccounts", "system:serviceaccounts:sidero-system", "system:authenticated"],
} as const;

/** Who a `kubectl` call authenticates as. */
export type KubeUser = "admin" | "serviceaccount";

const CRDS = new URL("./kubernetes/crds.yaml", import.meta.url).pathname;
const CRD_NAMES = [
  "serverbindings.infrastructure.cluster.x-k8s.io",
  "metalmachines.infrastructure.cluster.x-k8s.io",
  "servers.metal.sidero.dev",
];
const ETCD_CLIENT_PORT = 2379;
const ETCD_PEER_PORT = 2380;
const READY_TIMEOUT_MS = 90_000;

// Admission plugins that are on by default in 1.20 and act on objects these tests never create (pods, volumes,
// certificates…); each one costs informers at start-up. NamespaceLifecycle stays: objects need their namespace.
const UNUSED_ADMISSION_PLUGINS = [
  "LimitRanger",
  "ServiceAccount",
  "TaintNodesByCondition",
  "Priority",
  "DefaultTolerationSeconds",
  "DefaultStorageClass",
  "StorageObjectInUseProtection",
  "PersistentVolumeClaimResize",
  "RuntimeClass",
  "CertificateApproval",
  "CertificateSigning",
  "CertificateSubjectRestriction",
  "DefaultIngressClass",
  "MutatingAdmissionWebhook",
  "ValidatingAdmissionWebhook",
  "ResourceQuota",
];

/**
 * The API groups the apiserver serves: what siderolink, its manifests (deploy/kubernetes/) and kubectl need.
 * Every other built-in group is off: each one costs storage set-up and OpenAPI work at start-up (about 40 % of the
 * apiserver's start-up CPU with all of 1.20's groups on). Add a group here when a test needs one.
 */
export const API_GROUPS = [
  "v1",
  "apps/v1",
  "rbac.authorization.k8s.io/v1",
  "authorization.k8s.io/v1",
  "authentication.k8s.io/v1",
  "apiextensions.k8s.io/v1",
  "apiregistration.k8s.io/v1",
  "coordination.k8s.io/v1",
  // Its post-start hook creates the system priority classes that /readyz waits for.
  "scheduling.k8s.io/v1",
];
const RUNTIME_CONFIG = ["api/all=false", ...API_GROUPS.map((group) => `${group === "v1" ? "api/v1" : group}=true`)]
  .join(",");

// openssl extension sections for the three certificates; a config of our own so the machine's openssl.cnf
// defaults (CA:true on every `req -x509`) do not leak into the leaf certificates.
const OPENSSL_CONFIG = `[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
[server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc
[client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
`;

/** A daemon inside a namespace, its stdout and stderr appended to a log file (no pipe to drain). */
class Daemon {
  readonly #child: Deno.ChildProcess;
  readonly #status: Promise<Deno.CommandStatus>;
  exited = false;

  constructor(readonly name: string, readonly log: string, ns: NetNs, program: string, args: string[]) {
    // `ip netns exec` and `sh -c exec` both exec, so the child's pid is the daemon's own.
    this.#child = new Deno.Command("ip", {
      args: ns.wrap("sh", ["-c", 'log=$1; shift; exec "$@" >>"$log" 2>&1', "sh", log, program, ...args]),
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    this.#status = this.#child.status.finally(() => this.exited = true);
  }

  /** The last lines of the daemon's log, for error messages. */
  async tail(lines = 30): Promise<string> {
    const text = await Deno.readTextFile(this.log).catch(() => "");
    return text.trimEnd().split("\n").slice(-lines).join("\n");
  }

  /** Sends `signal`, escalating to SIGKILL after 10 s, and waits for the exit. */
  async stop(signal: Deno.Signal): Promise<void> {
    if (this.exited) return;
    try {
      this.#child.kill(signal);
    } catch {
      // Already gone.
    }
    const timer = setTimeout(() => {
      try {
        this.#child.kill("SIGKILL");
      } catch {
        // Already gone.
      }
    }, 10_000);
    await this.#status;
    clearTimeout(timer);
  }
}

/** Paths and secrets of one running control plane; see {@linkcode KubeApiserver.start}. */
export class KubeApiserver implements AsyncDisposable {
  /** The namespace etcd, the apiserver and every `kubectl` call run in. */
  readonly ns: NetNs;
  /** The temporary folder holding everything below; removed on dispose. */
  readonly dir: string;
  /** The apiserver's secure port on 127.0.0.1 inside {@linkcode ns}. */
  readonly port: number;
  /** `https://127.0.0.1:<port>`. */
  readonly url: string;
  /** PEM of the CA that signed the apiserver's serving certificate (and the admin client certificate). */
  readonly caFile: string;
  /** Kubeconfig of the admin (group system:masters): client certificate and `certificate-authority-data`, inline. */
  readonly adminKubeconfig: string;
  /** The admin's client certificate and key (PEM files), for kubeconfigs that name files. */
  readonly adminClientCertFile: string;
  /** See {@linkcode adminClientCertFile}. */
  readonly adminClientKeyFile: string;
  /** A bearer token of the admin. */
  readonly adminToken: string;
  /** Kubeconfig of {@linkcode SERVICE_ACCOUNT}: bearer token and a `certificate-authority` file path. */
  readonly serviceAccountKubeconfig: string;
  /** The service account's bearer token, also in the file {@linkcode serviceAccountTokenFile}. */
  readonly serviceAccountToken: string;
  /** A file holding {@linkcode serviceAccountToken} (no newline), as a mounted token. */
  readonly serviceAccountTokenFile: string;
  /** A second valid token of the same service account user, for token rotation tests. */
  readonly serviceAccountRotatedToken: string;

  readonly #etcd: Daemon;
  #apiserver: Daemon | undefined;
  #starts = 0;
  #disposed = false;

  private constructor(ns: NetNs, dir: string, port: number, tokens: Tokens, etcd: Daemon) {
    this.ns = ns;
    this.dir = dir;
    this.port = port;
    this.url = `https://127.0.0.1:${port}`;
    this.caFile = join(dir, "ca.crt");
    this.adminKubeconfig = join(dir, "admin.kubeconfig");
    this.adminClientCertFile = join(dir, "admin.crt");
    this.adminClientKeyFile = join(dir, "admin.key");
    this.adminToken = tokens.admin;
    this.serviceAccountKubeconfig = join(dir, "serviceaccount.kubeconfig");
    this.serviceAccountToken = tokens.serviceAccount;
    this.serviceAccountTokenFile = join(dir, "serviceaccount.token");
    this.serviceAccountRotatedToken = tokens.serviceAccountRotated;
    this.#etcd = etcd;
  }

  /**
   * Starts etcd and the apiserver in `ns` (the apiserver on `options.port`, default 6443), waits until `/readyz`
   * answers, applies the test CRDs and waits until they are Established. On failure everything started is stopped
   * and removed, and the error carries the failing daemon's log tail.
   */
  static async start(ns: NetNs, options: { port?: number } = {}): Promise<KubeApiserver> {
    if (!KUBE_TOOLS_INSTALLED) throw new Error(`missing ${KUBE_TOOLS_REQUIREMENT[1]}`);
    // tmpfs: etcd fsyncs every write, which on a shared disk is the slowest part of a test.
    const dir = await Deno.makeTempDir({ dir: existsDir("/dev/shm") ? "/dev/shm" : undefined, prefix: "sl-kube-" });
    let cluster: KubeApiserver | undefined;
    try {
      const [tokens] = await Promise.all([writeCredentials(dir), Deno.mkdir(join(dir, "etcd"), { mode: 0o700 })]);
      const etcd = new Daemon("etcd", join(dir, "etcd.log"), ns, "etcd", etcdArgs(dir));
      cluster = new KubeApiserver(ns, dir, options.port ?? 6443, tokens, etcd);
      await cluster.#writeKubeconfigs();
      await cluster.startApiserver();
      // create, not apply: nothing to merge with, and no OpenAPI download for client-side validation.
      await cluster.kubectl(["create", "--validate=false", "-f", CRDS]);
      await cluster.kubectl([
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        ...CRD_NAMES.map((name) => `crd/${name}`),
      ]);
      return cluster;
    } catch (error) {
      if (cluster) await cluster[Symbol.asyncDispose]();
      else await Deno.remove(dir, { recursive: true });
      throw error;
    }
  }

  /**
   * Runs the built kubectl inside the namespace as `as` (default admin), with `stdin` when given; returns its
   * stdout and throws with its stderr when it fails.
   */
  kubectl(args: string[], options: { as?: KubeUser; stdin?: string } = {}): Promise<string> {
    const kubeconfig = options.as === "serviceaccount" ? this.serviceAccountKubeconfig : this.adminKubeconfig;
    // Our own discovery cache: the default one under $HOME is keyed by host:port, which every cluster shares.
    const cache = join(this.dir, "kubectl-cache");
    return this.ns.exec(KUBECTL, ["--kubeconfig", kubeconfig, "--cache-dir", cache, ...args], { stdin: options.stdin });
  }

  /** Stops the apiserver (etcd keeps running with the data); `SIGKILL` for an abrupt outage. */
  async stopApiserver(signal: Deno.Signal = "SIGTERM"): Promise<void> {
    await this.#apiserver?.stop(signal);
    this.#apiserver = undefined;
  }

  /** Starts the apiserver (again) on the same port with the same certificates and tokens, and waits until ready. */
  async startApiserver(): Promise<void> {
    if (this.#apiserver && !this.#apiserver.exited) throw new Error("the apiserver is already running");
    // A log per start, so the wait below does not find the previous start's line.
    const log = join(this.dir, `kube-apiserver-${this.#starts++}.log`);
    const apiserver = new Daemon("kube-apiserver", log, this.ns, KUBE_APISERVER, this.#apiserverArgs());
    this.#apiserver = apiserver;
    // Reading the log is nearly free; each kubectl poll costs about 0.1 s of CPU, which the starting apiserver needs.
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (!(await apiserver.tail(1_000)).includes("Serving securely on")) {
      if (apiserver.exited || Date.now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await this.waitReady(Math.max(0, deadline - Date.now()));
  }

  /** Polls `/readyz` as admin until it answers ok; fails early with the log tail when etcd or the apiserver exits. */
  async waitReady(timeoutMs = READY_TIMEOUT_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = "";
    while (true) {
      for (const daemon of [this.#etcd, this.#apiserver]) {
        if (daemon?.exited) throw new Error(`${daemon.name} exited:\n${await daemon.tail()}`);
      }
      if (!this.#apiserver) throw new Error("the apiserver is stopped");
      try {
        if ((await this.kubectl(["get", "--raw", "/readyz", "--request-timeout=5s"])).trim() === "ok") return;
      } catch (error) {
        last = (error as Error).message;
      }
      if (Date.now() > deadline) {
        throw new Error(`kube-apiserver not ready after ${timeoutMs} ms (${last}):\n${await this.#apiserver.tail()}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  /**
   * Writes the in-cluster service account layout into a folder (`token`, `ca.crt`, `namespace`) and returns it
   * with the environment a pod gets (`KUBERNETES_SERVICE_HOST`/`_PORT`). Rewrite `<dir>/token` with
   * {@linkcode serviceAccountRotatedToken} to rotate the token.
   */
  async writeInClusterMount(): Promise<{ dir: string; env: Record<string, string> }> {
    const mount = join(this.dir, "serviceaccount");
    await Deno.mkdir(mount, { recursive: true });
    await Promise.all([
      Deno.writeTextFile(join(mount, "token"), this.serviceAccountToken, { mode: 0o600 }),
      Deno.copyFile(this.caFile, join(mount, "ca.crt")),
      Deno.writeTextFile(join(mount, "namespace"), SERVICE_ACCOUNT.namespace),
    ]);
    return { dir: mount, env: { KUBERNETES_SERVICE_HOST: "127.0.0.1", KUBERNETES_SERVICE_PORT: String(this.port) } };
  }

  /** Stops both daemons and removes the folder. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    await Promise.all([this.#apiserver?.stop("SIGKILL"), this.#etcd.stop("SIGKILL")]);
    await Deno.remove(this.dir, { recursive: true }).catch((error) =>
      console.error(`could not remove ${this.dir}: ${error.message}`)
    );
  }

  #apiserverArgs(): string[] {
    const file = (name: string) => join(this.dir, name);
    return [
      `--etcd-servers=http://127.0.0.1:${ETCD_CLIENT_PORT}`,
      "--bind-address=127.0.0.1",
      "--advertise-address=127.0.0.1",
      `--secure-port=${this.port}`,
      "--insecure-port=0",
      `--cert-dir=${file("apiserver-certs")}`,
      `--tls-cert-file=${file("apiserver.crt")}`,
      `--tls-private-key-file=${file("apiserver.key")}`,
      `--client-ca-file=${this.caFile}`,
      `--token-auth-file=${file("tokens.csv")}`,
      "--authorization-mode=RBAC",
      // 1.20 requires an issuer and keys for service-account tokens even though the tests use static tokens.
      "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
      `--service-account-key-file=${file("serviceaccount-signing.key")}`,
      `--service-account-signing-key-file=${file("serviceaccount-signing.key")}`,
      "--service-cluster-ip-range=10.96.0.0/24",
      // Without this the apiserver keeps rewriting the `kubernetes` Endpoints, which reject a loopback address.
      "--endpoint-reconciler-type=none",
      "--enable-admission-plugins=NamespaceLifecycle",
      `--disable-admission-plugins=${UNUSED_ADMISSION_PLUGINS.join(",")}`,
      // API priority and fairness creates and watches its flow schemas at start-up; one test client needs none.
      "--enable-priority-and-fairness=false",
      "--profiling=false",
      `--runtime-config=${RUNTIME_CONFIG}`,
      "--logtostderr=true",
      "--v=0",
    ];
  }

  async #writeKubeconfigs(): Promise<void> {
    const [ca, cert, key] = await Promise.all(
      [this.caFile, this.adminClientCertFile, this.adminClientKeyFile].map((path) => Deno.readTextFile(path)),
    );
    const base64 = (text: string) => btoa(text);
    const kubeconfig = (cluster: Record<string, string>, user: Record<string, string>) =>
      stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: "test", cluster: { server: this.url, ...cluster } }],
        users: [{ name: "test", user }],
        contexts: [{ name: "test", context: { cluster: "test", user: "test" } }],
        "current-context": "test",
      });
    await Promise.all([
      Deno.writeTextFile(
        this.adminKubeconfig,
        kubeconfig({ "certificate-authority-data": base64(ca) }, {
          "client-certificate-data": base64(cert),
          "client-key-data": base64(key),
        }),
        { mode: 0o600 },
      ),
      Deno.writeTextFile(
        this.serviceAccountKubeconfig,
        kubeconfig({ "certificate-authority": this.caFile }, { token: this.serviceAccountToken }),
        { mode: 0o600 },
      ),
      Deno.writeTextFile(this.serviceAccountTokenFile, this.serviceAccountToken, { mode: 0o600 }),
    ]);
  }
}

interface Tokens {
  admin: string;
  serviceAccount: string;
  serviceAccountRotated: string;
}

function existsDir(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}

function etcdArgs(dir: string): string[] {
  const peer = `http://127.0.0.1:${ETCD_PEER_PORT}`;
  const client = `http://127.0.0.1:${ETCD_CLIENT_PORT}`;
  return [
    `--data-dir=${join(dir, "etcd")}`,
    `--listen-client-urls=${client}`,
    `--advertise-client-urls=${client}`,
    `--listen-peer-urls=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=default=${peer}`,
    "--logger=zap",
    "--log-level=warn",
  ];
}

function randomToken(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(24)), (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/**
 * Writes the CA, the apiserver's serving certificate, the admin's client certificate (O=system:masters), the
 * service-account signing key (all EC P-256: fast to make) and the static token file; returns the tokens.
 */
async function writeCredentials(dir: string): Promise<Tokens> {
  const config = join(dir, "openssl.cnf");
  await Deno.writeTextFile(config, OPENSSL_CONFIG);
  const file = (name: string) => join(dir, name);
  const openssl = async (args: string[]) => {
    const { success, stderr } = await new Deno.Command("openssl", { args, stdout: "null", stderr: "piped" }).output();
    if (!success) throw new Error(`openssl ${args[0]} failed: ${new TextDecoder().decode(stderr).trim()}`);
  };
  const certificate = (section: string, name: string, subject: string, signed: boolean) =>
    openssl([
      ..."req -x509 -nodes -days 2 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1".split(" "),
      ...["-config", config, "-extensions", section, "-subj", subject],
      ...["-keyout", file(`${name}.key`), "-out", file(`${name}.crt`)],
      ...(signed ? ["-CA", file("ca.crt"), "-CAkey", file("ca.key")] : []),
    ]);
  await certificate("ca", "ca", "/CN=siderolink-test-ca", false);
  const tokens = { admin: randomToken(), serviceAccount: randomToken(), serviceAccountRotated: randomToken() };
  const groups = SERVICE_ACCOUNT.groups.join(",");
  await Promise.all([
    certificate("server", "apiserver", "/CN=kube-apiserver", true),
    certificate("client", "admin", "/O=system:masters/CN=admin", true),
    // SEC1 ("EC PRIVATE KEY"): 1.20 reads public keys out of that form, not out of PKCS#8.
    openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", file("serviceaccount-signing.key")]),
    // token,user,uid,"group,group"
    Deno.writeTextFile(
      file("tokens.csv"),
      [
        `${tokens.admin},admin,admin,"system:masters"`,
        `${tokens.serviceAccount},${SERVICE_ACCOUNT.user},siderolink,"${groups}"`,
        `${tokens.serviceAccountRotated},${SERVICE_ACCOUNT.user},siderolink,"${groups}"`,
      ].join("\n") + "\n",
      { mode: 0o600 },
    ),
  ]);
  return tokens;
}
