// Sign-in: WORKPLACE opens /console/#token=<JWT>. The token moves to sessionStorage at once and leaves the
// address bar (a fragment never reaches a server, a log or a Referer; removing it keeps it out of history too).

const KEY = "workplace-hub-token";

/** The token from the fragment (then removed from the URL) or from this tab's sessionStorage. */
export function takeToken() {
  const fragment = new URLSearchParams(window.location.hash.replace(/^#/, ""));
  const fromFragment = fragment.get("token");
  if (fromFragment) {
    sessionStorage.setItem(KEY, fromFragment);
    window.history.replaceState(null, "", window.location.pathname + window.location.search);
  }
  return sessionStorage.getItem(KEY);
}

export function forgetToken() {
  sessionStorage.removeItem(KEY);
}

/** The token's claims, unverified (the API verifies every call): only to tell an expired token early. */
export function claimsOf(token) {
  try {
    const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const json = decodeURIComponent(
      Array.from(atob(payload), (c) => `%${c.charCodeAt(0).toString(16).padStart(2, "0")}`).join(""),
    );
    return JSON.parse(json);
  } catch {
    return null;
  }
}

export function isExpired(claims, now = Date.now() / 1000) {
  return !claims || typeof claims.exp !== "number" || claims.exp <= now;
}
