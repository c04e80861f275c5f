// The client runs on Deno and Bun too: runtime-smoke.js, compiled like the other tests,
// verifies every shared vector (ed25519 through each runtime's WebCrypto) and calls a
// real herald serve. HERALD_TEST_DENO and HERALD_TEST_BUN name the binaries (CI installs
// both from the npm registry); a runtime whose variable is unset is skipped.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { after, before, test } from "node:test";

import { adminKey, startHerald, type HeraldServer } from "./server.js";

const run = promisify(execFile);
const smoke = fileURLToPath(new URL("./runtime-smoke.js", import.meta.url));
const vectors = fileURLToPath(new URL("../../../testdata/vectors.json", import.meta.url));

const runtimes = [
  { name: "Deno", env: "HERALD_TEST_DENO", args: ["run", "--allow-read", "--allow-net", "--allow-env", smoke] },
  { name: "Bun", env: "HERALD_TEST_BUN", args: ["run", smoke] },
];

let server: HeraldServer | undefined;
before(async () => {
  if (runtimes.some((r) => process.env[r.env])) server = await startHerald();
});
after(async () => {
  await server?.stop();
});

for (const r of runtimes) {
  const bin = process.env[r.env];
  test(`the client on ${r.name}`, { skip: bin ? false : `${r.env} is unset: set it to a ${r.name} binary (.ci/run installs one)` }, async () => {
    const { stdout } = await run(bin!, [...r.args, vectors, server!.url, adminKey], { timeout: 120_000 });
    const got = JSON.parse(stdout.trim().split("\n").at(-1)!);
    assert.ok(got.vectors >= 20, `${got.vectors} vectors`);
    assert.deepEqual(got.mismatches, [], `${r.name} disagrees with the Go receiver`);
    assert.equal(got.event, "ping");
    assert.equal(got.notFound, "404 NOT_FOUND");
  });
}
