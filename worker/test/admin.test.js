// Dead-letter replay against an in-memory stand-in for KV and the queue: the rule that messages
// older than the delete horizon are never replayed cannot be reached in a real run without waiting
// 30 days, so it is checked here on the module itself.
import assert from "node:assert/strict";
import { test } from "node:test";

import { ADMIN_ACTIONS } from "../src/admin.js";
import { HttpError } from "../src/http.js";
import { DEAD_LETTER_PREFIX, TOMBSTONE_TTL_SECONDS } from "../src/kv.js";

function fakeEnv(records) {
  const store = new Map(Object.entries(records).map(([id, body]) => [DEAD_LETTER_PREFIX + id, { id, body }]));
  const sent = [];
  return {
    sent,
    store,
    PRODUCTS_KV: {
      async list({ prefix, limit = 1000 }) {
        const keys = [...store.keys()].filter((name) => name.startsWith(prefix)).sort().slice(0, limit);
        return { keys: keys.map((name) => ({ name, metadata: {} })), list_complete: true };
      },
      async getWithMetadata(key) {
        return { value: store.get(key) ?? null, metadata: null };
      },
      async delete(key) {
        store.delete(key);
      },
    },
    SYNC_QUEUE: {
      async sendBatch(messages) {
        sent.push(...messages.map((message) => message.body));
      },
    },
  };
}

function versionAt(ms) {
  return `${String(ms).padStart(15, "0")}.000001.test0000`;
}

const recent = { version: versionAt(Date.now() - 60_000), source: "sync_product", ops: [{ key: "A", value: "{}" }] };
const old = {
  version: versionAt(Date.now() - (TOMBSTONE_TTL_SECONDS + 3600) * 1000),
  source: "sync_product",
  ops: [{ key: "B", value: "{}" }],
};

test("replaying all dead letters skips the ones older than the delete horizon", async () => {
  const env = fakeEnv({ "1-recent": recent, "2-old": old });
  const reply = await ADMIN_ACTIONS.replay_failed({}, env);
  assert.deepEqual(await reply.json(), { success: true, replayed: 1, expired: ["2-old"], remaining: false });
  assert.deepEqual(env.sent, [recent]);
  assert.deepEqual([...env.store.keys()], [`${DEAD_LETTER_PREFIX}2-old`]);
});

test("replaying an old dead letter by id is refused and changes nothing", async () => {
  const env = fakeEnv({ "2-old": old });
  await assert.rejects(ADMIN_ACTIONS.replay_failed({ ids: ["2-old"] }, env), (error) => {
    assert.ok(error instanceof HttpError);
    assert.equal(error.status, 409);
    assert.match(error.message, /2-old/);
    return true;
  });
  assert.deepEqual(env.sent, []);
  assert.equal(env.store.size, 1);
});
