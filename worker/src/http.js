// JSON replies and request validation of the sync API. The Django client reads `error` and treats
// only 200 as success.

import { isReservedKey, keyProblem } from "./kv.js";

const JSON_HEADERS = {
  "content-type": "application/json; charset=utf-8",
  "cache-control": "no-store",
  "x-content-type-options": "nosniff",
};

export function json(body, status = 200) {
  return new Response(JSON.stringify(body), { status, headers: JSON_HEADERS });
}

export function jsonError(status, error, details) {
  return json(details === undefined ? { error } : { error, details }, status);
}

// A rejection that carries its HTTP status up to the request handler.
export class HttpError extends Error {
  constructor(status, message, details) {
    super(message);
    this.status = status;
    this.details = details;
  }
}

export function requireObject(value, field) {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new HttpError(400, `${field} must be a JSON object`);
  }
  return value;
}

export function requireKey(key, field, { allowReserved = false } = {}) {
  const problem = keyProblem(key);
  if (problem) {
    throw new HttpError(400, `${field} ${problem}`);
  }
  if (!allowReserved && isReservedKey(key)) {
    throw new HttpError(400, `${field} ${JSON.stringify(key)} is a reserved key`);
  }
  return key;
}
