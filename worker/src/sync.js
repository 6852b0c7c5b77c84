// POST /sync: the Django client's contract (shared/contract.md). Writes are version-stamped here,
// split into queue messages that respect every Queues limit, and applied later by the consumer.

import { HttpError, json, jsonError } from "./http.js";
import {
  ALIAS_GENERATION_KEY,
  ALIAS_PREFIX,
  BANK_PREFIX,
  DEAD_LETTER_PREFIX,
  DESIGN_KEY,
  KV_OPS_PER_INVOCATION,
  KvBudget,
  MAX_KEY_BYTES,
  MAX_VALUE_BYTES,
  SET_PREFIX,
  applyVersioned,
  byteLength,
  isCurrentAlias,
  isInternalKey,
  isReservedKey,
  isTombstone,
  listAll,
  newVersion,
  readLive,
} from "./kv.js";

// Queues limits: 128 KB per message including ~100 bytes of metadata, 256 KB and 100 messages
// per sendBatch (KB = 1000 bytes). The margins absorb the JSON framing of the message body.
export const MAX_MESSAGE_BYTES = 127_000;
const MAX_BATCH_BYTES = 250_000;
const MAX_BATCH_MESSAGES = 100;
// The whole design document (base64 images included) is written directly: it cannot fit in a
// message, and one admin request a day does not need the queue.
const MAX_BODY_BYTES = MAX_VALUE_BYTES + 1024 * 1024;
const MAX_DELETE_KEYS = 50;
const MAX_LIST_LIMIT = 1000;
// Replaying reads and deletes each record: 2 KV operations, well inside one invocation's budget.
const MAX_REPLAY = 200;

const ACTIONS = {
  sync_product: syncProduct,
  sync_all: syncAll,
  sync_product_sets: syncProductSets,
  delete_product: deleteProduct,
  update_name_map: updateNameMap,
  sync_name_map: syncNameMap,
  sync_qr_design: syncQrDesign,
  sync_all_bank: syncAllBank,
  list_keys: listKeys,
  get_key: getKey,
  delete_keys: deleteKeys,
  list_failed: listFailed,
  replay_failed: replayFailed,
};

export async function handleSync(request, env) {
  try {
    if (!(await authorized(request, env))) {
      return jsonError(401, "Unauthorized");
    }
    const body = await readJson(request);
    if (typeof body.action !== "string" || !Object.hasOwn(ACTIONS, body.action)) {
      return jsonError(400, "Unknown action");
    }
    return await ACTIONS[body.action](body, env);
  } catch (error) {
    if (error instanceof HttpError) {
      return jsonError(error.status, error.message, error.details);
    }
    // The client retries a 500 only when its body mentions 429, which KV and Queues put in
    // their rate-limit errors; so the platform's message is passed through as it is.
    console.error(JSON.stringify({ event: "sync_error", error: String(error?.message ?? error) }));
    return jsonError(500, `Sync failed: ${error?.message ?? error}`);
  }
}

// The key is a Worker secret compared in constant time (hashing first gives equal lengths).
async function authorized(request, env) {
  const expected = env.SYNC_API_KEY;
  if (typeof expected !== "string" || expected.length === 0) {
    throw new HttpError(503, "SYNC_API_KEY is not configured on this Worker");
  }
  const given = request.headers.get("X-Sync-API-Key") ?? "";
  const [a, b] = await Promise.all(
    [given, expected].map((text) => crypto.subtle.digest("SHA-256", new TextEncoder().encode(text))),
  );
  return crypto.subtle.timingSafeEqual(a, b);
}

async function readJson(request) {
  const declared = Number(request.headers.get("content-length") ?? 0);
  if (declared > MAX_BODY_BYTES) {
    throw new HttpError(413, `Request body over ${MAX_BODY_BYTES} bytes`);
  }
  const text = await readCapped(request, MAX_BODY_BYTES);
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    throw new HttpError(400, "Body is not valid JSON");
  }
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    throw new HttpError(400, "Body must be a JSON object with an action");
  }
  return body;
}

// Reads at most `limit` bytes, so a body without Content-Length cannot exhaust memory.
async function readCapped(request, limit) {
  if (!request.body) {
    return "";
  }
  const chunks = [];
  let size = 0;
  for await (const chunk of request.body) {
    size += chunk.byteLength;
    if (size > limit) {
      throw new HttpError(413, `Request body over ${limit} bytes`);
    }
    chunks.push(chunk);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return new TextDecoder().decode(bytes);
}

// --- validation -----------------------------------------------------------------------------

function requireObject(value, field) {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new HttpError(400, `${field} must be a JSON object`);
  }
  return value;
}

// Returns a reason the key cannot be written by the client, or null.
function keyProblem(key) {
  if (typeof key !== "string" || key.trim().length === 0) {
    return "must be a non-empty string";
  }
  if (byteLength(key) > MAX_KEY_BYTES) {
    return `is over ${MAX_KEY_BYTES} bytes`;
  }
  if (/[\u0000-\u001f\u007f]/.test(key)) {
    return "contains control characters";
  }
  // KV refuses these names: accepting them would queue a write that can never succeed.
  if (key === "." || key === ".." || !key.isWellFormed()) {
    return "is not a valid KV key name";
  }
  return null;
}

function requireKey(key, field, { allowReserved = false } = {}) {
  const problem = keyProblem(key);
  if (problem) {
    throw new HttpError(400, `${field} ${problem}`);
  }
  if (!allowReserved && isReservedKey(key)) {
    throw new HttpError(400, `${field} ${JSON.stringify(key)} is a reserved key`);
  }
  return key;
}

function productProblem(product) {
  if (product === null || typeof product !== "object" || Array.isArray(product)) {
    return { field: "product", reason: "must be a JSON object" };
  }
  if (typeof product.code !== "string" || product.code.length > 255) {
    return { field: "code", reason: "must be a string of at most 255 characters" };
  }
  const problem = keyProblem(product.code) ?? (isReservedKey(product.code) ? "is a reserved key" : null);
  if (problem) {
    return { field: "code", reason: problem };
  }
  if (product.code.startsWith(SET_PREFIX)) {
    return { field: "code", reason: `must not start with ${SET_PREFIX} (product-set keys)` };
  }
  return null;
}

function productOp(product, field) {
  const problem = productProblem(product);
  if (problem) {
    throw new HttpError(400, `${field}.${problem.field} ${problem.reason}`);
  }
  return { key: product.code, value: JSON.stringify(product) };
}

// --- queueing -------------------------------------------------------------------------------

function syncSettings(env) {
  const settings = env.SYNC_SETTINGS ?? {};
  const batchSize = Number(settings.batchSize) || 25;
  return { ...settings, batchSize };
}

// Each write costs 2 KV operations (version read + write) in the consumer, and a batch holds up to
// `batchSize` messages, each of which may also need 1 dead-letter write: the per-message cap keeps
// any full batch within the 1,000-operation limit of one invocation.
export function opsPerMessage(batchSize) {
  return Math.max(1, Math.floor((KV_OPS_PER_INVOCATION / batchSize - 1) / 2));
}

// Splits ops into message bodies under both the byte and the KV-operation caps. Later ops on the
// same key replace earlier ones: within one request the last document wins.
export function planMessages(ops, version, source, batchSize) {
  const latest = new Map();
  for (const op of ops) {
    latest.delete(op.key);
    latest.set(op.key, op);
  }
  const cap = opsPerMessage(batchSize);
  const frame = byteLength(JSON.stringify({ version, source, ops: [] }));
  const messages = [];
  let current = [];
  let size = frame;
  for (const op of latest.values()) {
    const opBytes = byteLength(JSON.stringify(op)) + 1;
    if (frame + opBytes > MAX_MESSAGE_BYTES) {
      throw new HttpError(
        413,
        `Document ${JSON.stringify(op.key.slice(0, 80))} is ${opBytes} bytes; one queue message holds at most ${MAX_MESSAGE_BYTES - frame}`,
      );
    }
    if (current.length === cap || size + opBytes > MAX_MESSAGE_BYTES) {
      messages.push({ version, source, ops: current });
      current = [];
      size = frame;
    }
    current.push(op);
    size += opBytes;
  }
  if (current.length > 0) {
    messages.push({ version, source, ops: current });
  }
  return messages;
}

// Sends message bodies in sendBatch calls of at most 100 messages and 256 KB, and returns only
// once every one is on the queue.
export async function enqueue(env, bodies) {
  const batches = [];
  let batch = [];
  let size = 0;
  for (const body of bodies) {
    const bytes = byteLength(JSON.stringify(body));
    if (batch.length === MAX_BATCH_MESSAGES || size + bytes > MAX_BATCH_BYTES) {
      batches.push(batch);
      batch = [];
      size = 0;
    }
    batch.push({ body });
    size += bytes;
  }
  if (batch.length > 0) {
    batches.push(batch);
  }
  const results = await Promise.allSettled(batches.map((messages) => env.SYNC_QUEUE.sendBatch(messages)));
  const failed = results.filter((result) => result.status === "rejected");
  if (failed.length > 0) {
    // Re-sending the whole request is safe: every write is versioned, so duplicates change nothing.
    throw new Error(
      `queue send failed for ${failed.length} of ${batches.length} batches: ${failed[0].reason?.message ?? failed[0].reason}`,
    );
  }
  return bodies.length;
}

async function queueOps(env, ops, source, version = newVersion()) {
  const bodies = planMessages(ops, version, source, syncSettings(env).batchSize);
  await enqueue(env, bodies);
  return { messages: bodies.length, version };
}

// --- actions --------------------------------------------------------------------------------

async function syncProduct(body, env) {
  const op = productOp(body.product, "product");
  await queueOps(env, [op], "sync_product");
  return json({ success: true, queued: true, action: "sync_product" });
}

async function syncAll(body, env) {
  if (!Array.isArray(body.products)) {
    throw new HttpError(400, "products must be a JSON array");
  }
  const problems = [];
  body.products.forEach((product, index) => {
    const problem = productProblem(product);
    if (problem) {
      problems.push({ index, ...problem });
    }
  });
  if (problems.length > 0) {
    // All or nothing: a request with one bad document writes none of them.
    throw new HttpError(400, `${problems.length} invalid product(s); nothing was queued`, problems.slice(0, 100));
  }
  const ops = body.products.map((product) => ({ key: product.code, value: JSON.stringify(product) }));
  const { messages } = await queueOps(env, ops, "sync_all");
  return json({ success: true, queued: true, action: "sync_all", count: ops.length, messages });
}

async function syncProductSets(body, env) {
  const sets = requireObject(body.product_sets, "product_sets");
  const ops = Object.entries(sets).map(([key, set]) => {
    requireKey(key, "product_sets key");
    if (!key.startsWith(SET_PREFIX)) {
      throw new HttpError(400, `product_sets key ${JSON.stringify(key)} must start with ${SET_PREFIX}`);
    }
    requireObject(set, `product_sets[${JSON.stringify(key)}]`);
    return { key, value: JSON.stringify(set) };
  });
  const { messages } = await queueOps(env, ops, "sync_product_sets");
  return json({ success: true, queued: true, action: "sync_product_sets", count: ops.length, messages });
}

async function deleteProduct(body, env) {
  const key = requireKey(body.code, "code");
  await queueOps(env, [{ key, deleted: true }], "delete_product");
  return json({ success: true, queued: true, action: "delete_product" });
}

// Each alias is its own key, so concurrent saves never race on one shared map and no key takes
// more than one write per save (KV allows one write per second per key).
function aliasOps(entries, field) {
  return Object.entries(requireObject(entries, field)).map(([name, code]) => {
    requireKey(name, `${field} name`, { allowReserved: true });
    if (byteLength(ALIAS_PREFIX + name) > MAX_KEY_BYTES) {
      throw new HttpError(400, `${field} name ${JSON.stringify(name.slice(0, 80))} is too long`);
    }
    requireKey(code, `${field}[${JSON.stringify(name)}]`);
    return { key: ALIAS_PREFIX + name, value: code };
  });
}

async function countAliases(env) {
  const generation = await readLive(env.PRODUCTS_KV, ALIAS_GENERATION_KEY);
  const { keys } = await listAll(env.PRODUCTS_KV, { prefix: ALIAS_PREFIX });
  return keys.filter((key) => isCurrentAlias(key.metadata, generation)).length;
}

async function updateNameMap(body, env) {
  const ops = aliasOps(body.entries, "entries");
  await queueOps(env, ops, "update_name_map");
  // `total` counts the aliases already applied; entries still queued are not in it yet.
  return json({ success: true, added: ops.length, total: await countAliases(env) });
}

// Replacing the map starts a new alias generation: readers ignore every alias older than it, so an
// update_name_map still in the queue cannot bring back an alias the new map dropped. Stale alias
// keys that are already stored are deleted too, to keep the namespace clean.
async function syncNameMap(body, env) {
  const ops = aliasOps(body.map, "map");
  const wanted = new Set(ops.map((op) => op.key));
  const { keys } = await listAll(env.PRODUCTS_KV, { prefix: ALIAS_PREFIX });
  for (const { name, metadata } of keys) {
    if (!wanted.has(name) && !isTombstone(metadata)) {
      ops.push({ key: name, deleted: true });
    }
  }
  const version = newVersion();
  await queueOps(env, ops, "sync_name_map", version);
  await applyVersioned(env.PRODUCTS_KV, { key: ALIAS_GENERATION_KEY, value: version }, version);
  return json({ success: true, count: wanted.size });
}

async function syncQrDesign(body, env) {
  const design = requireObject(body.design, "design");
  const value = JSON.stringify(design);
  if (byteLength(value) > MAX_VALUE_BYTES) {
    throw new HttpError(413, `design is over ${MAX_VALUE_BYTES} bytes`);
  }
  await applyVersioned(env.PRODUCTS_KV, { key: DESIGN_KEY, value }, newVersion());
  return json({ success: true, action: "sync_qr_design" });
}

async function syncAllBank(body, env) {
  const accounts = requireObject(body.bank_accounts, "bank_accounts");
  const ops = Object.entries(accounts).map(([key, doc]) => {
    requireKey(key, "bank_accounts key", { allowReserved: true });
    if (!key.startsWith(BANK_PREFIX)) {
      throw new HttpError(400, `bank_accounts key ${JSON.stringify(key)} must start with ${BANK_PREFIX}`);
    }
    requireObject(doc, `bank_accounts[${JSON.stringify(key)}]`);
    return { key, value: JSON.stringify(doc) };
  });
  const { messages } = await queueOps(env, ops, "sync_all_bank");
  return json({ success: true, queued: true, action: "sync_all_bank", count: ops.length, messages });
}

async function listKeys(body, env) {
  const limit = body.limit ?? MAX_LIST_LIMIT;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) {
    throw new HttpError(400, `limit must be an integer from 1 to ${MAX_LIST_LIMIT}`);
  }
  if (body.cursor !== undefined && body.cursor !== null && typeof body.cursor !== "string") {
    throw new HttpError(400, "cursor must be a string");
  }
  const result = await env.PRODUCTS_KV.list({ limit, cursor: body.cursor || undefined });
  const keys = result.keys
    .filter((key) => !isInternalKey(key.name) && !isTombstone(key.metadata))
    .map((key) => key.name);
  return json({
    success: true,
    keys,
    list_complete: result.list_complete,
    cursor: result.list_complete ? null : result.cursor,
  });
}

async function getKey(body, env) {
  const key = requireKey(body.key, "key", { allowReserved: true });
  const { value, metadata } = await env.PRODUCTS_KV.getWithMetadata(key, "text");
  if (value === null || isTombstone(metadata)) {
    throw new HttpError(404, `Key ${JSON.stringify(key)} not found`);
  }
  let parsed = value;
  try {
    parsed = JSON.parse(value);
  } catch {
    // Aliases and legacy values are plain text; they are returned as they are.
  }
  return json({ success: true, value: parsed });
}

async function deleteKeys(body, env) {
  if (!Array.isArray(body.keys) || body.keys.length > MAX_DELETE_KEYS) {
    throw new HttpError(400, `keys must be an array of at most ${MAX_DELETE_KEYS} key names`);
  }
  const ops = body.keys.map((key, index) => {
    requireKey(key, `keys[${index}]`, { allowReserved: true });
    if (isInternalKey(key)) {
      throw new HttpError(400, `keys[${index}] ${JSON.stringify(key)} is internal state`);
    }
    return { key, deleted: true };
  });
  await queueOps(env, ops, "delete_keys");
  return json({ success: true, count: ops.length });
}

// --- dead letters ---------------------------------------------------------------------------

async function listFailed(body, env) {
  const limit = body.limit ?? 100;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) {
    throw new HttpError(400, `limit must be an integer from 1 to ${MAX_LIST_LIMIT}`);
  }
  const result = await env.PRODUCTS_KV.list({
    prefix: DEAD_LETTER_PREFIX,
    limit,
    cursor: typeof body.cursor === "string" && body.cursor ? body.cursor : undefined,
  });
  const failed = result.keys
    .filter((key) => !isTombstone(key.metadata))
    .map((key) => ({ id: key.name.slice(DEAD_LETTER_PREFIX.length), ...key.metadata?.summary }));
  return json({
    success: true,
    failed,
    list_complete: result.list_complete,
    cursor: result.list_complete ? null : result.cursor,
  });
}

// Puts dead letters back on the sync queue with their original version stamps, so a replay can
// never overwrite anything written after the message was first accepted.
async function replayFailed(body, env) {
  const kv = new KvBudget(env.PRODUCTS_KV);
  let ids = body.ids;
  if (ids === undefined || ids === null) {
    const result = await kv.list({ prefix: DEAD_LETTER_PREFIX, limit: MAX_REPLAY });
    ids = result.keys
      .filter((key) => !isTombstone(key.metadata))
      .map((key) => key.name.slice(DEAD_LETTER_PREFIX.length));
  }
  if (
    !Array.isArray(ids) ||
    ids.length > MAX_REPLAY ||
    ids.some((id) => typeof id !== "string" || !id || keyProblem(DEAD_LETTER_PREFIX + id))
  ) {
    throw new HttpError(400, `ids must be an array of at most ${MAX_REPLAY} dead-letter ids`);
  }
  const records = await Promise.all(
    ids.map(async (id) => ({ id, record: await kv.getWithMetadata(DEAD_LETTER_PREFIX + id, "json") })),
  );
  const missing = records.filter(({ record }) => record.value === null || isTombstone(record.metadata));
  if (missing.length > 0) {
    throw new HttpError(404, `Unknown dead-letter id(s): ${missing.map(({ id }) => id).join(", ")}`);
  }
  await enqueue(
    env,
    records.map(({ record }) => record.value.body),
  );
  // Removed only after the bodies are safely back on the queue.
  await Promise.all(ids.map((id) => kv.delete(DEAD_LETTER_PREFIX + id)));
  const more = await kv.list({ prefix: DEAD_LETTER_PREFIX, limit: 1 });
  return json({ success: true, replayed: ids.length, remaining: more.keys.length > 0 });
}
