// Logs into Open WebUI, opens a new chat with one model, optionally attaches a file, and sends each
// message in turn, waiting for each turn to end: the model's reply shows ENDED, or Open WebUI notes
// "Tool-call limit reached"; opens every tool result and saves a screenshot. Prints one JSON
// object: the chat's id, whether each turn ended, and the page's text.
// Usage: node openwebui-turns.mjs BASE_URL EMAIL PASSWORD MODEL SCREENSHOT FILE|- ENDED MESSAGE...
import { dismissNotes, inBrowser } from "./openwebui-browser.mjs";

const [base, email, password, model, screenshot, file, endedBy, ...messages] = process.argv.slice(2);
const result = { attached: false, turns: [], chat: null };
await inBrowser({ base, email, password, screenshot, result }, async (page) => {
  await page.goto(`${base}/?models=${encodeURIComponent(model)}`, { waitUntil: "domcontentloaded" });
  const input = page.locator("#chat-input");
  await input.waitFor({ timeout: 120_000 });
  await dismissNotes(page);
  if (file !== "-") {
    await page.locator('input[type="file"]').first().setInputFiles(file);
    await page.getByText(file.split("/").pop(), { exact: false }).first().waitFor({ timeout: 120_000 });
    // Uploaded, then read and embedded by Open WebUI itself: the chip spins until then.
    for (let tries = 0; tries < 60 && (await page.locator(".animate-spin").count()); tries++) {
      await page.waitForTimeout(2000);
    }
    result.attached = true;
  }
  const endings = page.getByText(new RegExp(`Tool-call limit reached|${endedBy}`));
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
});
