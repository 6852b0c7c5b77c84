// Read and admin actions of POST /sync: the clean-up command's key listing, reads and deletes, and
// the dead-letter store (list and replay).

import { HttpError, json, requireKey } from "./http.js";
import {
  DEAD_LETTER_PREFIX,
  KvBudget,
  TOMBSTONE_TTL_SECONDS,
  isInternalKey,
  isTombstone,
  keyProblem,
  versionTime,
} from "./kv.js";
import { enqueue, queueOps } from "./queue.js";

const MAX_DELETE_KEYS = 50;
const MAX_LIST_LIMIT = 1000;
// Replaying reads and deletes each record: 2 KV operations, well inside one invocation's budget.
const MAX_REPLAY = 200;


// One page of a KV listing, with the client's `limit` and `cursor` checked.
async function listPage(body, env, { prefix, defaultLimit }) {
  const limit = body.limit ?? defaultLimit;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) {
    throw new HttpError(400, `limit must be an integer from 1 to ${MAX_LIST_LIMIT}`);
  }
  if (body.cursor !== undefined && body.cursor !== null && typeof body.cursor !== "string") {
    throw new HttpError(400, "cursor must be a string");
  }
  const result = await env.PRODUCTS_KV.list({ prefix, limit, cursor: body.cursor || undefined });
  const live = result.keys.filter((key) => !isTombstone(key.metadata));
  return { live, list_complete: result.list_complete, cursor: result.list_complete ? null : result.cursor };
}

async function listKeys(body, env) {
  const { live, ...page } = await listPage(body, env, { defaultLimit: MAX_LIST_LIMIT });
  const keys = live.filter((key) => !isInternalKey(key.name)).map((key) => key.name);
  return json({ success: true, keys, ...page });
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

async function listFailed(body, env) {
  const { live, ...page } = await listPage(body, env, { prefix: DEAD_LETTER_PREFIX, defaultLimit: 100 });
  const failed = live.map((key) => ({ id: key.name.slice(DEAD_LETTER_PREFIX.length), ...key.metadata?.summary }));
  return json({ success: true, failed, ...page });
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
  // Past the tombstone lifetime a replayed write could resurrect a product deleted since: such a
  // message is left in the store for a person to re-push from the catalogue instead.
  const horizon = Date.now() - TOMBSTONE_TTL_SECONDS * 1000;
  const replayable = ({ record }) => versionTime(record.value.body?.version) > horizon;
  const expired = records.filter((item) => !replayable(item)).map(({ id }) => id);
  if (expired.length > 0 && body.ids) {
    throw new HttpError(409, `Dead letter(s) too old to replay safely, re-push from the catalogue: ${expired.join(", ")}`);
  }
  const ready = records.filter(replayable);
  await enqueue(
    env,
    ready.map(({ record }) => record.value.body),
  );
  // Removed only after the bodies are safely back on the queue.
  await Promise.all(ready.map(({ id }) => kv.delete(DEAD_LETTER_PREFIX + id)));
  const more = await kv.list({ prefix: DEAD_LETTER_PREFIX, limit: expired.length + 1 });
  return json({ success: true, replayed: ready.length, expired, remaining: more.keys.length > expired.length });
}

export const ADMIN_ACTIONS = {
  list_keys: listKeys,
  get_key: getKey,
  delete_keys: deleteKeys,
  list_failed: listFailed,
  replay_failed: replayFailed,
};
