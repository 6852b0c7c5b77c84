// POST /sync: the Django client's contract (shared/contract.md). Writes are version-stamped here and
// queued (queue.js) for the consumer; the read and admin actions live in admin.js.

import { ADMIN_ACTIONS } from "./admin.js";
import { storeDesign } from "./design.js";
import { HttpError, json, jsonError, requireKey, requireObject } from "./http.js";
import {
  ALIAS_GENERATION_KEY,
  ALIAS_PREFIX,
  BANK_PREFIX,
  MAX_VALUE_BYTES,
  SET_PREFIX,
  applyVersioned,
  byteLength,
  countKeys,
  fitsKeyLimit,
  isCurrentAlias,
  isReservedKey,
  isTombstone,
  keyProblem,
  listAll,
  newVersion,
  parseDocument,
  readLive,
} from "./kv.js";
import { queueOps } from "./queue.js";

// The whole design document (base64 images included) is written directly: it cannot fit in a
// message, and one admin request a day does not need the queue.
const MAX_BODY_BYTES = MAX_VALUE_BYTES + 1024 * 1024;
const ACTIONS = {
  sync_product: syncProduct,
  sync_all: syncAll,
  sync_product_sets: syncProductSets,
  delete_product: deleteProduct,
  update_name_map: updateNameMap,
  sync_name_map: syncNameMap,
  sync_qr_design: syncQrDesign,
  sync_all_bank: syncAllBank,
  ...ADMIN_ACTIONS,
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

function productOp(product) {
  return { key: product.code, value: JSON.stringify(product) };
}

// A map of documents under one key prefix (product sets, bank accounts) as writes.
function prefixedDocumentOps(documents, field, prefix, { allowReserved }) {
  return Object.entries(requireObject(documents, field)).map(([key, doc]) => {
    requireKey(key, `${field} key`, { allowReserved });
    if (!key.startsWith(prefix)) {
      throw new HttpError(400, `${field} key ${JSON.stringify(key)} must start with ${prefix}`);
    }
    requireObject(doc, `${field}[${JSON.stringify(key)}]`);
    return { key, value: JSON.stringify(doc) };
  });
}

async function queueDocuments(env, ops, action) {
  const { messages } = await queueOps(env, ops, action);
  return json({ success: true, queued: true, action, count: ops.length, messages });
}

// --- actions --------------------------------------------------------------------------------

async function syncProduct(body, env) {
  const problem = productProblem(body.product);
  if (problem) {
    throw new HttpError(400, `product.${problem.field} ${problem.reason}`);
  }
  await queueOps(env, [productOp(body.product)], "sync_product");
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
  return queueDocuments(env, body.products.map(productOp), "sync_all");
}

async function syncProductSets(body, env) {
  const ops = prefixedDocumentOps(body.product_sets, "product_sets", SET_PREFIX, { allowReserved: false });
  return queueDocuments(env, ops, "sync_product_sets");
}

// Django also sends delete_product after every product save, with the product's *name* as the key,
// to clean up legacy aliases. For a product whose name is its own code, that would delete the
// product just saved, so such a product is kept (delete_keys still removes it deliberately).
async function deleteProduct(body, env) {
  const key = requireKey(body.code, "code");
  const current = parseDocument(await readLive(env.PRODUCTS_KV, key));
  if (current?.code === key && current?.name === key) {
    return json({ success: true, queued: false, action: "delete_product", kept: "a product named by its own code" });
  }
  await queueOps(env, [{ key, deleted: true }], "delete_product");
  return json({ success: true, queued: true, action: "delete_product" });
}

// Each alias is its own key, so concurrent saves never race on one shared map and no key takes
// more than one write per save (KV allows one write per second per key).
function aliasOps(entries, field) {
  return Object.entries(requireObject(entries, field)).map(([name, code]) => {
    requireKey(name, `${field} name`, { allowReserved: true });
    if (!fitsKeyLimit(ALIAS_PREFIX + name)) {
      throw new HttpError(400, `${field} name ${JSON.stringify(name.slice(0, 80))} is too long`);
    }
    requireKey(code, `${field}[${JSON.stringify(name)}]`);
    return { key: ALIAS_PREFIX + name, value: code };
  });
}

async function countAliases(env) {
  const generation = await readLive(env.PRODUCTS_KV, ALIAS_GENERATION_KEY);
  const { count } = await countKeys(env.PRODUCTS_KV, ALIAS_PREFIX, (key) => isCurrentAlias(key.metadata, generation));
  return count;
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
  await storeDesign(env, design, value);
  return json({ success: true, action: "sync_qr_design" });
}

async function syncAllBank(body, env) {
  const ops = prefixedDocumentOps(body.bank_accounts, "bank_accounts", BANK_PREFIX, { allowReserved: true });
  return queueDocuments(env, ops, "sync_all_bank");
}
