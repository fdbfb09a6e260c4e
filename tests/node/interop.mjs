// Lists and calls tools on a toolpark HTTP endpoint with the official TypeScript SDK client,
// the way LibreChat connects (StreamableHTTPClientTransport with custom headers).
// Usage: node interop.mjs URL ; prints one JSON object with what it saw.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const url = new URL(process.argv[2]);
const headers = { "X-User-ID": "user-42", "X-Trace": "trace-7" };
const transport = new StreamableHTTPClientTransport(url, { requestInit: { headers } });
const client = new Client({ name: "toolpark-interop", version: "1.0.0" });
await client.connect(transport);

const tools = await client.listTools();
const echo = await client.callTool({ name: "echo", arguments: { text: "from typescript", repeat: 2 } });
const seen = await client.callTool({ name: "echo_headers", arguments: { names: ["X-User-ID", "X-Trace"] } });
const bad = await client.callTool({ name: "echo", arguments: { repeat: "many" } });

console.log(JSON.stringify({
  protocolVersion: transport.protocolVersion,
  sessionId: transport.sessionId ?? null,
  tools: tools.tools.map((t) => t.name),
  echo: echo.structuredContent,
  headers: seen.structuredContent,
  bad: { isError: bad.isError, text: bad.content[0].text },
}));
await client.close();
