// The QR design document. Django inlines the logo and background as base64 data URLs (several MB),
// so every page would carry them: instead they are stored once as images under a content hash and
// served from /assets/<sha256>, cacheable for a year, while pages read a small copy of the design.

import { HttpError } from "./http.js";
import {
  DESIGN_ASSET_PREFIX,
  DESIGN_KEY,
  DESIGN_PAGE_KEY,
  applyVersioned,
  isTombstone,
  newVersion,
  parseDocument,
  readLive,
} from "./kv.js";

const IMAGE_FIELDS = ["logo_url", "background_image_url"];
const DATA_IMAGE = /^data:(image\/(?:png|jpeg|gif|webp|svg\+xml));base64,([A-Za-z0-9+/\s]*={0,2})$/i;
export const ASSET_PATH = /^\/assets\/([0-9a-f]{64})$/;

function decodeBase64(text, field) {
  let binary;
  try {
    binary = atob(text.replace(/\s+/g, ""));
  } catch {
    throw new HttpError(400, `design.${field} is not valid base64 image data`);
  }
  return Uint8Array.from(binary, (char) => char.charCodeAt(0));
}

async function sha256Hex(bytes) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

// Stores the design as sent (the clean-up command reads it back unchanged), its images, and the
// page copy. Every image is decoded before anything is written, and written before the page copy
// that names it.
export async function storeDesign(env, design, value) {
  const kv = env.PRODUCTS_KV;
  const pageDesign = { ...design };
  const images = [];
  for (const field of IMAGE_FIELDS) {
    const match = typeof design[field] === "string" ? DATA_IMAGE.exec(design[field].trim()) : null;
    if (match) {
      const bytes = decodeBase64(match[2], field);
      const hash = await sha256Hex(bytes);
      images.push({ key: DESIGN_ASSET_PREFIX + hash, bytes, contentType: match[1].toLowerCase() });
      pageDesign[field] = `/assets/${hash}`;
    }
  }
  await Promise.all(images.map(({ key, bytes, contentType }) => kv.put(key, bytes, { metadata: { contentType } })));
  const version = newVersion();
  await applyVersioned(kv, { key: DESIGN_PAGE_KEY, value: JSON.stringify(pageDesign) }, version);
  await applyVersioned(kv, { key: DESIGN_KEY, value }, version);
}

// The page copy; a design stored before this Worker (inline images) is used as it is.
export async function loadPageDesign(env) {
  const kv = env.PRODUCTS_KV;
  const text = (await readLive(kv, DESIGN_PAGE_KEY)) ?? (await readLive(kv, DESIGN_KEY));
  return parseDocument(text) ?? {};
}

export async function handleAsset(env, hash, method) {
  const { value, metadata } = await env.PRODUCTS_KV.getWithMetadata(DESIGN_ASSET_PREFIX + hash, "arrayBuffer");
  if (value === null || isTombstone(metadata)) {
    return new Response("Not found", { status: 404, headers: { "cache-control": "public, max-age=60" } });
  }
  return new Response(method === "HEAD" ? null : value, {
    headers: {
      "content-type": metadata.contentType,
      // The path is the content's hash: it never changes meaning.
      "cache-control": "public, max-age=31536000, immutable",
      "x-content-type-options": "nosniff",
      // An SVG opened directly must not run scripts on this origin.
      "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; sandbox",
    },
  });
}
