// Local runtime: runs the Worker modules in workerd (through Miniflare) with the bindings and queue
// consumers that qrsync/local.py derives from the stack config. The config arrives as JSON on stdin;
// the first line printed to stdout is `listening <url>` once the Worker serves.
//
// Worker logs (console.log of the Worker) go to stdout after that line, one JSON object a line.

import { Buffer } from "node:buffer";
import path from "node:path";
import { Miniflare } from "miniflare";

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) {
    chunks.push(chunk);
  }
  return JSON.parse(Buffer.concat(chunks).toString("utf8"));
}

// A KV binding that fails writes under one key prefix: the local stand-in for a KV outage, used to
// rehearse (and test) the dead-letter path without any test-only code in the Worker.
const KV_FAULT_SCRIPT = `
export default function (env) {
  const kv = env.INNER;
  const prefix = env.FAIL_PUT_PREFIX;
  return {
    get: (...args) => kv.get(...args),
    getWithMetadata: (...args) => kv.getWithMetadata(...args),
    list: (...args) => kv.list(...args),
    delete: (...args) => kv.delete(...args),
    put(key, ...rest) {
      if (key.startsWith(prefix)) {
        return Promise.reject(new Error("KV PUT failed: 503 injected storage fault (qrsync dev --kv-fault)"));
      }
      return kv.put(key, ...rest);
    },
  };
}
`;

function workerOptions(config) {
  // Virtual paths under the real source folder: relative imports between modules resolve as deployed.
  const modules = config.modules.map((module) => ({
    type: "ESModule",
    path: path.join(config.sourceDir, module.name),
    contents: Buffer.from(module.contentBase64, "base64"),
  }));
  const worker = {
    name: "app",
    modules,
    compatibilityDate: config.compatibilityDate,
    bindings: config.bindings,
    queueProducers: config.queueProducers,
    queueConsumers: config.queueConsumers,
  };
  const workers = [worker];
  const fault = config.kvFault;
  if (fault) {
    worker.kvNamespaces = Object.fromEntries(
      Object.entries(config.kvNamespaces).filter(([name]) => name !== fault.binding),
    );
    worker.wrappedBindings = { [fault.binding]: { scriptName: "kv-fault" } };
    workers.push({
      name: "kv-fault",
      modules: true,
      script: KV_FAULT_SCRIPT,
      kvNamespaces: { INNER: config.kvNamespaces[fault.binding] },
      bindings: { FAIL_PUT_PREFIX: fault.failPutPrefix },
    });
  } else {
    worker.kvNamespaces = config.kvNamespaces;
  }
  return workers;
}

const config = await readStdin();
const mf = new Miniflare({
  host: config.host,
  port: config.port,
  // No network here and no need for request.cf: without this Miniflare fetches it at start-up.
  cf: false,
  defaultPersistRoot: config.persistDir ?? undefined,
  workers: workerOptions(config),
});

const url = await mf.ready;
process.stdout.write(`listening ${url.origin}\n`);

let stopping = false;
async function stop() {
  if (stopping) {
    return;
  }
  stopping = true;
  await mf.dispose();
  process.exit(0);
}
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
// The parent closing our stdin pipe is not a signal to stop; only signals are.
