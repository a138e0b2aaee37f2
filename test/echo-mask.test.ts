// Input typed without echo never reaches a recording in clear text, whatever else the screen
// shows: input counts as echoed only when the terminal echoes it in place (the next output
// begins with it). The unit cases drive the mask as the recorder does; the last one is the
// attack on a real console: a background job printing every character of the password, in
// order, while the user types it at a prompt with echo off.
import { describe, expect, inject, it, afterAll, beforeAll } from 'vitest';
import fc from 'fast-check';
import { EchoMask } from '../server/recording/index.js';
import { parseAsciicast } from '../server/recording/index.js';
import { startTestBroker, type TestBroker } from './support/broker.js';
import { apiSession, type ApiSession } from './support/api-session.js';
import { connectConsole, PROMPT } from './support/console-client.js';
import { writeConsoleCatalog } from './support/console-catalog.js';

function mask() {
  const recorded: string[] = [];
  let masked = 0;
  const m = new EchoMask({ input: (d) => recorded.push(d), masked: (n) => (masked += n) }, 100);
  return { m, recorded, masked: () => masked, text: () => recorded.join('') };
}
const settle = () => new Promise((r) => setTimeout(r, 150));
const ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-';

describe('the echo mask', () => {
  it('records keys typed one by one and echoed in place as typed', async () => {
    const { m, text, masked } = mask();
    for (const ch of 'ls -l') {
      m.input(ch);
      m.output(ch);
    }
    m.input('\r');
    expect(text()).toBe('ls -l\r');
    expect(masked()).toBe(0);
  });

  it('records a paste echoed in place, even with colour codes around the echo and split over chunks', async () => {
    const { m, text } = mask();
    m.input('git status\r');
    m.output('\x1b[32mgit ');
    m.output('sta\x1b[0mtus\r\n');
    expect(text()).toBe('git status\r');
  });

  it('masks a password typed while a background job prints every character of it, in order', async () => {
    const { m, text, masked } = mask();
    for (const ch of 'hunter2') {
      m.input(ch);
      m.output(`${ALPHABET}\r\n`);
    }
    m.input('\r');
    await settle();
    expect(text()).not.toMatch(/[a-z0-9]/);
    expect(masked()).toBe(7);
  });

  it("masks a REPL's password prompt: nothing comes back but the next prompt", async () => {
    const { m, text, masked } = mask();
    m.output('Password: ');
    for (const ch of 's3cret') m.input(ch);
    m.input('\r');
    m.output('\r\n>>> ');
    await settle();
    expect(text()).toBe('••••••\r');
    expect(masked()).toBe(6);
  });

  it('records a line typed ahead of the prompt (a REPL still answering) once the prompt and then its echo come', async () => {
    // The last: irb's terminal still in cooked mode between two lines echoes the keys below the answer, before the prompt.
    for (const pieces of [['irb(main):002:0> ', 'puts 1\r\n1\r\nirb(main):003:0> '], ['\x1b[0m=> nil\r\nirb(main):002:0> puts 1\r\n1\r\n'], ['~ $ ', 'p', 'uts 1'], ['=> nil', '\r\nputs 1\r\n', '1\r\n']]) {
      const { m, text, masked } = mask();
      m.input('puts 1\r');
      for (const p of pieces) m.output(p);
      await settle();
      expect(text(), JSON.stringify(pieces)).toBe('puts 1\r');
      expect(masked()).toBe(0);
    }
  });

  it('still masks keys typed ahead of a password prompt, and keys shown only after other output', async () => {
    for (const pieces of [['Password: ', 's3cret'], ['no prompt here s3cret'], ['$ ', 'x s3cret']]) {
      const { m, text, masked } = mask();
      m.input('s3cret\r');
      for (const p of pieces) m.output(p);
      await settle();
      expect(text(), JSON.stringify(pieces)).toBe('••••••\r');
      expect(masked()).toBe(6);
    }
  });

  it('decides a line never echoed before the next one is typed: the command after a password is its own', async () => {
    const { m, text, masked } = mask();
    for (const ch of 's3cret') m.input(ch);
    m.input('\r');
    // Echo off: the program answers and prompts again, and the next command is typed and echoed.
    m.output('\r\ngot 6 chars\r\n~ $ ');
    m.input('exit\r');
    m.output('exit\r\n');
    await settle();
    expect(text()).toBe('••••••\rexit\r');
    expect(masked()).toBe(6);
  });

  it("masks an editor's commands, which redraw the screen instead of echoing", async () => {
    const { m, text } = mask();
    m.input('dd');
    m.output('\x1b[2;1H\x1b[Kline two\x1b[1;1H');
    m.input(':wq\r');
    await settle();
    expect(text()).not.toContain('dd');
    expect(text()).not.toContain('wq');
  });

  it('masks input nothing answers within the window', async () => {
    const { m, text } = mask();
    m.input('secret');
    await settle();
    m.output('secret'); // too late: not an echo
    expect(text()).toBe('••••••');
  });

  it('records a burst of keys whose echo trickles back slower than the window, as a loaded machine echoes', async () => {
    const { m, text, masked } = mask();
    m.input('echo "slow"');
    // 11 characters, one every 60 ms: 660 ms in all, six windows of 100 ms, each echo in place.
    for (const ch of 'echo "slow"') {
      await new Promise((r) => setTimeout(r, 60));
      m.output(ch);
    }
    expect(text()).toBe('echo "slow"');
    expect(masked()).toBe(0);
  });

  it('still masks keys whose echo never finishes within two seconds of the first', async () => {
    const { m, text, masked } = mask();
    m.input('abcdefghijklmnopqrstuvwxyz');
    // The echo trickles in one character per 90 ms; the mask gives up on it at two seconds, before
    // the last character comes (counted in echoed characters, not wall time: a loaded machine's
    // timers run late, and then fewer characters have come, never more).
    let echoed = 0;
    for (const ch of 'abcdefghijklmnopqrstuvwxyz') {
      await new Promise((r) => setTimeout(r, 90));
      m.output(ch);
      echoed++;
      if (text()) break;
    }
    expect(text()).toBe('•'.repeat(26));
    expect(masked()).toBe(26);
    expect(echoed).toBeLessThan(26);
  });
});

describe('a password typed while a background job prints, on a real console', () => {
  let t: TestBroker;
  let alice: ApiSession;
  const SECRET = 'zebra-Quartz-42';
  beforeAll(async () => {
    t = await startTestBroker({ SALLYPORT_CATALOG: writeConsoleCatalog(inject('consoleImage')), CONSOLE_GREETING: 'x' });
    alice = await apiSession(t, 'alice');
  });
  afterAll(async () => {
    await t?.close();
  });

  it('is stored masked in the recording, the timeline and the search index', async () => {
    const cookie = `sallyport=${alice.browser.cookies(t.url).get('sallyport')}`;
    const c = await connectConsole(t.url, 'shell', { cookie });
    await c.waitFor(PROMPT);
    const id = c.sessionId();
    c.type(`(i=0; while [ $i -lt 40 ]; do echo "${ALPHABET}"; i=$((i+1)); sleep 0.05; done) & stty -echo; printf "Password: "; read pw; stty echo; echo; echo "got \${#pw} chars"\r`);
    await c.waitFor(/Password: /);
    for (const ch of SECRET) {
      c.type(ch);
      await new Promise((r) => setTimeout(r, 30));
    }
    c.type('\r');
    await c.waitFor(new RegExp(`got ${SECRET.length} chars`), 10_000);
    c.type('wait; exit\r');
    await c.closed;

    const cast = await (await fetch(`${t.url}/api/sessions/${id}/recording`, { headers: { cookie } })).text();
    const typed = parseAsciicast(cast).events.filter((e) => e.code === 'i').map((e) => e.data).join('');
    expect(typed).not.toContain('zebra');
    expect(typed).not.toContain('Quartz');
    expect(cast).toContain(`input not echoed:`);
    const commands = (await alice.get(`/api/sessions/${id}/commands`)).body.commands as Array<{ line: string; masked: boolean }>;
    expect(commands.map((x) => x.line).join('\n')).not.toMatch(/zebra|Quartz/);
    expect(commands.some((x) => x.masked)).toBe(true);
    const db = t.broker.db;
    expect((await db.query(`select count(*)::int as n from recording_commands where line like '%zebra%'`)).rows[0].n).toBe(0);
    expect((await db.query(`select count(*)::int as n from recording_text where text like '%zebra%'`)).rows[0].n).toBe(0);
    expect((await db.query(`select count(*)::int as n from recording_index_queue where text like '%zebra%' or commands::text like '%zebra%'`)).rows[0].n).toBe(0);
  });

  it('records a 30-line paste into a shell as typed, and search finds it', async () => {
    const cookie = `sallyport=${alice.browser.cookies(t.url).get('sallyport')}`;
    const c = await connectConsole(t.url, 'shell', { cookie });
    await c.waitFor(PROMPT);
    const id = c.sessionId();
    const lines = Array.from({ length: 30 }, (_, i) => `echo "pasted-line-${i}"`);
    c.type(`${lines.join('\r')}\r`);
    await c.waitFor(/^pasted-line-29\r?$/m, 15_000);
    c.type('exit\r');
    await c.closed;
    const commands = (await alice.get(`/api/sessions/${id}/commands`)).body.commands as Array<{ line: string; masked: boolean }>;
    const pastedShown = commands.filter((x) => /pasted-line-\d+/.test(x.line) && !x.masked);
    expect(pastedShown.length, JSON.stringify(commands.slice(0, 5))).toBe(30);
    expect(commands.some((x) => x.masked)).toBe(false);
    await expect.poll(async () => (await alice.get(`/api/search?q=${encodeURIComponent('pasted-line-17')}`)).body.results.some((r: { kind: string }) => r.kind === 'input'), { timeout: 15_000 }).toBe(true);
  });

  it('flags a session where much was typed without echo (stty -echo), and not one with a password', async () => {
    const cookie = `sallyport=${alice.browser.cookies(t.url).get('sallyport')}`;
    const sessionOf = async (id: string) => ((await alice.get('/api/sessions')).body.sessions as Array<{ id: string; quietInput: boolean; maskedInputChars: number | null }>).find((s) => s.id === id)!;
    // Echo off, then whole commands typed unseen: the recording holds only "input not echoed".
    const quiet = await connectConsole(t.url, 'shell', { cookie });
    await quiet.waitFor(PROMPT);
    const id = quiet.sessionId();
    quiet.type('stty -echo\r');
    await new Promise((r) => setTimeout(r, 300));
    for (let i = 0; i < 4; i++) {
      quiet.type(`echo "quiet-command-number-${i}-with-some-length" > /dev/null\r`);
      await new Promise((r) => setTimeout(r, 200));
    }
    quiet.type('stty echo; exit\r');
    await quiet.closed;
    await expect.poll(async () => (await t.broker.db.query(`select 1 from audit_events where action = 'console.ended' and subject = $1`, [id])).rowCount).toBe(1);
    const details = (await t.broker.db.query(`select details from audit_events where action = 'console.ended' and subject = $1`, [id])).rows[0].details;
    expect(details.quietInput).toBe(true);
    expect(details.maskedInputChars).toBeGreaterThan(150);
    expect(await sessionOf(id)).toMatchObject({ quietInput: true });

    // A password is a few characters: not flagged.
    const pw = await connectConsole(t.url, 'shell', { cookie });
    await pw.waitFor(PROMPT);
    const pwId = pw.sessionId();
    pw.type('stty -echo; printf "Password: "; read p; stty echo; echo; exit\r');
    await pw.waitFor(/Password: /);
    pw.type('hunter2-secret\r');
    await pw.closed;
    await expect.poll(async () => (await t.broker.db.query(`select 1 from audit_events where action = 'console.ended' and subject = $1`, [pwId])).rowCount).toBe(1);
    const pwDetails = (await t.broker.db.query(`select details from audit_events where action = 'console.ended' and subject = $1`, [pwId])).rows[0].details;
    expect(pwDetails).toMatchObject({ quietInput: false });
    expect(pwDetails.maskedInputChars).toBeGreaterThan(0);
    expect(await sessionOf(pwId)).toMatchObject({ quietInput: false });
  });
});

describe('a paste of several lines', () => {
  it('is recorded as typed when a REPL echoes each line between its answers and prompts', async () => {
    const recorded: string[] = [];
    let masked = 0;
    let pasted = 0;
    const m = new EchoMask({ input: (d) => recorded.push(d), masked: (n) => (masked += n), pasted: (n) => (pasted = n) }, 100);
    const lines = Array.from({ length: 200 }, (_, i) => `$x${i} = strtoupper("row ${i} é");`);
    m.input(`${lines.join('\n')}\n`);
    // php -a: the first line's echo, its (empty) answer, a prompt, the next line's echo…
    for (const [i, l] of lines.entries()) {
      m.output(`${i === 0 ? '' : 'php > '}${l.slice(0, 10)}`);
      m.output(`${l.slice(10)}\r\n`);
    }
    m.output('php > ');
    await settle();
    expect(masked).toBe(0);
    expect(pasted).toBe(200);
    expect(recorded.join('')).toBe(`${lines.join('\n')}\n`);
  });

  it('is recorded as typed when the REPL takes longer than the key window to answer each line, as on a loaded machine', async () => {
    const recorded: string[] = [];
    let masked = 0;
    const m = new EchoMask({ input: (d) => recorded.push(d), masked: (n) => (masked += n) }, 100);
    const lines = Array.from({ length: 6 }, (_, i) => `row${i} = "pasted-#{${i} * 2}"`);
    m.input(`${lines.join('\r')}\r`);
    // irb evaluating each line for 250 ms (2.5 key windows) before echoing the next; 1.5 s in all.
    for (const [i, l] of lines.entries()) {
      if (i > 0) await new Promise((r) => setTimeout(r, 250));
      m.output(`irb(main):00${i + 1}> ${l}\r\n=> "pasted-${i * 2}"\r\n`);
    }
    await settle();
    expect(masked).toBe(0);
    expect(recorded.join('')).toBe(`${lines.join('\r')}\r`);
  });

  it('masks the lines never echoed, records those that were', async () => {
    const recorded: string[] = [];
    let masked = 0;
    const m = new EchoMask({ input: (d) => recorded.push(d), masked: (n) => (masked += n) }, 100);
    m.input('echo one\rsecret-two\r');
    m.output('echo one\r\none\r\nPassword: ');
    // After a line was echoed the next is waited for five key windows (a REPL answering), then masked.
    await new Promise((r) => setTimeout(r, 700));
    expect(recorded.join('')).toBe(`echo one\r${'•'.repeat('secret-two'.length)}\r`);
    expect(masked).toBe('secret-two'.length);
  });

  it('finds each line\'s echo after much other output, split anywhere across chunks', async () => {
    const recorded: string[] = [];
    let masked = 0;
    const m = new EchoMask({ input: (d) => recorded.push(d), masked: (n) => (masked += n) }, 100);
    m.input('puts 1\rputs "second line"\r');
    m.output('puts 1\r\n1\r\n');
    // 4 MiB of the program's own output before the next echo, then the echo split mid-word.
    for (let i = 0; i < 1024; i++) m.output(`${'x'.repeat(4095)}\n`);
    m.output('irb> puts "sec');
    m.output('ond line"\r\nsecond line\r\n');
    await settle();
    expect(masked).toBe(0);
    expect(recorded.join('')).toBe('puts 1\rputs "second line"\r');
  });

  it('property: lines echoed in order are found whatever the chunking of the output', async () => {
    const runs = Number(process.env.FUZZ_RUNS ?? 2000);
    const line = fc.stringMatching(/^[ -~]{1,40}$/);
    await fc.assert(
      fc.asyncProperty(fc.array(line, { minLength: 2, maxLength: 8 }), fc.array(fc.integer({ min: 1, max: 30 }), { minLength: 1, maxLength: 40 }), async (ls, cuts) => {
        const recorded: string[] = [];
        let masked = 0;
        const m = new EchoMask({ input: (d) => recorded.push(d), masked: (n) => (masked += n) }, 50);
        const typed = `${ls.join('\r')}\r`;
        m.input(typed);
        let out = ls.map((l) => `${l}\r\n> `).join('');
        for (const n of cuts) {
          m.output(out.slice(0, n));
          out = out.slice(n);
        }
        if (out) m.output(out);
        const done = masked === 0 && recorded.join('') === typed;
        m.flush();
        return done;
      }),
      { numRuns: runs },
    );
  }, 60_000);

  it('property: any lines echoed in order between any other output are recorded whole; a single line not echoed in place is masked', async () => {
    const runs = Number(process.env.FUZZ_RUNS ?? 2000);
    const line = fc.stringMatching(/^[ -~]{1,40}$/);
    await fc.assert(
      fc.asyncProperty(fc.array(line, { minLength: 2, maxLength: 12 }), fc.array(fc.stringMatching(/^[a-z>$ ]{0,12}$/), { minLength: 12, maxLength: 12 }), async (ls, between) => {
        const recorded: string[] = [];
        let masked = 0;
        const m = new EchoMask({ input: (d) => recorded.push(d), masked: (n) => (masked += n) }, 50);
        const typed = `${ls.join('\r')}\r`;
        m.input(typed);
        ls.forEach((l, i) => m.output(`${l}\r\n${between[i]}`));
        // Every line's echo has arrived: released at once, nothing left to decide.
        const done = masked === 0 && recorded.join('') === typed;
        m.flush();
        return done;
      }),
      { numRuns: runs },
    );
    await fc.assert(
      fc.asyncProperty(fc.stringMatching(/^[A-Za-z0-9]{6,24}$/), fc.stringMatching(/^[a-z ]{0,30}$/), async (secret, other) => {
        fc.pre(!other.includes(secret));
        const recorded: string[] = [];
        const m = new EchoMask({ input: (d) => recorded.push(d), masked: () => undefined }, 30);
        m.input(`${secret}\r`);
        m.output(`${other}\r\n`);
        m.flush();
        return !recorded.join('').includes(secret);
      }),
      { numRuns: runs },
    );
  }, 60_000);
});
