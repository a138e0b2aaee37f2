// Real headless Chromium (Debian's package) driven by playwright-core, for end-to-end tests.
import { chromium, type Browser, type Page } from 'playwright-core';

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

/** Signs in on the dev IdP's form the page is showing, as one of the test broker's users. */
export async function signInAs(page: Page, users: ReadonlyArray<{ username: string; password: string }>, username: string): Promise<void> {
  await page.fill('#username', username);
  await page.fill('#password', users.find((u) => u.username === username)!.password);
  await page.click('#sign-in');
}
