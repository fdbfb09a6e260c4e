// Logs into Open WebUI in headless Chromium (Debian's, driven by playwright-core), asks one
// question in a new chat, waits for the answer and the tool call it shows, opens the tool call
// and the sources under the answer, and saves a screenshot. Prints one JSON object: what the page showed.
// Usage: node openwebui-chat.mjs BASE_URL EMAIL PASSWORD QUESTION TOOL FACT SCREENSHOT SOURCE
import { chromium } from "playwright-core";

const [base, email, password, question, tool, fact, screenshot, source] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  // The machine's network is closed: Chromium's own background traffic would only fail.
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
const result = { loggedIn: false, toolShown: false, factShown: false, sourcesShown: false, sourceNamed: false, text: "" };
try {
  await page.goto(`${base}/auth`, { waitUntil: "domcontentloaded", timeout: 120_000 });
  await page.locator('input[type="email"]').fill(email, { timeout: 120_000 });
  await page.locator('input[type="password"]').fill(password);
  await page.locator('button[type="submit"]').click();
  const input = page.locator("#chat-input");
  await input.waitFor({ timeout: 120_000 });
  result.loggedIn = true;
  // The release notes greet a new account; they cover the chat until dismissed.
  const notes = page.getByRole("button", { name: /Okay, Let's Go!/i });
  if (await notes.isVisible().catch(() => false)) await notes.click();
  await input.click();
  await page.keyboard.type(question);
  await page.keyboard.press("Enter");
  const call = page.getByText(tool, { exact: false }).first();
  await call.waitFor({ timeout: 600_000 });
  result.toolShown = true;
  // The calls are grouped ("Exploring 2 retrieval_search"); once the result is in, open the
  // group, then the result, until the fact shows (or five minutes pass).
  const view = page.getByText(`View Result from ${tool}`).first();
  const shown = page.getByText(fact, { exact: false }).first();
  for (let tries = 0; tries < 100 && !(await shown.isVisible()); tries++) {
    if (await view.isVisible()) await view.click().catch(() => {});
    else await call.click().catch(() => {});
    await page.waitForTimeout(3000);
  }
  await page.waitForTimeout(1000); // the result panel slides open
  // Under the answer: Open WebUI's sources button ("1 Source"), which lists them when opened.
  const sources = page.getByRole("button", { name: /^Toggle (1 source|\d+ sources)$/i }).last();
  await sources.waitFor({ timeout: 120_000 });
  result.sourcesShown = true;
  await sources.click();
  const named = page.getByRole("button", { name: `View source: 1 ${source}` }).last();
  await named.waitFor({ timeout: 30_000 });
  result.sourceNamed = true;
  await named.click(); // the source's own panel: its passages, as Open WebUI shows its document search's
  await page.waitForTimeout(1000);
  result.text = await page.locator("body").innerText();
  result.factShown = result.text.includes(fact);
} catch (error) {
  result.error = String(error);
  result.text = await page.locator("body").innerText().catch(() => "");
} finally {
  await page.screenshot({ path: screenshot, fullPage: true }).catch(() => {});
  await browser.close();
}
console.log(JSON.stringify(result));
