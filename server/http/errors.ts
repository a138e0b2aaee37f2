// Maps SallyportError codes to HTTP. A Record over every code makes a forgotten code a compile
// error. Responses name the failing field but never carry internals or secrets.
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { SallyportError, type ErrorCode } from '../errors.js';
import { escapeHtml } from '../html.js';

export const HTTP_STATUS: Record<ErrorCode, number> = {
  CONFIG_INVALID: 500,
  CATALOG_INVALID: 500,
  BAD_REQUEST: 400,
  UNAUTHENTICATED: 401,
  ACCESS_DENIED: 403,
  APPROVAL_REQUIRED: 403,
  // 401: the user must log in again (at the IdP, with max_age) before this action.
  REAUTH_REQUIRED: 401,
  RECORDING_FAILED: 503,
  // A cap on what one user (or everyone) may make the broker spend: try again after closing something.
  LIMIT_REACHED: 429,
  CSRF_REJECTED: 403,
  NOT_FOUND: 404,
  EXPIRED: 410,
  CONFLICT: 409,
  LOGIN_FAILED: 401,
  IDP_UNAVAILABLE: 503,
  RUNTIME_UNAVAILABLE: 503,
  IMAGE_NOT_FOUND: 502,
  // A fleet node that cannot be reached in time, or that shows a host key other than the pinned one.
  NODE_UNREACHABLE: 503,
  HOST_KEY_REJECTED: 502,
  SIGNATURE_INVALID: 422,
  DB_UNAVAILABLE: 503,
  BROKER_UNREACHABLE: 502,
  MIGRATION_FAILED: 503,
  INTERNAL: 500,
};

export function wantsHtml(request: FastifyRequest): boolean {
  return !request.url.startsWith('/api/') && (request.headers.accept ?? '').includes('text/html');
}

export function errorHandler(error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): void {
  let err: SallyportError;
  if (error instanceof SallyportError) {
    err = error;
  } else if ((error as FastifyError).validation) {
    // fastify's schema validation: "body/reason must be string" → field "reason".
    const v = (error as FastifyError).validation!;
    err = new SallyportError('BAD_REQUEST', 'the request is invalid', {
      problems: v.map((issue) => {
        const params = issue.params as { missingProperty?: string; additionalProperty?: string };
        const base = (issue.instancePath || '').replace(/^\//, '').replace(/\//g, '.');
        const leaf = params.missingProperty ?? params.additionalProperty;
        const field = [base, leaf].filter(Boolean).join('.') || String((error as FastifyError).validationContext ?? 'request');
        const message = params.additionalProperty ? 'is not a known field' : params.missingProperty ? 'is required' : (issue.message ?? 'is invalid');
        return { field, message };
      }),
    });
  } else if ((error as FastifyError).statusCode && (error as FastifyError).statusCode! < 500) {
    const status = (error as FastifyError).statusCode!;
    reply.status(status).send({ error: { code: status === 404 ? 'NOT_FOUND' : 'BAD_REQUEST', message: error.message } });
    return;
  } else {
    request.log.error({ err: error }, 'unhandled error');
    err = new SallyportError('INTERNAL', 'internal error');
  }
  const status = HTTP_STATUS[err.code];
  if (status >= 500 && err.code !== 'INTERNAL') request.log.warn({ code: err.code, cause: String(err.cause ?? '') }, err.message);
  if (wantsHtml(request)) {
    reply.status(status).type('text/html; charset=utf-8').send(errorPage(status, err));
    return;
  }
  reply.status(status).send({ error: { code: err.code, message: err.message, problems: err.problems } });
}

export function errorPage(status: number, err: SallyportError): string {
  const problems = err.problems.map((p) => `<li><code>${escapeHtml(p.field)}</code>: ${escapeHtml(p.message)}</li>`).join('');
  const retry = err.code === 'LOGIN_FAILED' ? '<p><a href="/auth/login">Try logging in again</a></p>' : '<p><a href="/">Home</a></p>';
  return page(
    `${status} ${err.code}`,
    `<h1>${escapeHtml(err.code === 'LOGIN_FAILED' ? 'Login failed' : 'Something went wrong')}</h1>
     <p id="error-message">${escapeHtml(err.message)}</p>${problems ? `<ul>${problems}</ul>` : ''}${retry}`,
  );
}

/** A page of the broker's own (not the web app): styled by /page.css, as the CSP allows. */
export function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)} · Sallyport</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="stylesheet" href="/page.css"><link rel="icon" href="/favicon.svg" type="image/svg+xml"></head>
<body><header><a href="/">Sallyport</a></header><main>${body}</main></body></html>`;
}

/** What a browser that asked for a page nobody serves reads (an API client gets JSON). */
export function notFoundPage(path: string): string {
  return page('Not found', `<h1>Not found</h1><p id="not-found">There is no page at <code>${escapeHtml(path)}</code>.</p><p><a href="/">Home</a></p>`);
}
