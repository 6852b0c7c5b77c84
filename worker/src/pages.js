// Public pages: GET /{code}, /p/{code}, trailing slashes, and /health. Read-only.

import { loadPageDesign } from "./design.js";
import { json } from "./http.js";
import {
  ALIAS_GENERATION_KEY,
  ALIAS_PREFIX,
  SET_PREFIX,
  fitsKeyLimit,
  isCurrentAlias,
  isReservedKey,
  isTombstone,
  countKeys,
  parseDocument,
  readLive,
} from "./kv.js";
import { renderNotFoundPage, renderProductPage, renderSetPage } from "./templates.js";

const PAGE_HEADERS = {
  "content-type": "text/html; charset=utf-8",
  "content-security-policy":
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' https: data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "strict-origin-when-cross-origin",
  "x-frame-options": "DENY",
};
// KV itself is eventually consistent for about a minute, so a minute of caching hides nothing.
const FOUND_CACHE = "public, max-age=60";
const MISSING_CACHE = "public, max-age=10";

function page(html, status, cacheControl, method) {
  return new Response(method === "HEAD" ? null : html, {
    status,
    headers: { ...PAGE_HEADERS, "cache-control": cacheControl },
  });
}

// "/ABC", "/ABC/", "/p/ABC" and "/p/ABC/" all name product ABC; undefined for a malformed escape.
export function codeFromPath(pathname) {
  let path = pathname.replace(/^\/+/, "").replace(/\/+$/, "");
  if (path.startsWith("p/")) {
    path = path.slice(2);
  }
  try {
    return decodeURIComponent(path);
  } catch {
    return undefined;
  }
}

async function findDocument(env, code) {
  if (!code || isReservedKey(code) || !fitsKeyLimit(code)) {
    return null;
  }
  const kv = env.PRODUCTS_KV;
  const direct = parseDocument(await readLive(kv, code));
  if (direct) {
    return direct;
  }
  // Fallback for QR codes printed with a product name: the alias as given, then upper-cased.
  const names = [...new Set([code, code.toUpperCase()])].filter((name) => fitsKeyLimit(ALIAS_PREFIX + name));
  if (names.length === 0) {
    return null;
  }
  const generation = await readLive(kv, ALIAS_GENERATION_KEY);
  for (const name of names) {
    const alias = await kv.getWithMetadata(ALIAS_PREFIX + name, "text");
    const target = alias.value;
    if (target && isCurrentAlias(alias.metadata, generation) && !isReservedKey(target) && fitsKeyLimit(target)) {
      const product = parseDocument(await readLive(kv, target));
      if (product) {
        return product;
      }
    }
  }
  return null;
}

export async function handlePage(request, env) {
  const url = new URL(request.url);
  const site = { siteName: env.SITE_NAME, mainSiteUrl: env.MAIN_SITE_URL };
  if (url.pathname === "/" && env.MAIN_SITE_URL) {
    return Response.redirect(env.MAIN_SITE_URL, 302);
  }
  const code = codeFromPath(url.pathname);
  // The design and the document are independent reads: one round trip instead of two.
  const [design, doc] = await Promise.all([loadPageDesign(env), code === undefined ? null : findDocument(env, code)]);
  if (code === undefined) {
    return page(renderNotFoundPage({ design, ...site }), 400, MISSING_CACHE, request.method);
  }
  if (!doc) {
    return page(renderNotFoundPage({ design, ...site }), 404, MISSING_CACHE, request.method);
  }
  const members = doc.product_set?.products;
  if (Array.isArray(members) && members.length > 0) {
    const html = renderSetPage({ title: doc.product_set.name, product: doc, products: members, design, ...site });
    return page(html, 200, FOUND_CACHE, request.method);
  }
  if (code.startsWith(SET_PREFIX) && Array.isArray(doc.products)) {
    const html = renderSetPage({ title: doc.name, product: null, products: doc.products, design, ...site });
    return page(html, 200, FOUND_CACHE, request.method);
  }
  return page(renderProductPage({ product: doc, design, ...site }), 200, FOUND_CACHE, request.method);
}

// Products are the keys that are neither reserved, product sets nor tombstones.
export async function handleHealth(env) {
  const { count, complete } = await countKeys(
    env.PRODUCTS_KV,
    "",
    (key) => !isReservedKey(key.name) && !key.name.startsWith(SET_PREFIX) && !isTombstone(key.metadata),
  );
  return json({
    status: "ok",
    service: env.SYNC_SETTINGS?.scriptName ?? "elkhawaga-qr",
    products_cached: count,
    products_counted_all: complete,
    timestamp: new Date().toISOString(),
  });
}
