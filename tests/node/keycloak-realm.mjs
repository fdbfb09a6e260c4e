// Type-checks a Keycloak realm import (JSON file given as argument) against Keycloak's own
// RealmRepresentation from @keycloak/keycloak-admin-client, with the TypeScript compiler:
// an object literal assigned to that interface fails on any key Keycloak does not know and on
// any value of the wrong type. Prints the compiler's diagnostics; exits 1 when there are any.
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import ts from "typescript";

const realm = readFileSync(process.argv[2], "utf8");
const dir = mkdtempSync(join(process.cwd(), ".realm-check-"));
const file = join(dir, "realm.ts");
writeFileSync(
  file,
  `import type RealmRepresentation from "@keycloak/keycloak-admin-client/lib/defs/realmRepresentation.js";\n` +
    `export const realm: RealmRepresentation = ${realm};\n`,
);
try {
  const program = ts.createProgram([file], {
    noEmit: true, strict: true, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022, skipLibCheck: true,
  });
  const diagnostics = ts.getPreEmitDiagnostics(program);
  for (const d of diagnostics) console.log(ts.flattenDiagnosticMessageText(d.messageText, "\n"));
  process.exitCode = diagnostics.length ? 1 : 0;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
