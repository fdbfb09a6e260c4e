// A model behind LibreChat reading a result too large for one message: the TypeScript SDK client
// LibreChat uses calls the tool, the port of LibreChat's formatter (librechat-format.mjs) makes
// the text the model reads, and read_more is called as that text says until it says no more.
// Usage: node librechat-read-on.mjs URL TOOL ARGUMENTS_JSON ; prints one JSON object: the formatter's
// self-check count, the tools listed, and each turn's formatted text.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { formatToolContent, selfCheck } from "./librechat-format.mjs";

const [url, tool, argsJson] = process.argv.slice(2);
const seen = { checked: selfCheck(), turns: [] };
const client = new Client({ name: "librechat-stand-in", version: "1.0.0" });
await client.connect(new StreamableHTTPClientTransport(new URL(url)));
seen.tools = (await client.listTools()).tools.map((t) => t.name);
let call = { name: tool, arguments: JSON.parse(argsJson) };
while (call && seen.turns.length < 50) {
  const result = await client.callTool(call);
  const [text, artifacts] = formatToolContent(result);
  seen.turns.push({ isError: result.isError ?? false, text, images: artifacts?.content?.length ?? 0 });
  const next = text.match(/read_more tool: result "([^"]+)", part (\d+)/);
  call = next ? { name: "read_more", arguments: { result: next[1], part: Number(next[2]) } } : null;
}
await client.close();
console.log(JSON.stringify(seen));
