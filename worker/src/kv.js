// Everything that touches Workers KV: key rules, versioned writes and the per-invocation budget.

export const DESIGN_KEY = "__QR_DESIGN_SETTINGS__";
// The design as pages use it, and its images by content hash (design.js).
export const DESIGN_PAGE_KEY = "__QR_DESIGN_PAGE__";
export const DESIGN_ASSET_PREFIX = "__QR_DESIGN_ASSET__:";
export const ALIAS_PREFIX = "__alias__:";
// The version of the last sync_name_map: aliases written before it are no longer part of the map.
export const ALIAS_GENERATION_KEY = "__alias_generation__";
export const DEAD_LETTER_PREFIX = "__dead__:";
export const SET_PREFIX = "set_";
export const BANK_PREFIX = "bank_accounts:";

// Cloudflare limits (developers.cloudflare.com/kv/platform/limits and workers limits).
export const KV_OPS_PER_INVOCATION = 1000;
export const MAX_KEY_BYTES = 512;
export const MAX_VALUE_BYTES = 25 * 1024 * 1024;

// A delete is kept as a tombstone far longer than a queued message can live (queue retention is 4
// days), so no older write still in flight can bring the key back; dead letters older than this are
// not replayed (admin.js) for the same reason.
export const TOMBSTONE_TTL_SECONDS = 30 * 24 * 3600;

const encoder = new TextEncoder();

export function byteLength(text) {
  return encoder.encode(text).length;
}

// Reserved keys hold internal state (design, legacy secrets, aliases, dead letters, bank data):
// they are never rendered as pages and never written by a product sync.
export function isReservedKey(key) {
  return key.startsWith("__") || key.startsWith(BANK_PREFIX);
}

// Internal keys are hidden from the client's clean-up listing so it can never delete them.
export function isInternalKey(key) {
  return (
    key.startsWith(ALIAS_PREFIX) ||
    key.startsWith(DEAD_LETTER_PREFIX) ||
    key.startsWith(DESIGN_ASSET_PREFIX) ||
    key === ALIAS_GENERATION_KEY ||
    key === DESIGN_PAGE_KEY
  );
}

export function isTombstone(metadata) {
  return Boolean(metadata && metadata.deleted);
}

export function isCurrentAlias(metadata, generation) {
  return !isTombstone(metadata) && (!generation || (metadata?.version ?? "") >= generation);
}

export function fitsKeyLimit(key) {
  return byteLength(key) <= MAX_KEY_BYTES;
}

// Version stamps order writes by the time `/sync` accepted them. Fixed-width strings compare
// correctly as text; the counter orders requests accepted within one millisecond by one isolate,
// and the isolate's random id keeps stamps of different isolates distinct.
// (Workers forbid random values at global scope, hence the lazy id.)
let isolate;
let sequence = 0;
export function newVersion() {
  isolate ??= crypto.randomUUID().slice(0, 8);
  sequence = (sequence + 1) % 1_000_000;
  return `${String(Date.now()).padStart(15, "0")}.${String(sequence).padStart(6, "0")}.${isolate}`;
}

// When a version was stamped, in milliseconds since the epoch (NaN for anything else).
export function versionTime(version) {
  return typeof version === "string" ? Number(version.slice(0, 15)) : NaN;
}

// Counts every KV call of one invocation and refuses the one that would pass the platform limit,
// because past it Cloudflare fails the whole invocation.
export class KvBudget {
  constructor(kv, limit = KV_OPS_PER_INVOCATION) {
    this.kv = kv;
    this.limit = limit;
    this.used = 0;
  }

  spend() {
    if (this.used >= this.limit) {
      throw new Error(`KV operation budget of ${this.limit} per invocation exhausted`);
    }
    this.used += 1;
  }

  getWithMetadata(key, type = "text") {
    this.spend();
    return this.kv.getWithMetadata(key, type);
  }

  put(key, value, options) {
    this.spend();
    return this.kv.put(key, value, options);
  }

  delete(key) {
    this.spend();
    return this.kv.delete(key);
  }

  list(options) {
    this.spend();
    return this.kv.list(options);
  }
}

// Writes `op` unless the key already holds a newer write: 2 KV operations (read + write), or 1
// when the stored version wins. `op` is {key, value} or {key, deleted: true}; `version` its stamp.
export async function applyVersioned(kv, op, version) {
  const current = await kv.getWithMetadata(op.key, "stream");
  await current.value?.cancel();
  const stored = current.metadata?.version;
  if (stored !== undefined && stored >= version) {
    return "superseded";
  }
  if (op.deleted) {
    await kv.put(op.key, "", {
      metadata: { version, deleted: true },
      expirationTtl: TOMBSTONE_TTL_SECONDS,
    });
  } else {
    await kv.put(op.key, op.value, { metadata: { version } });
  }
  return "written";
}

// A stored JSON document, or null for anything that is not a JSON object.
export function parseDocument(text) {
  if (text === null) {
    return null;
  }
  try {
    const value = JSON.parse(text);
    return value !== null && typeof value === "object" && !Array.isArray(value) ? value : null;
  } catch {
    return null;
  }
}

// Reads a live value: tombstones and missing keys are both absent.
export async function readLive(kv, key, type = "text") {
  const { value, metadata } = await kv.getWithMetadata(key, type);
  return value === null || isTombstone(metadata) ? null : value;
}

// Lists every key under `prefix` (1 KV operation per 1,000 keys), up to `maxPages` pages.
export async function listAll(kv, { prefix, maxPages = 100 } = {}) {
  const keys = [];
  let cursor;
  for (let page = 1; page <= maxPages; page += 1) {
    const result = await kv.list({ prefix: prefix || undefined, cursor });
    keys.push(...result.keys);
    if (result.list_complete) {
      return { keys, complete: true, pages: page };
    }
    cursor = result.cursor;
  }
  return { keys, complete: false, pages: maxPages };
}

// Counts the keys under `prefix` that `keep` accepts. A count that takes more than one list page is
// reused for a minute by this isolate, so the public /health (or a burst of name-map updates) cannot
// run up hundreds of KV list operations.
const COUNT_TTL_MS = 60_000;
const counts = new Map();
export async function countKeys(kv, prefix, keep) {
  const cached = counts.get(prefix);
  if (cached && Date.now() - cached.at < COUNT_TTL_MS) {
    return cached.result;
  }
  const { keys, complete, pages } = await listAll(kv, { prefix });
  const result = { count: keys.filter(keep).length, complete };
  if (pages > 1) {
    counts.set(prefix, { at: Date.now(), result });
  }
  return result;
}

// Returns a reason the key cannot be written by the client, or null.
export function keyProblem(key) {
  if (typeof key !== "string" || key.trim().length === 0) {
    return "must be a non-empty string";
  }
  if (!fitsKeyLimit(key)) {
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
