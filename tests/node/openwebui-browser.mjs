// One signed-in Open WebUI page in headless Chromium (Debian's, driven by playwright-core), for the
// browser tests' scripts: `inBrowser` logs in, runs `steps(page)`, and whatever happens, records
// the page's text, saves a full-page screenshot and prints `result` as one JSON line.
import { chromium } from "playwright-core";

export async function inBrowser({ base, email, password, screenshot, result }, steps) {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    // The machine's network is closed: Chromium's own background traffic would only fail.
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
           "--disable-component-update", "--disable-sync"],
  });
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  Object.assign(result, { loggedIn: false, text: "" });
  try {
    await page.goto(`${base}/auth`, { waitUntil: "domcontentloaded", timeout: 120_000 });
    await page.locator('input[type="email"]').fill(email, { timeout: 120_000 });
    await page.locator('input[type="password"]').fill(password);
    await page.locator('button[type="submit"]').click();
    await page.locator("#chat-input").waitFor({ timeout: 120_000 });
    result.loggedIn = true;
    await steps(page);
    result.text = await page.locator("body").innerText();
  } catch (error) {
    result.error = String(error);
    result.text = await page.locator("body").innerText().catch(() => "");
  } finally {
    await page.screenshot({ path: screenshot, fullPage: true }).catch(() => {});
    await browser.close();
  }
  console.log(JSON.stringify(result));
}

// The release notes greet a new account; they cover the chat until dismissed.
export async function dismissNotes(page) {
  const notes = page.getByRole("button", { name: /Okay, Let's Go!/i });
  if (await notes.isVisible().catch(() => false)) await notes.click();
}
