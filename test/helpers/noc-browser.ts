// Debian's headless Chromium driven by playwright-core, for the tests of the NOC web page: one
// launch and one page whose uncaught errors and console errors a test collects and finally asserts
// empty (the 401s of "not logged in yet" and a wrong password are expected: the browser logs every
// non-2xx answer).
import { chromium, type Browser, type BrowserContextOptions, type Page } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
}

/** A browser and an en-GB page of the given size; page errors and console errors go into `pageErrors`. */
export async function openNocPage(
  pageErrors: string[],
  opts: { viewport: { width: number; height: number }; timeoutMs: number; timezoneId?: string },
): Promise<{ browser: Browser; page: Page }> {
  const browser = await launchChromium();
  const context: BrowserContextOptions = { viewport: opts.viewport, locale: 'en-GB', ...(opts.timezoneId ? { timezoneId: opts.timezoneId } : {}) };
  const page = await browser.newPage(context);
  page.setDefaultTimeout(opts.timeoutMs);
  page.on('pageerror', (e) => pageErrors.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of 401/.test(m.text())) pageErrors.push(`console: ${m.text()}`);
  });
  return { browser, page };
}
