// Queue messages: a request's writes split so that no message, sendBatch call or consumer batch
// passes a Cloudflare limit.

import { HttpError } from "./http.js";
import { KV_OPS_PER_INVOCATION, byteLength, newVersion } from "./kv.js";

// Queues limits: 128 KB per message including ~100 bytes of metadata, 256 KB and 100 messages
// per sendBatch (KB = 1000 bytes). The margins absorb the JSON framing of the message body.
const MAX_MESSAGE_BYTES = 127_000;
const MAX_BATCH_BYTES = 250_000;
const MAX_BATCH_MESSAGES = 100;

function configuredBatchSize(env) {
  return Number(env.SYNC_SETTINGS?.batchSize) || 25;
}

// Each write costs 2 KV operations (version read + write) in the consumer, and a batch holds up to
// `batchSize` messages, each of which may also need 1 dead-letter write: the per-message cap keeps
// any full batch within the 1,000-operation limit of one invocation.
function opsPerMessage(batchSize) {
  return Math.max(1, Math.floor((KV_OPS_PER_INVOCATION / batchSize - 1) / 2));
}

// Splits ops into message bodies under both the byte and the KV-operation caps. Later ops on the
// same key replace earlier ones: within one request the last document wins.
function planMessages(ops, version, source, batchSize) {
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
}

export async function queueOps(env, ops, source, version = newVersion()) {
  const bodies = planMessages(ops, version, source, configuredBatchSize(env));
  await enqueue(env, bodies);
  return { messages: bodies.length, version };
}
