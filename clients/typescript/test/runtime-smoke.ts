// The client on another runtime (Deno, Bun), run by runtimes.test.ts: every shared vector
// through Webhook.verify with a fetch Headers, then a few API calls against the server
// given as argument. Prints one JSON line with what it saw.
import { readFileSync } from "node:fs";

import { Herald, HeraldError, Webhook, type Format } from "../src/index.js";

interface Vector {
  name: string;
  format: Format;
  secret: string;
  headers: Record<string, string>;
  body: string;
  timestamp: number;
  valid: boolean;
  error?: string;
}

const [vectorsPath, baseUrl, apiKey] = process.argv.slice(-3) as [string, string, string];
const vectors: Vector[] = JSON.parse(readFileSync(vectorsPath, "utf8"));
const mismatches: string[] = [];
for (const v of vectors) {
  const wh = new Webhook(v.secret, { format: v.format, now: () => v.timestamp * 1000 });
  let got = "valid";
  try {
    await wh.verify(v.body, new Headers(v.headers));
  } catch (err) {
    got = (err as { reason?: string }).reason ?? String(err);
  }
  if (got !== (v.valid ? "valid" : v.error)) mismatches.push(`${v.name}: ${got}`);
}

const h = new Herald({ baseUrl, apiKey });
const published = await h.events.publish({ type: "ping", data: { webhook_id: "wh_runtime", message: "hello" } });
const event = await h.events.get(published.id);
let notFound = "";
try {
  await h.webhooks.get("wh_does_not_exist");
} catch (err) {
  if (err instanceof HeraldError) notFound = `${err.status} ${err.code}`;
}
console.log(JSON.stringify({ vectors: vectors.length, mismatches, event: event.type, notFound }));
