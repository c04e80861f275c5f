// Writes openapi.json: the OpenAPI document of a real `herald serve` (HERALD_BIN, or
// built from this repository), the snapshot src/schema.ts is generated from.
//
//	npm run openapi && npm run generate
import { writeFileSync } from "node:fs";
import { join } from "node:path";

import { adminKey, repoRoot, startHerald } from "./server.js";

const server = await startHerald();
try {
  const res = await fetch(server.url + "/openapi.json", { headers: { Authorization: `Bearer ${adminKey}` } });
  if (!res.ok) throw new Error(`GET /openapi.json: ${res.status} ${await res.text()}`);
  const doc = await res.json();
  const out = join(repoRoot(), "clients", "typescript", "openapi.json");
  writeFileSync(out, JSON.stringify(doc, null, 2) + "\n");
  console.log(`wrote ${out}`);
} finally {
  await server.stop();
}
