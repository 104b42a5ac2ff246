// The hub's API, with the signed-in user's bearer token on every call. The console is served under the same
// base URL as the API (…/console/), so the API is the path before /console/ (a deployed stage included).

export class ApiError extends Error {
  constructor(status, body) {
    super((body && (body.message || body.error)) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }

  /** The field the API named (`settings.bot_token`, `items.approval.requested`, …), if any. */
  get field() {
    return this.body.field || null;
  }
}

export function apiBase(pathname) {
  const at = pathname.lastIndexOf("/console/");
  return at >= 0 ? pathname.slice(0, at) : "";
}

export function createApi(token, { onUnauthorized } = {}) {
  const base = apiBase(window.location.pathname);

  async function call(method, path, body) {
    const init = {
      method,
      headers: { Authorization: `Bearer ${token}`, Accept: "application/json" },
      credentials: "omit",
      cache: "no-store",
      referrerPolicy: "no-referrer",
    };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(base + path, init);
    let document = null;
    try {
      document = await response.json();
    } catch {
      document = null;
    }
    if (response.status === 401 && onUnauthorized) onUnauthorized();
    if (!response.ok) throw new ApiError(response.status, document);
    return document;
  }

  return {
    get: (path) => call("GET", path),
    put: (path, body) => call("PUT", path, body),
    post: (path, body) => call("POST", path, body),
    del: (path) => call("DELETE", path),
  };
}

/** A query string of the non-empty values. */
export function query(values) {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(values)) {
    if (value !== undefined && value !== null && value !== "") params.set(name, value);
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}
