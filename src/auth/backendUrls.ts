/**
 * URLs of the ChatGPT backend built from `chatgpt_base_url` the way Codex builds them: trailing slashes
 * dropped, `/backend-api` added to a bare ChatGPT origin, and the `/wham/…` path style under a
 * `/backend-api` base, else the `/api/codex/…` style (a Codex API proxy).
 */

/** `chatgpt_base_url` without trailing slashes, with `/backend-api` added to a bare ChatGPT origin (as Codex). */
export function backendBase(chatgptBaseUrl: string): string {
  const base = chatgptBaseUrl.replace(/\/+$/, '');
  return /^https:\/\/(chatgpt\.com|chat\.openai\.com)$/.test(base) ? `${base}/backend-api` : base;
}

/** The URL of a Codex backend resource: `{base}/wham/<path>` or `{base}/api/codex/<path>` by path style. */
export function codexBackendUrl(chatgptBaseUrl: string, path: string): string {
  const base = backendBase(chatgptBaseUrl);
  return base.includes('/backend-api') ? `${base}/wham/${path}` : `${base}/api/codex/${path}`;
}
