// One contract: the SDK's types are generated from the server's OpenAPI document, and this test
// fails when they disagree: the checked-in sdk/src/openapi.ts must be what `npm run gen:sdk`
// writes from the current route tables, and sdk/src/contract-check.ts (type equalities between
// the SDK's exported types and call results and the generated ones) must compile.
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { GENERATED_PATH, generateSdkTypes, openApiDocument } from '../../sdk/generate.js';

const run = promisify(execFile);
const ROOT = new URL('../../', import.meta.url).pathname;
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');

/** tsc over an SDK source folder; resolves to its diagnostics (empty when it compiles). */
async function typecheck(project: string): Promise<string> {
  try {
    await run(process.execPath, [TSC, '--noEmit', '-p', project], { cwd: ROOT });
    return '';
  } catch (err) {
    return String((err as { stdout?: string }).stdout ?? err);
  }
}

describe('SDK contract', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'sdk-contract-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('checks in the types generated from the current OpenAPI document (else: npm run gen:sdk)', async () => {
    const generated = await generateSdkTypes();
    expect(generated.startsWith('// GENERATED FILE')).toBe(true);
    // toBe on the whole file would print 200 kB; compare, then show where it starts to differ.
    const current = readFileSync(GENERATED_PATH, 'utf8');
    if (current !== generated) {
      const at = [...generated].findIndex((c, i) => c !== current[i]);
      expect.fail(`sdk/src/openapi.ts is out of date (first difference at char ${at}: ${JSON.stringify(generated.slice(at, at + 120))}); run npm run gen:sdk`);
    }
  });

  it('names the shared resources as components, and every $ref resolves', () => {
    const doc = openApiDocument();
    const schemas = doc.components.schemas as Record<string, unknown>;
    for (const name of ['User', 'Workspace', 'Chat', 'MyChat', 'Message', 'Reaction', 'Attachment', 'Mention', 'Event', 'Error'])
      expect(schemas, name).toHaveProperty(name);
    const refs = JSON.stringify(doc).match(/"\$ref":"[^"]+"/g) ?? [];
    expect(refs.length).toBeGreaterThan(50);
    for (const ref of new Set(refs)) {
      const name = /^"\$ref":"#\/components\/schemas\/([^"]+)"$/.exec(ref)?.[1];
      expect(name && name in schemas, ref).toBe(true);
    }
    const message = doc.paths['/api/v1/messages/{mid}'].get as { responses: Record<number, { content: Record<string, { schema: unknown }> }> };
    expect(message.responses[200].content['application/json'].schema).toEqual({ $ref: '#/components/schemas/Message' });
  });

  it('compiles the SDK with its type-level contract checks', async () => {
    expect(await typecheck('sdk/tsconfig.json')).toBe('');
  }, 60_000);

  it('fails to compile when an SDK type drifts from the document', async () => {
    // The drift this test was written for: Message.client_id as nullable (the server never sends null).
    const src = join(scratch, 'src');
    cpSync(join(ROOT, 'sdk/src'), src, { recursive: true });
    const types = readFileSync(join(src, 'types.ts'), 'utf8');
    const drifted = types.replace(
      "export type Message = Schemas['Message'];",
      "export type Message = Omit<Schemas['Message'], 'client_id'> & { client_id: string | null };",
    );
    expect(drifted).not.toBe(types);
    writeFileSync(join(src, 'types.ts'), drifted);
    writeFileSync(
      join(scratch, 'tsconfig.json'),
      JSON.stringify({ extends: join(ROOT, 'sdk/tsconfig.json'), include: ['src'], compilerOptions: { rootDir: 'src', outDir: 'dist' } }),
    );
    const errors = await typecheck(join(scratch, 'tsconfig.json'));
    expect(errors).toMatch(/contract-check\.ts\(\d+,\d+\): error/);
  }, 60_000);
});
