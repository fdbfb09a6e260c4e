// What a model behind LibreChat reads of an MCP tool result. LibreChat's formatter
// (formatToolContent, packages/api/src/mcp/parsers.ts) is not published on npm (@librechat/api is
// not), so this is a port of the part our results meet, for a recognized provider such as openai:
// text blocks joined by blank lines; images moved out as image_url artifacts; an embedded resource
// as "Resource Text/URI/MIME Type" lines; any other block (a resource_link) JSON-stringified with
// two-space indentation; no blocks at all: the structured content as indented JSON, else
// "(No response)". `selfCheck` runs LibreChat's own published test cases for those paths
// (packages/api/src/mcp/__tests__/parsers.test.ts) against the port.
import assert from "node:assert/strict";

export function formatToolContent(result) {
  const content = result?.content ?? [];
  if (!content.length) {
    const structured = result?.structuredContent;
    return [structured != null && typeof structured === "object" ? JSON.stringify(structured, null, 2) : "(No response)", undefined];
  }
  const blocks = [];
  const images = [];
  for (const item of content) {
    if (item.type === "text") {
      blocks.push(item.text);
    } else if (item.type === "image") {
      const remote = item.data.startsWith("http://") || item.data.startsWith("https://");
      images.push({ type: "image_url", image_url: { url: remote ? item.data : `data:${item.mimeType};base64,${item.data}` } });
    } else if (item.type === "resource") {
      const lines = [];
      if (item.resource.text) lines.push(`Resource Text: ${item.resource.text}`);
      if (item.resource.uri) lines.push(`Resource URI: ${item.resource.uri}`);
      if (item.resource.mimeType) lines.push(`Resource MIME Type: ${item.resource.mimeType}`);
      if (lines.length) blocks.push(lines.join("\n"));
    } else {
      blocks.push(JSON.stringify(item, null, 2));
    }
  }
  const artifacts = images.length ? { content: images } : undefined;
  const text = blocks.join("\n\n");
  return [text || (artifacts !== undefined ? "" : "(No response)"), artifacts];
}

export function selfCheck() {
  const cases = [
    [{ content: [{ type: "text", text: "First text" }, { type: "text", text: "Second text" }] },
      ["First text\n\nSecond text", undefined]],
    [{ content: [{ type: "text", text: "Before image" }, { type: "image", data: "base64data", mimeType: "image/png" },
                 { type: "text", text: "After image" }] },
      ["Before image\n\nAfter image", { content: [{ type: "image_url", image_url: { url: "data:image/png;base64,base64data" } }] }]],
    [{ content: [] }, ["(No response)", undefined]],
    [{ content: [{ type: "image", data: "https://example.com/image.png", mimeType: "image/png" }] },
      ["", { content: [{ type: "image_url", image_url: { url: "https://example.com/image.png" } }] }]],
    [{ content: [{ type: "resource", resource: { uri: "file://document.pdf", mimeType: "application/pdf", text: "Document content" } }] },
      ["Resource Text: Document content\nResource URI: file://document.pdf\nResource MIME Type: application/pdf", undefined]],
    [{ content: [{ type: "resource", resource: { uri: "https://example.com/resource", text: "" } }] },
      ["Resource URI: https://example.com/resource", undefined]],
    [{ content: [{ type: "text", text: "Normal text" }, { type: "unknown", data: "some data" }] },
      ["Normal text\n\n" + JSON.stringify({ type: "unknown", data: "some data" }, null, 2), undefined]],
  ];
  for (const [result, expected] of cases) assert.deepEqual(formatToolContent(result), expected);
  return cases.length;
}
