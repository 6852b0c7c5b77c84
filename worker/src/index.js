// Routes only: the sync API, the public pages and the queue consumers live in their own modules.

import { consumeBatch } from "./consumer.js";
import { ASSET_PATH, handleAsset } from "./design.js";
import { jsonError } from "./http.js";
import { handleHealth, handlePage } from "./pages.js";
import { handleSync } from "./sync.js";

export default {
  async fetch(request, env) {
    const { pathname } = new URL(request.url);
    if (pathname === "/sync") {
      return request.method === "POST" ? handleSync(request, env) : jsonError(405, "Use POST /sync");
    }
    if (request.method !== "GET" && request.method !== "HEAD") {
      return jsonError(405, `${request.method} is not allowed here`);
    }
    if (pathname === "/health") {
      return handleHealth(env);
    }
    const asset = ASSET_PATH.exec(pathname);
    if (asset) {
      return handleAsset(env, asset[1], request.method);
    }
    return handlePage(request, env);
  },

  async queue(batch, env) {
    await consumeBatch(batch, env);
  },
};
