// The Docker engine as tests see it: the containers one broker has on it.
import { execFileSync } from 'node:child_process';
import { expect } from 'vitest';
import { LABEL_BROKER } from '../../server/runtime/index.js';

export function brokerContainers(brokerId: string): string[] {
  return execFileSync('docker', ['ps', '-aq', '--filter', `label=${LABEL_BROKER}=${brokerId}`], { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean);
}

/** Waits up to `ms` for the broker's containers to be gone, then asserts they are. */
export async function expectNoContainers(brokerId: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (brokerContainers(brokerId).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  expect(brokerContainers(brokerId)).toEqual([]);
}
