// End reasons: one typed list, each with the sentence users and auditors read and the exit
// status the SSH door will report (the process's own when it exited).
import { describe, expect, it } from 'vitest';
import { endExitStatus, endMessage, type EndReason } from '../server/consoles/index.js';

describe('end reasons', () => {
  it('say why in words and map to an exit status', () => {
    const cases: Array<[EndReason, string, number]> = [
      [{ code: 'idle_timeout' }, 'idle timeout', 124],
      [{ code: 'max_duration' }, 'maximum duration reached', 124],
      [{ code: 'grant_ended', status: 'revoked' }, 'grant revoked', 252],
      [{ code: 'terminated', by: 'dave', reason: 'leaked a secret' }, 'terminated by dave: leaked a secret', 251],
      [{ code: 'terminated', by: 'dave', reason: '' }, 'terminated by dave', 251],
      [{ code: 'broker_lost', broker: 'b-7f3' }, 'broker b-7f3 stopped answering', 253],
      [{ code: 'recording_failed' }, 'recording failed', 254],
      [{ code: 'failed_to_start', error: 'IMAGE_NOT_FOUND' }, 'failed to start: IMAGE_NOT_FOUND', 250],
    ];
    for (const [reason, message, status] of cases) {
      expect(endMessage(reason)).toBe(message);
      expect(endExitStatus(reason, null)).toBe(status);
    }
  });

  it("report the process's own exit status when it exited, and only then", () => {
    expect(endExitStatus({ code: 'process_exited' }, 7)).toBe(7);
    expect(endExitStatus({ code: 'process_exited' }, null)).toBe(0);
    expect(endExitStatus({ code: 'idle_timeout' }, 0)).toBe(124);
  });
});
