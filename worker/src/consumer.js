// Queue consumer: applies version-stamped writes to KV in parallel, within the per-invocation KV
// operation budget, and keeps every message that cannot be applied in the dead-letter store.

import { DEAD_LETTER_PREFIX, KvBudget, applyVersioned } from "./kv.js";

export async function consumeBatch(batch, env) {
  const settings = env.SYNC_SETTINGS ?? {};
  if (batch.queue === settings.deadLetterQueueName) {
    return storeDeadLetters(batch, env);
  }
  return applyBatch(batch, env, settings);
}

function opsOf(body) {
  const valid =
    body &&
    typeof body.version === "string" &&
    Array.isArray(body.ops) &&
    body.ops.every((op) => op && typeof op.key === "string" && (op.deleted === true || typeof op.value === "string"));
  return valid ? body.ops : null;
}

async function applyBatch(batch, env, settings) {
  const kv = new KvBudget(env.PRODUCTS_KV);
  const maxRetries = Number.isInteger(settings.maxRetries) ? settings.maxRetries : 3;
  const stats = { acked: 0, retried: 0, deadLettered: 0, deferred: 0, superseded: 0 };
  // One dead-letter write per message is held back so a failing batch can still record its losses.
  let available = kv.limit - batch.messages.length;
  const accepted = [];
  const winners = new Map();

  for (const message of batch.messages) {
    const ops = opsOf(message.body);
    if (ops === null) {
      await deadLetter(kv, message, batch.queue, "malformed message body", stats);
      continue;
    }
    const newKeys = new Set(ops.map((op) => op.key).filter((key) => !winners.has(key)));
    if (newKeys.size * 2 > available) {
      // Only a message produced under a larger per-message cap gets here; it runs in a later batch.
      message.retry();
      stats.deferred += 1;
      continue;
    }
    available -= newKeys.size * 2;
    accepted.push({ message, ops });
    // Across messages of one batch only the newest write per key is applied: fewer KV writes, and
    // never two writes to one key in the same second.
    for (const op of ops) {
      const best = winners.get(op.key);
      if (!best || best.version < message.body.version) {
        winners.set(op.key, { op, version: message.body.version });
      }
    }
  }

  const failures = new Map();
  await Promise.all(
    [...winners].map(async ([key, { op, version }]) => {
      try {
        if ((await applyVersioned(kv, op, version)) === "superseded") {
          stats.superseded += 1;
        }
      } catch (error) {
        failures.set(key, error);
      }
    }),
  );

  for (const { message, ops } of accepted) {
    const failed = ops.find((op) => failures.has(op.key));
    if (!failed) {
      message.ack();
      stats.acked += 1;
    } else if (message.attempts > maxRetries) {
      const error = failures.get(failed.key);
      await deadLetter(kv, message, batch.queue, String(error?.message ?? error), stats);
    } else {
      // Backs off 1 s, 2 s, 3 s…: KV answers a second write to one key within a second with 429.
      message.retry({ delaySeconds: Math.min(message.attempts, 60) });
      stats.retried += 1;
    }
  }
  console.log(
    JSON.stringify({ event: "consumer_batch", queue: batch.queue, messages: batch.messages.length, keys: winners.size, kvOps: kv.used, ...stats }),
  );
}

// Keeps the message with its error in KV and acks it. If even that write fails the message is
// retried: from the sync queue that sends it to the dead-letter queue (drained below), which in turn
// retries it after `retryDelaySeconds`.
async function deadLetter(kv, message, queue, error, stats, retryDelaySeconds = 0) {
  try {
    await writeDeadLetter(kv, message, queue, error);
    message.ack();
    stats.deadLettered += 1;
  } catch (writeError) {
    console.error(JSON.stringify({ event: "dead_letter_write_failed", id: message.id, error: String(writeError) }));
    message.retry({ delaySeconds: retryDelaySeconds });
    stats.retried += 1;
  }
}

async function writeDeadLetter(kv, message, queue, error) {
  const failedAt = new Date().toISOString();
  const id = `${Date.now()}-${message.id}`;
  const body = message.body;
  const record = { id, queue, body, error, attempts: message.attempts, failed_at: failedAt };
  // The summary rides in the metadata (≤1,024 bytes) so listing needs no extra reads.
  const summary = {
    source: typeof body?.source === "string" ? body.source.slice(0, 40) : null,
    keys: Array.isArray(body?.ops) ? body.ops.length : 0,
    first_key: Array.isArray(body?.ops) && typeof body.ops[0]?.key === "string" ? body.ops[0].key.slice(0, 120) : null,
    error: error.slice(0, 300),
    attempts: message.attempts,
    failed_at: failedAt,
  };
  await kv.put(DEAD_LETTER_PREFIX + id, JSON.stringify(record), { metadata: { summary } });
}

// Messages the platform moved to the dead-letter queue after their last retry: store each one.
async function storeDeadLetters(batch, env) {
  const kv = new KvBudget(env.PRODUCTS_KV);
  const stats = { deadLettered: 0, retried: 0 };
  await Promise.all(
    batch.messages.map((message) =>
      deadLetter(kv, message, batch.queue, "delivery retries exhausted", stats, Math.min(message.attempts * 5, 300)),
    ),
  );
  console.log(
    JSON.stringify({ event: "dead_letter_batch", queue: batch.queue, messages: batch.messages.length, kvOps: kv.used, ...stats }),
  );
}
