// Generates sdk/src/openapi.ts (the SDK's wire types) from the server's OpenAPI document, built
// in-process from the route tables: `npm run gen:sdk`. test/unit/sdk-contract.test.ts regenerates
// it and fails when the checked-in file differs, so a server change must come with a regeneration.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import openapiTS, { astToString } from 'openapi-typescript';
import { buildOpenApi } from '../src/api/openapi.js';
import { apiRoutes } from '../src/api/routes/index.js';
import { opsRoutes } from '../src/api/routes/ops.js';
import type { Deps } from '../src/deps.js';
import { version } from '../src/version.js';

export const GENERATED_PATH = fileURLToPath(new URL('./src/openapi.ts', import.meta.url));

const HEADER = `// GENERATED FILE, do not edit. The server's OpenAPI document (src/api/openapi.ts, from the route
// tables in src/api/routes) turned into types by openapi-typescript: run \`npm run gen:sdk\`.
// test/unit/sdk-contract.test.ts fails when this file is out of date.
/* eslint-disable */
`;

/** The document served at /api/v1/openapi.json. Route tables only read deps in their handlers. */
export function openApiDocument() {
  return buildOpenApi(
    [
      { prefix: '', specs: opsRoutes([], undefined) },
      { prefix: '/api/v1', specs: apiRoutes({} as Deps) },
    ],
    version,
  );
}

/**
 * The published document repeats the error schema inline on every error response (clients read it
 * there); for the types, each copy becomes a reference to the Error component, so the file stays
 * small and every error is the same named type.
 */
function referenceErrors(doc: ReturnType<typeof openApiDocument>) {
  const error = JSON.stringify(doc.components.schemas.Error);
  const copy = structuredClone(doc) as {
    paths: Record<string, Record<string, { responses?: Record<string, { content?: Record<string, { schema: unknown }> }> }>>;
  };
  for (const item of Object.values(copy.paths)) {
    for (const operation of Object.values(item)) {
      for (const response of Object.values(operation.responses ?? {})) {
        const json = response.content?.['application/json'];
        if (json && JSON.stringify(json.schema) === error) json.schema = { $ref: '#/components/schemas/Error' };
      }
    }
  }
  return copy;
}

export async function generateSdkTypes(): Promise<string> {
  const ast = await openapiTS(referenceErrors(openApiDocument()) as never, { silent: true, alphabetize: false });
  return HEADER + astToString(ast);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(GENERATED_PATH, await generateSdkTypes());
  console.log(`wrote ${GENERATED_PATH}`);
}
