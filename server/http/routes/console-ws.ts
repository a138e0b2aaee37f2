// The browser console's WebSocket: a thin adapter between the wire protocol (../console-wire.ts,
// shared with the browser) and a ConsoleSession. Before the upgrade: Origin must be the public
// URL and the browser session live. The first message must be {type:"open", cols, rows}; only
// then is a container started, so a refused or malformed start leaves nothing behind. Terminal
// bytes go as binary frames both ways; every frame is validated; bad input closes the socket
// with a reason (1008), an oversized one is closed by the protocol layer (1009).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { RawData, WebSocket } from 'ws';
import type { Config } from '../../config/index.js';
import type { ConsoleClient, ConsoleService, ConsoleSession } from '../../consoles/index.js';
import { invalidInput, isSallyportError, SallyportError } from '../../errors.js';
import { decodeInput, encodeControl, isWireProblem, parseClientControl, type ClientControl, type ServerControl, type WireProblem } from '../console-wire.js';
import { checkSameOrigin } from '../security.js';

/**
 * Per console socket: a sustained rate generous for typing, pasting (16 KiB a frame) and dragging
 * a window, with a burst of one second's worth — the frames of one socket read are handled in one
 * go, so the burst is how long one client can hold up everyone else's keys (2,000 tiny frames
 * were 40–55 ms).
 */
export const MESSAGES_PER_SECOND = 500;
const MESSAGE_BURST = 500;

/** A token bucket: true while the socket is within its message rate. */
function messageBudget(): () => boolean {
  let tokens = MESSAGE_BURST;
  let last = performance.now();
  return () => {
    const now = performance.now();
    tokens = Math.min(MESSAGE_BURST, tokens + ((now - last) / 1000) * MESSAGES_PER_SECOND);
    last = now;
    if (tokens < 1) return false;
    tokens -= 1;
    return true;
  };
}
/** How often a console or watch socket is pinged; one that has not answered by the next ping is closed. */
export const PING_MS = 10_000;
/** Frames a page may send between a reattach's `started` and the console being ready here. */
const EARLY_FRAMES = 256;
/** Stop reading from the container while this much output is unsent to the browser. */
const SEND_BUFFER_LIMIT = 1024 * 1024;

/** One browser frame: a control message (text) or typed input (binary). */
export type ClientFrame = ClientControl | { type: 'input'; data: string };

/** Validates one frame as the socket receives it; the error names the field that is wrong. */
export function parseClientFrame(raw: RawData, isBinary: boolean): ClientFrame {
  const bytes = Buffer.isBuffer(raw) ? raw : Array.isArray(raw) ? Buffer.concat(raw) : Buffer.from(raw);
  const parsed: ClientControl | string | WireProblem = isBinary ? decodeInput(bytes) : parseClientControl(bytes.toString());
  if (isWireProblem(parsed)) throw bad(parsed.problem.field, parsed.problem.message);
  return typeof parsed === 'string' ? { type: 'input', data: parsed } : parsed;
}

function bad(field: string, message: string): SallyportError {
  return invalidInput([{ field, message }], `${field} ${message}`);
}

/**
 * Output (binary) and control messages (JSON) over a socket, with how much is still unsent (for
 * backpressure), drain callbacks, and closing with a reason. Shared by the console and the
 * watch sockets.
 */
function wireSocket(socket: WebSocket) {
  // A page gone without a close (a laptop shut, a network that dropped it) would hold its
  // console "attached" until TCP gave up, hours later: a ping every PING_MS, and a socket that has
  // not answered one by the next is closed (its console then waits for the page to reattach).
  let answered = true;
  const heartbeat = setInterval(() => {
    if (!answered) return void socket.terminate();
    answered = false;
    if (socket.readyState === socket.OPEN) socket.ping();
  }, PING_MS);
  heartbeat.unref();
  socket.on('pong', () => (answered = true));
  socket.on('close', () => clearInterval(heartbeat));
  let unsent = 0;
  const drainWaiters: Array<() => void> = [];
  const sendFrame = (frame: string | Uint8Array, size: number): boolean => {
    if (socket.readyState !== socket.OPEN) return false;
    unsent += size;
    socket.send(frame, { binary: typeof frame !== 'string' }, () => {
      unsent -= size;
      // Listeners stay registered: the pipeline may stall and resume many times.
      if (unsent < SEND_BUFFER_LIMIT / 2) drainWaiters.forEach((cb) => cb());
    });
    return unsent < SEND_BUFFER_LIMIT;
  };
  return {
    /** Terminal bytes as they came; false once more than SEND_BUFFER_LIMIT is waiting. */
    output(bytes: Uint8Array): boolean {
      return sendFrame(bytes, bytes.length);
    },
    control(msg: ServerControl): boolean {
      const text = encodeControl(msg);
      return sendFrame(text, text.length);
    },
    onDrain(cb: () => void): void {
      drainWaiters.push(cb);
    },
    closeWith(code: number, reason: string): void {
      // Close reasons are limited to 123 bytes by the protocol.
      if (socket.readyState === socket.OPEN) socket.close(code, Buffer.from(reason).subarray(0, 120).toString());
    },
    /** Reports a failure to start as an error message, then closes. */
    fail(err: unknown): void {
      const code = isSallyportError(err) ? err.code : 'INTERNAL';
      this.control({ type: 'error', code, message: isSallyportError(err) ? err.message : 'internal error' });
      this.closeWith(1011, code);
    },
  };
}

export function consoleWsRoutes(app: FastifyInstance, config: Config, consoles: ConsoleService): void {
  // Before any upgrade: the public Origin and a live session, or no socket at all.
  const sameOriginSession = async (request: FastifyRequest) => {
    checkSameOrigin(request, config.publicUrl);
    if (!request.principal) throw new SallyportError('UNAUTHENTICATED', 'log in first');
  };

  // Read-only live view of someone's session for an admin. The watcher gets the recent output
  // to draw the screen, then everything that follows; anything the watcher sends closes it.
  app.get<{ Params: { id: string } }>(
    '/api/sessions/:id/watch',
    {
      websocket: true,
      schema: { params: { type: 'object', properties: { id: { type: 'string', format: 'uuid' } }, required: ['id'] } },
      preValidation: sameOriginSession,
    },
    (socket: WebSocket, request) => {
      let stop: (() => void) | undefined;
      const out = wireSocket(socket);
      const { closeWith } = out;
      socket.on('message', () => closeWith(1008, 'watching is read-only'));
      socket.on('close', () => stop?.());
      void consoles
        .watch(request.principal!, request.params.id, {
          name: request.principal!.username,
          send: (data) => out.output(Buffer.from(data)),
          resize: (cols, rows) => {
            out.control({ type: 'resize', cols, rows });
          },
          end: (reason) => {
            out.control({ type: 'exit', reason, exitCode: null });
            setTimeout(() => closeWith(1000, reason), 50);
          },
        })
        .then((w) => {
          stop = w.stop;
          if (socket.readyState !== socket.OPEN) return w.stop();
          out.control({ type: 'watching', sessionId: request.params.id, cols: w.cols, rows: w.rows });
          if (w.recent) out.output(Buffer.from(w.recent));
        })
        .catch((err: unknown) => out.fail(err));
    },
  );

  app.get<{ Params: { target: string }; Querystring: { grant?: string } }>(
    '/api/consoles/:target/connect',
    {
      websocket: true,
      schema: {
        params: { type: 'object', properties: { target: { type: 'string', pattern: '^[a-z0-9][a-z0-9-]{0,62}$' } }, required: ['target'] },
        // The grant a request page's Open console chose; without it, the most recently approved.
        querystring: { type: 'object', properties: { grant: { type: 'string', format: 'uuid' } }, additionalProperties: false },
      },
      preValidation: sameOriginSession,
    },
    (socket: WebSocket, request) => {
      const principal = request.principal!;
      let session: ConsoleSession | undefined;
      let opening = false;
      const out = wireSocket(socket);
      const { closeWith } = out;
      const client: ConsoleClient = {
        send: (bytes) => out.output(bytes),
        onDrain: (cb) => out.onDrain(cb),
        notice: (message) => {
          out.control({ type: 'notice', message });
        },
        watchers: (names) => {
          out.control({ type: 'watchers', names: [...names] });
        },
        limits: ({ endsAt, because, idleSeconds }) => {
          out.control({ type: 'limits', endsAt: endsAt.toISOString(), because, idleSeconds });
        },
        end: ({ reason, code, exitCode }) => {
          out.control({ type: 'exit', reason, code, exitCode });
          setTimeout(() => closeWith(1000, reason), 50);
        },
        moved: (message) => {
          out.control({ type: 'moved', message });
          setTimeout(() => closeWith(1000, 'moved to another window'), 50);
        },
        reattached: (sessionId) => {
          out.control({ type: 'started', sessionId, reattached: true });
        },
        // 1012 (service restart): the page reconnects with its key and another broker carries on.
        handedOver: (message) => {
          out.control({ type: 'notice', message });
          // At once, not after a pause: the broker closes every socket right after its drain.
          closeWith(1012, 'broker restarting: reconnect');
        },
      };
      const sendLimits = (s: ConsoleSession) => {
        const { endsAt, because } = s.deadline();
        out.control({ type: 'limits', endsAt: endsAt.toISOString(), because, idleSeconds: s.idleSeconds });
      };

      const budget = messageBudget();
      socket.on('message', (raw, isBinary) => {
        void (async () => {
          let msg: ClientFrame;
          if (!budget()) return closeWith(1008, `too many messages: at most ${MESSAGES_PER_SECOND} a second`);
          try {
            msg = parseClientFrame(raw, isBinary);
          } catch (err) {
            closeWith(1008, (err as Error).message);
            return;
          }
          if (msg.type === 'open') {
            if (session || opening) return closeWith(1008, 'console already open');
            opening = true;
            try {
              session = await consoles.open(principal, request.params.target, { cols: msg.cols, rows: msg.rows }, client, { via: 'web', clientAddress: request.ip, ...(request.query.grant ? { grantId: request.query.grant } : {}) });
              const reattachKey = consoles.issueReattachKey(session);
              out.control({ type: 'started', sessionId: session.id, ...(reattachKey ? { reattachKey } : {}) });
              sendLimits(session);
              for (const m of early.splice(0)) apply(session, m);
              // Gone before it learnt the key: nobody can come back for it.
              if (socket.readyState !== socket.OPEN) void session.end({ code: 'client_disconnected' });
            } catch (err) {
              if (!isSallyportError(err)) request.log.error({ err }, 'console open failed');
              out.fail(err);
            }
            return;
          }
          if (msg.type === 'reattach') {
            if (session || opening) return closeWith(1008, 'console already open');
            opening = true;
            try {
              // The started message (client.reattached) goes before the screen, output after it.
              session = (await consoles.reattach(principal, msg.sessionId, msg.key, client, { takeover: msg.takeover })).session;
              sendLimits(session);
              session.resize(msg.cols, msg.rows);
              for (const m of early.splice(0)) apply(session, m);
              // Gone while the screen was read back: the console waits for the next page.
              if (socket.readyState !== socket.OPEN) consoles.detach(session, client);
            } catch (err) {
              if (!isSallyportError(err)) request.log.error({ err }, 'console reattach failed');
              out.fail(err);
            }
            return;
          }
          if (!session) {
            // A reattach tells the page `started` before it returns here: what the page sends in
            // between waits for it rather than being refused (keys typed at once are not lost).
            if (opening && early.length < EARLY_FRAMES) return void early.push(msg);
            return closeWith(1008, 'open the console first');
          }
          apply(session, msg);
        })();
      });
      const early: ClientFrame[] = [];
      const apply = (s: ConsoleSession, msg: ClientFrame) => {
        if (msg.type === 'input') {
          // The process is not keeping up: stop reading from this client until it has.
          if (!s.write(msg.data)) {
            socket.pause();
            s.onInputDrain(() => socket.resume());
          }
        } else if (msg.type === 'end') void s.end({ code: 'user_ended' });
        else if (msg.type === 'resize') s.resize(msg.cols, msg.rows);
      };
      // A dropped socket (a reload, a blip, an error on the way) does not end the console by
      // itself: it waits for its page to reattach (SALLYPORT_REATTACH_SECONDS).
      socket.on('close', () => {
        if (session) consoles.detach(session, client);
      });
    },
  );
}
