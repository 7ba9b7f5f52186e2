/**
 * The pages the browser sees at the end of a browser login. Self-contained: inline style, no script, no
 * external resource (the response's Content-Security-Policy forbids loading any), so nothing leaves the
 * machine and nothing can leak the callback URL (which holds the authorization code) via a Referer.
 */

/** Headers of every page the callback server sends. */
export const PAGE_HEADERS = {
  'Content-Type': 'text/html; charset=utf-8',
  'Cache-Control': 'no-store',
  'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'",
  'Referrer-Policy': 'no-referrer',
  'X-Content-Type-Options': 'nosniff',
  // One request per connection: the listener closes right after, and no keep-alive socket lingers.
  Connection: 'close',
} as const;

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

function page(title: string, heading: string, body: string, accent: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>
  body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; background: #f6f7f9; color: #1f2328; margin: 0;
         display: flex; min-height: 100vh; align-items: center; justify-content: center; }
  main { background: #fff; border-radius: 12px; box-shadow: 0 1px 3px rgba(0,0,0,.12); padding: 2rem 2.5rem; max-width: 32rem; }
  h1 { font-size: 1.35rem; margin: 0 0 .75rem; color: ${accent}; }
  p { line-height: 1.5; margin: .5rem 0; }
</style>
</head>
<body>
<main>
<h1>${escapeHtml(heading)}</h1>
${body}
</main>
</body>
</html>
`;
}

/** The page of a successful sign-in. */
export function successPage(): string {
  return page(
    'Signed in - authchart',
    'Signed in to ChatGPT',
    '<p>You are signed in. You can close this tab and return to the application.</p>',
    '#1a7f37',
  );
}

/** The page of a sign-in that failed, with the reason. */
export function errorPage(message: string): string {
  return page(
    'Sign-in failed - authchart',
    'Sign-in could not be completed',
    `<p>${escapeHtml(message)}</p><p>Return to the application to try again, switch accounts, or ask your workspace admin if access is restricted.</p>`,
    '#cf222e',
  );
}

/** The page of a sign-in that was cancelled (or replaced) before it completed. */
export function notCompletedPage(): string {
  return page(
    'Sign-in cancelled - authchart',
    'Sign-in was not completed',
    '<p>This sign-in was cancelled or replaced by another one. Return to the application to start again.</p>',
    '#9a6700',
  );
}
