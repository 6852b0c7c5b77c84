// JSON replies of the sync API. The Django client reads `error` and treats only 200 as success.

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
