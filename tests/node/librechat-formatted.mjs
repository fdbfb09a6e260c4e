// Prints what LibreChat makes of one MCP tool result (the JSON file FILE, as the SDK returns it):
// [text for the model, artifacts], through the port in librechat-format.mjs, checked first
// against LibreChat's published test cases.
// Usage: node librechat-formatted.mjs FILE
import { readFileSync } from "node:fs";
import { formatToolContent, selfCheck } from "./librechat-format.mjs";

selfCheck();
console.log(JSON.stringify(formatToolContent(JSON.parse(readFileSync(process.argv[2], "utf8")))));
