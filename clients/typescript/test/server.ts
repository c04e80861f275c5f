// A real `herald serve` for the tests: the binary at HERALD_BIN, or built from this
// repository with `go build` when HERALD_BIN is unset.
import { spawn, execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The admin key the test servers start with. */
export const adminKey = "hk_admin_typescript-client-tests-0001";

/** A running herald serve. */
export interface HeraldServer {
  url: string;
  dataDir: string;
  /** Everything it printed, for failure messages. */
  output(): string;
  stop(): Promise<void>;
}

/** repoRoot is the Go module's directory, found upward from here. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "go.mod"))) {
    const up = dirname(dir);
    if (up === dir) throw new Error("the Herald repository (go.mod) is not above " + fileURLToPath(import.meta.url));
    dir = up;
  }
  return dir;
}

let built: string | undefined;

/** heraldBin returns HERALD_BIN, or builds cmd/herald once per process. */
export function heraldBin(): string {
  if (process.env.HERALD_BIN) return process.env.HERALD_BIN;
  if (!built) {
    const out = join(mkdtempSync(join(tmpdir(), "herald-ts-")), "herald");
    execFileSync("go", ["build", "-o", out, "./cmd/herald"], { cwd: repoRoot(), stdio: "inherit" });
    built = out;
  }
  return built;
}

/** startHerald runs herald serve on a free loopback port with a new data directory. */
export async function startHerald(extraArgs: string[] = []): Promise<HeraldServer> {
  const dataDir = mkdtempSync(join(tmpdir(), "herald-ts-data-"));
  const child = spawn(
    heraldBin(),
    ["serve", "--addr", "127.0.0.1:0", "--data-dir", dataDir, "--admin-key", adminKey, "--allow-private-networks",
      "--poll-interval", "50ms", "--log-level", "warn", ...extraArgs],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("herald serve did not start in 60s:\n" + output)), 60_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const m = /listening on (http:\/\/\S+)/.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`herald serve exited (${code}) before listening:\n${output}`));
    });
  });
  return {
    url,
    dataDir,
    output: () => output,
    async stop() {
      child.kill("SIGTERM");
      await exited;
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
