// The fetch helper of the gateway's pages: same-origin JSON calls that
// carry the session's CSRF token on every write. The token lives in this
// module's memory only (never in storage), read from the sign-in answer or
// from GET <sessionPath> after a page load.

let csrf = '';
let onUnauthorized = () => {};

// ApiError is a non-2xx answer in the gateway's error shape.
export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || 'HTTP ' + status);
    this.status = status;
    this.code = body && body.error;
    this.body = body;
  }
}

export function setCSRF(token) {
  csrf = token || '';
}

// whenUnauthorized sets what happens on a 401 (the page shows its
// sign-in form).
export function whenUnauthorized(fn) {
  onUnauthorized = fn;
}

const safe = new Set(['GET', 'HEAD', 'OPTIONS']);

// api calls path and returns the decoded JSON answer (null for 204). A
// body is sent as JSON. Throws ApiError on any other status than 2xx.
export async function api(path, { method = 'GET', body, quiet401 = false } = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (!safe.has(method) && csrf) headers['X-CSRF-Token'] = csrf;
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
    cache: 'no-store',
  });
  let data = null;
  if (res.status !== 204) {
    const text = await res.text();
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = { message: text };
    }
  }
  if (!res.ok) {
    if (res.status === 401 && !quiet401) onUnauthorized();
    throw new ApiError(res.status, data);
  }
  return data;
}
