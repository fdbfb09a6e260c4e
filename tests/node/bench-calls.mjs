// Times tool calls through the official TypeScript SDK client, the client LibreChat uses (its
// output-schema validation is compiled by ajv, where the Python SDK client runs jsonschema).
// Usage: node bench-calls.mjs URL < calls.json   where calls.json is [{"name", "arguments"}, ...];
// prints a JSON array of milliseconds, one per call, after one untimed warm-up call.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const calls = JSON.parse(await new Promise((resolve) => {
  let text = "";
  process.stdin.on("data", (chunk) => (text += chunk));
  process.stdin.on("end", () => resolve(text));
}));
const client = new Client({ name: "toolpark-bench", version: "1.0.0" });
await client.connect(new StreamableHTTPClientTransport(new URL(process.argv[2])));
await client.listTools(); // as LibreChat does on connect; also caches the output validators
await client.callTool(calls[0]);
const times = [];
for (const call of calls) {
  const started = performance.now();
  const result = await client.callTool(call);
  times.push(performance.now() - started);
  if (result.isError) throw new Error(`${call.name} failed: ${JSON.stringify(result.content)}`);
}
console.log(JSON.stringify(times));
await client.close();
