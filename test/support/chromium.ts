// Real headless Chromium (Debian's package) driven by playwright-core, for end-to-end tests.
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = process.env.SALLYPORT_CHROMIUM ?? '/usr/bin/chromium';

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-quic',
      '--no-first-run',
    ],
  });
}
