import { randomBytes } from 'node:crypto';
import express, { type RequestHandler, type Router } from 'express';
import { PAGE_STYLE, VIEW_SCRIPT } from './operator-page.view.js';
import { buildOverview, type Overview, type OverviewSources } from './overview.js';

export const OPERATOR_PAGE_PATH = '/admin';
export const OVERVIEW_PATH = '/admin/api/overview';
/** How often the page asks for a fresh overview. */
export const REFRESH_MS = 5000;

// The same view source the page's script runs (see operator-page.view.ts).
const renderOverview = new Function(`${VIEW_SCRIPT}\nreturn renderOverview;`)() as (overview: Overview) => string;

/** JSON inside a <script> element: `<` escaped so no value can close the element. */
const scriptJson = (value: unknown): string => JSON.stringify(value).replace(/</g, '\\u003c');

function page(overview: Overview, nonce: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Model Router · operations</title>
<link rel="icon" href="data:,">
<style nonce="${nonce}">${PAGE_STYLE}</style>
</head>
<body>
<header>
  <h1>Model Router · operations</h1>
  <a href="/admin/queues">Queue dashboard</a>
  <a href="/metrics">Prometheus metrics</a>
  <span class="status" id="status" data-testid="status">updated ${overview.generated_at.slice(11, 19)} UTC · refreshes every ${REFRESH_MS / 1000} s</span>
</header>
<main id="overview">${renderOverview(overview)}</main>
<script nonce="${nonce}">
${VIEW_SCRIPT}
(function () {
  var main = document.getElementById('overview');
  var status = document.getElementById('status');
  var refreshes = ${scriptJson(REFRESH_MS)};
  function refresh() {
    fetch(${scriptJson(OVERVIEW_PATH)}, { headers: { accept: 'application/json' }, cache: 'no-store', credentials: 'same-origin' })
      .then(function (res) { if (!res.ok) throw new Error('HTTP ' + res.status); return res.json(); })
      .then(function (data) {
        main.innerHTML = renderOverview(data);
        status.className = 'status';
        status.textContent = 'updated ' + data.generated_at.slice(11, 19) + ' UTC · refreshes every ' + refreshes / 1000 + ' s';
      })
      .catch(function (error) {
        status.className = 'status bad';
        status.textContent = 'refresh failed (' + error.message + '); showing the last data';
      })
      .finally(function () { setTimeout(refresh, refreshes); });
  }
  setTimeout(refresh, refreshes);
})();
</script>
</body>
</html>`;
}

/**
 * The operator page (`GET /admin`: server-rendered HTML that refreshes itself) and the JSON it polls
 * (`GET /admin/api/overview`). `requireViewer` admits the admin and the read-only key.
 */
export function operatorPage(sources: OverviewSources, requireViewer: RequestHandler): Router {
  const router = express.Router();
  router.get(OVERVIEW_PATH, requireViewer, async (_req, res) => {
    res.set('cache-control', 'no-store').json(await buildOverview(sources));
  });
  router.get(OPERATOR_PAGE_PATH, requireViewer, async (_req, res) => {
    const overview = await buildOverview(sources);
    const nonce = randomBytes(16).toString('base64');
    res
      .set({
        'content-type': 'text/html; charset=utf-8',
        'cache-control': 'no-store',
        // Only this page's own script and style run; it talks to nothing but this API.
        'content-security-policy': `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
        'x-content-type-options': 'nosniff',
        'referrer-policy': 'no-referrer',
      })
      .send(page(overview, nonce));
  });
  return router;
}
