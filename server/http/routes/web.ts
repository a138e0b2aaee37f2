// The browser app: built assets under /assets/ and the single page for app routes, which
// sends a logged-out visitor to the IdP first.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import { SallyportError } from '../../errors.js';
import { FAVICON_SVG, PAGE_CSS } from '../page-style.js';

const APP_ROUTES = ['/', '/ssh/:token', '/cli/:token', '/console/:target', '/sessions', '/sessions/:id', '/access', '/access/:id', '/approvals', '/live', '/fleet', '/audit', '/search'];

export async function webRoutes(app: FastifyInstance, webDir: string): Promise<void> {
  const indexFile = join(webDir, 'index.html');
  // Read once; the built app does not change while the broker runs.
  let indexHtml: string | undefined;
  if (existsSync(join(webDir, 'assets'))) {
    await app.register(fastifyStatic, {
      root: join(webDir, 'assets'),
      prefix: '/assets/',
      index: false,
      wildcard: true,
      immutable: true,
      maxAge: '365d',
    });
  }
  // Browsers ask for /favicon.ico on every page whatever the markup says: the same icon.
  for (const path of ['/favicon.svg', '/favicon.ico']) {
    app.get(path, async (_request, reply) => reply.type('image/svg+xml').header('cache-control', 'public, max-age=86400').send(FAVICON_SVG));
  }
  app.get('/page.css', async (_request, reply) => reply.type('text/css; charset=utf-8').header('cache-control', 'public, max-age=3600').send(PAGE_CSS));
  for (const route of APP_ROUTES) {
    app.get(route, async (request, reply) => {
      if (!request.principal) {
        return reply.redirect(`/auth/login?returnTo=${encodeURIComponent(request.url)}`, 303);
      }
      if (indexHtml === undefined) {
        if (!existsSync(indexFile)) throw new SallyportError('INTERNAL', 'the web app is not built; run npm run build:web');
        indexHtml = readFileSync(indexFile, 'utf8');
      }
      reply.type('text/html; charset=utf-8');
      return indexHtml;
    });
  }
}
