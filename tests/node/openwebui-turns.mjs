// Logs into Open WebUI in headless Chromium, opens a new chat with one model, optionally attaches a
// file, and sends each message in turn, waiting for each turn to end: the model's reply shows ENDED,
// or Open WebUI notes "Tool-call limit reached"; opens every tool result and saves a screenshot.
// Prints one JSON object: the chat's id, whether each turn ended, and the page's text.
// Usage: node openwebui-turns.mjs BASE_URL EMAIL PASSWORD MODEL SCREENSHOT FILE|- ENDED MESSAGE...
import { chromium } from "playwright-core";

const [base, email, password, model, screenshot, file, ended_by, ...messages] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
const result = { loggedIn: false, attached: false, turns: [], chat: null, text: "" };
const endings = page.getByText(new RegExp(`Tool-call limit reached|${ended_by}`));
try {
  await page.goto(`${base}/auth`, { waitUntil: "domcontentloaded", timeout: 120_000 });
  await page.locator('input[type="email"]').fill(email, { timeout: 120_000 });
  await page.locator('input[type="password"]').fill(password);
  await page.locator('button[type="submit"]').click();
  await page.locator("#chat-input").waitFor({ timeout: 120_000 });
  await page.goto(`${base}/?models=${encodeURIComponent(model)}`, { waitUntil: "domcontentloaded" });
  const input = page.locator("#chat-input");
  await input.waitFor({ timeout: 120_000 });
  result.loggedIn = true;
  const notes = page.getByRole("button", { name: /Okay, Let's Go!/i });
  if (await notes.isVisible().catch(() => false)) await notes.click();
  if (file !== "-") {
    await page.locator('input[type="file"]').first().setInputFiles(file);
    const name = file.split("/").pop();
    await page.getByText(name, { exact: false }).first().waitFor({ timeout: 120_000 });
    // Uploaded, then read and embedded by Open WebUI itself: the chip spins until then.
    for (let tries = 0; tries < 60 && (await page.locator("#chat-input ~ * .animate-spin, .animate-spin").count()); tries++) {
      await page.waitForTimeout(2000);
    }
    result.attached = true;
  }
  for (const [turn, message] of messages.entries()) {
    await input.click();
    await page.keyboard.type(message);
    await page.keyboard.press("Enter");
    let ended = false;
    for (let tries = 0; tries < 200 && !ended; tries++) {
      await page.waitForTimeout(1500);
      ended = (await endings.count()) > turn;
    }
    result.turns.push(ended);
    if (!ended) break;
  }
  result.chat = page.url().split("/c/")[1] ?? null;
  // Open the calls and their results for the screenshot.
  for (const view of await page.getByText(/^View Result from /).all()) await view.click().catch(() => {});
  await page.waitForTimeout(1000);
  result.text = await page.locator("body").innerText();
} catch (error) {
  result.error = String(error);
  result.text = await page.locator("body").innerText().catch(() => "");
} finally {
  await page.screenshot({ path: screenshot, fullPage: true }).catch(() => {});
  await browser.close();
}
console.log(JSON.stringify(result));
