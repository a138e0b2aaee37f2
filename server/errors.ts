// The one error type of Sallyport. Every failure that crosses a module boundary is a
// SallyportError with a stable code; front doors map codes to HTTP statuses (http/errors.ts)
// and, later, SSH messages. Imports nothing of the project.

export const ERROR_CODES = [
  'CONFIG_INVALID',
  'CATALOG_INVALID',
  'BAD_REQUEST',
  'UNAUTHENTICATED',
  'ACCESS_DENIED',
  'APPROVAL_REQUIRED',
  'REAUTH_REQUIRED',
  'RECORDING_FAILED',
  'LIMIT_REACHED',
  'CSRF_REJECTED',
  'NOT_FOUND',
  /** A recording retention removed: its row, hash and removal event remain. */
  'EXPIRED',
  'CONFLICT',
  'LOGIN_FAILED',
  'IDP_UNAVAILABLE',
  'RUNTIME_UNAVAILABLE',
  'IMAGE_NOT_FOUND',
  'NODE_UNREACHABLE',
  'HOST_KEY_REJECTED',
  'SIGNATURE_INVALID',
  'DB_UNAVAILABLE',
  /** A client of the broker (`sallyport admin`) could not reach it, or what answered is not one. */
  'BROKER_UNREACHABLE',
  'MIGRATION_FAILED',
  'INTERNAL',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** One problem with one named field, e.g. `{ field: 'targets[2].image', message: 'must be pinned by digest' }`. */
export interface FieldProblem {
  field: string;
  message: string;
  /** The line of the file the field is on, when the input is a file (the catalogue). */
  line?: number;
}

export class SallyportError extends Error {
  override readonly name = 'SallyportError';
  readonly code: ErrorCode;
  /** Field-level problems, reported together so a user fixes everything in one pass. */
  readonly problems: readonly FieldProblem[];

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; problems?: FieldProblem[] } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.problems = Object.freeze([...(options.problems ?? [])]);
  }

  /** The message followed by one line per problem; what a CLI prints. */
  describe(): string {
    if (this.problems.length === 0) return this.message;
    return [this.message, ...this.problems.map((p) => `  - ${p.line === undefined ? '' : `line ${p.line}: `}${p.field}: ${p.message}`)].join('\n');
  }
}

/** A BAD_REQUEST that names the fields at fault. */
export function invalidInput(problems: FieldProblem[], message = 'the request is invalid'): SallyportError {
  return new SallyportError('BAD_REQUEST', message, { problems });
}

export function isSallyportError(err: unknown, code?: ErrorCode): err is SallyportError {
  return err instanceof SallyportError && (code === undefined || err.code === code);
}
