// Logs into Open WebUI, asks one question in a new chat, waits for the answer and the tool call it
// shows, opens the tool call and the sources under the answer, and saves a screenshot. Prints one
// JSON object: what the page showed.
// Usage: node openwebui-chat.mjs BASE_URL EMAIL PASSWORD QUESTION TOOL FACT SCREENSHOT SOURCE
import { dismissNotes, inBrowser } from "./openwebui-browser.mjs";

const [base, email, password, question, tool, fact, screenshot, source] = process.argv.slice(2);
const result = { toolShown: false, factShown: false, sourcesShown: false, sourceNamed: false };
await inBrowser({ base, email, password, screenshot, result }, async (page) => {
  await dismissNotes(page);
  await page.locator("#chat-input").click();
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
  result.factShown = (await page.locator("body").innerText()).includes(fact);
});
