export * from "./errors.js";
export * from "./webhook.js";
export * from "./client.js";
export type { components, operations, paths } from "./schema.js";
