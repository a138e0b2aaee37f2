// The look of the pages the broker (and the dev IdP) write themselves, outside the web app:
// errors, logged out, 404, the dev IdP's sign-in. Served as a stylesheet (the CSP allows no
// inline style), with the same colours as web/src/style.css. And the favicon.
export const PAGE_CSS = `:root { color-scheme: light dark; font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; line-height: 1.45;
  --bg: #f6f7f9; --surface: #fff; --text: #1b2430; --muted: #5b6675; --line: #d9dee5; --accent: #2457c5; --accent-text: #fff; --danger: #b3261e; --bar: #16202b; }
@media (prefers-color-scheme: dark) { :root { --bg: #0f141a; --surface: #171e26; --text: #e4e9ef; --muted: #9aa6b4; --line: #2c3642; --accent: #6f9cff; --accent-text: #0b1220; --danger: #ff8a80; --bar: #0a0f14; } }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--text); }
header { background: var(--bar); color: #eef2f6; padding: 0.6rem 1rem; font-weight: 700; letter-spacing: 0.02em; }
header a { color: inherit; text-decoration: none; }
main { max-width: 28rem; margin: 3rem auto; padding: 1.2rem 1.4rem; background: var(--surface); border: 1px solid var(--line); border-radius: 10px; }
h1 { font-size: 1.35rem; margin-top: 0; }
a { color: var(--accent); }
code { overflow-wrap: anywhere; }
form { display: grid; gap: 0.8rem; }
label { display: grid; gap: 0.2rem; }
input { font: inherit; padding: 0.45rem 0.6rem; border: 1px solid var(--line); border-radius: 6px; background: var(--bg); color: var(--text); }
button { font: inherit; padding: 0.5rem 0.9rem; border-radius: 6px; border: 1px solid var(--accent); background: var(--accent); color: var(--accent-text); cursor: pointer; }
:focus-visible { outline: 3px solid #f0a020; outline-offset: 2px; }
[role=alert], .error { color: var(--danger); }
.meta { color: var(--muted); font-size: 0.9em; }
`;

/** A gate in a wall: the sally port. */
export const FAVICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" fill="#16202b"/><path d="M6 27V9h4V6h4v3h4V6h4v3h4v18h-7v-7a3 3 0 0 0-6 0v7z" fill="#eef2f6"/></svg>`;
